"""Forecasting: the next H values of a series from its last L, by a sequence encoder and a
linear head, trained on windows of the series' past (split by rolling origin, see
:mod:`transferkit.data.forecasting`).

Each window is scaled by its own context (instance normalisation); the head predicts the
H scaled values as corrections of the context's seasonal-naive forecast (an untrained
head forecasts seasonal naive) -- or Q quantiles of each (pinball loss; default
0.1 / 0.5 / 0.9, so every forecast has an 80 % interval) -- and metrics and predictions put
them back into the series' units with the window's anchor, mean and standard deviation. Losses: ``quantile``
(default), ``mae`` or ``mse``, on the scaled values. Metrics: MASE (the loop selects on
validation MASE), sMAPE, MAE, RMSE, per series and over all test windows, and the
interval's coverage. Baselines: naive, seasonal naive and the context mean -- and the
packaged Fracast-0 model zero-shot when ``fracast`` is installed -- each with a paired
bootstrap of the MASE difference over the test windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.options import Options, option
from transferkit.tasks import TASKS
from transferkit.tasks._base import Accumulator, Task, with_l2_sp
from transferkit.tasks._forecast_metrics import (
    forecast_metrics,
    plain_forecasts,
    split_targets,
    unscale,
    window_mase,
)
from transferkit.tasks._forecast_ridge import SHRINK_GRID  # kept fractions of the correction

#: the model's test MASE must beat the seasonal-naive forecast's by this much, or the
#: floor warning is given
FLOOR_MARGIN = 0.0


def _solved(head: Any) -> dict[str, Any] | None:
    """The ridge's info for a head it solved and nothing trained since, else None."""
    solved = getattr(head, "forecast_solved", None)
    if solved is None or not torch.equal(solved[0], head.weight.detach()):
        return None
    return solved[1]


@dataclass
class ForecastingConfig(Options):
    """Parameters of the forecasting task (H, L, m and the origins are data parameters:
    --horizon, --context, --season, --origins, --stride, --history)."""

    loss: str = option("quantile", "Training loss on the window-scaled values: 'quantile' (pinball "
                       "loss on the quantiles below: forecasts with intervals), 'mae' or 'mse'.",
                       choices=("quantile", "mae", "mse"))
    quantiles: list[float] = option(factory=lambda: [0.1, 0.5, 0.9],
                                    help="Quantiles the 'quantile' loss forecasts (the 0.5 one is the "
                                    "point forecast; the outer two make the interval).")

    def __post_init__(self) -> None:
        from transferkit.errors import ConfigError

        super().__post_init__()
        qs = [float(q) for q in self.quantiles]
        if not qs or any(not 0 < q < 1 for q in qs) or qs != sorted(set(qs)) or 0.5 not in qs:
            raise ConfigError("The 'quantiles' parameter of the forecasting task must be increasing "
                              f"numbers in (0, 1) that include 0.5. Got {self.quantiles!r} instead.")
        self.quantiles = qs


def pinball(pred: torch.Tensor, z: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Pinball loss per value: ``max(q (z - f), (q - 1)(z - f))``; (B, H, Q), (B, H), (Q,) -> (B, H, Q)."""
    diff = z.unsqueeze(-1) - pred
    return torch.maximum(quantiles * diff, (quantiles - 1.0) * diff)


class ForecastObjective(nn.Module):
    """The task's loss on the scaled targets (missing targets left out) + L2-SP."""

    def __init__(self, forward: Callable[[nn.Module, Any], torch.Tensor], task: ForecastingTask,
                 l2_sp: Any = None) -> None:
        super().__init__()
        self.forward_fn, self.task, self.l2_sp = forward, task, l2_sp

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, y = batch
        out = self.forward_fn(model, inputs).float()
        loss = self.task.example_loss(out, y).mean()
        logs = {self.task.config.loss: float(loss.detach())}
        return with_l2_sp(loss, logs, self.l2_sp)


class ForecastAccumulator(Accumulator):
    """Validation loss (as in training) and MASE, sMAPE, MAE, RMSE in the series' units."""

    def __init__(self, task: ForecastingTask) -> None:
        self.task = task
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.outputs.append(outputs.detach().float().cpu())
        self.targets.append(targets.detach().float().cpu())

    def compute(self) -> dict[str, float]:
        if not self.targets:
            return {}
        out, y = torch.cat(self.outputs), torch.cat(self.targets)
        loss = float(self.task.example_loss(out, y).mean())
        metrics = forecast_metrics(y.double().numpy(), self.task.postprocess(out).numpy(),
                                   self.task.point_quantiles())
        return {"loss": loss, **{k: v for k, v in metrics.items() if isinstance(v, float)}}


@TASKS.register("forecasting", config=ForecastingConfig,
                help="Forecasting: the next H values of series from their last L (windows split by "
                "rolling origin; selects on MASE).")
class ForecastingTask(Task):
    """Next H values (or quantiles of each) from a window of L, scaled per window."""

    name = "forecasting"
    selection_metric = "mase"
    directions = {"mase": "min", "smape": "min", "mae": "min", "rmse": "min", "loss": "min"}
    tie_break = ("loss",)
    gain_metric = "mase"
    gain_label = "MASE"
    shots_meaning = ("not used: forecasting counts observed values; --history N trains on the last N "
                     "values of each series")
    targets = "windows"
    #: the linear path (a window's last L values, ridge in closed form): on TS2 ahead of
    #: ``sequence:cnn`` on 4 of 6 built-ins in seconds (benchmarks/results/ts2_forecasting.md)
    default_backbone = "lags"
    #: the packaged pretrained forecaster, probed: on TS2 ahead of ``lags`` on airline and
    #: m1-yearly, behind on lynx and shampoo-sales (benchmarks/results/ts2_fracast.md).
    #: ``lags+fracast``: Fracast-0 beside the lags, the ridge can shrink towards its forecast
    #: (below seasonal naive on all six TS2 sets, benchmarks/results/ts2_seasonal_mean.md)
    pool_backbones = ("fracast", "lags+fracast")

    def __init__(self, config: ForecastingConfig | None = None) -> None:
        super().__init__(config if config is not None else ForecastingConfig())

    def point_quantiles(self) -> list[float] | None:
        """The quantile levels of the outputs (None: one point forecast per step)."""
        return list(self.config.quantiles) if self.config.loss == "quantile" else None

    def n_outputs(self) -> int:
        return len(self.config.quantiles) if self.config.loss == "quantile" else 1

    # ------------------------------------------------------------------ targets
    def output_dim(self, data: Any) -> int:
        return split_targets(np.asarray(data.y)[:1])[0].shape[1] * self.n_outputs()

    def describe_targets(self, data: Any) -> dict[str, Any]:
        plan = dict((data.meta or {}).get("forecast") or {})
        plan.pop("mase_scales", None)
        return {"classes": [], "forecast": {**plan, "quantiles": self.point_quantiles(),
                                            "loss": self.config.loss}}

    def labels_used(self, splits: Any) -> dict[str, int]:
        """Observed target values the fit read: those inside the training windows (context or
        target, each value once) and the validation windows' targets."""
        return {"train": int(splits.train.meta.get("observed_used", 0)),
                "val": int(splits.train.meta.get("val_observed", 0))}

    def probe_score(self, model: nn.Module, val_metric: float) -> float:
        """A probe the ridge solved (and nothing trained since) is compared by the MASE it was
        chosen on: the validation windows **and** the rolling origins inside the training
        history, the same windows for every backbone on the same data. On solar the 2
        validation windows alone preferred MiniRocket's probe (seasonal naive, pooled MASE
        2.271) over the lags' 2-day mean (1.406)."""
        info = _solved(getattr(model, "head", None))
        return float(info["score"]) if info is not None and info.get("score") is not None else val_metric

    def ladder_examples(self, train: Any) -> tuple[int, int, str]:
        """Training windows overlap (stride 1): ``auto``'s ladder counts the non-overlapping
        ones, the observed values they read over ``L + H`` -- a single series of a few
        hundred values holds a handful, too few to fine-tune a network end to end on (its
        probe is solved in closed form on every window, chosen on rolling origins)."""
        plan = (getattr(train, "meta", None) or {}).get("forecast") or {}
        span = int(plan.get("context", 0)) + int(plan.get("horizon", 0))
        observed = int((getattr(train, "meta", None) or {}).get("observed_used", 0))
        if span <= 0 or not observed:
            return len(train), 1, "training windows"
        return max(1, observed // span), 1, "non-overlapping training windows (observed values / (L + H))"

    # ------------------------------------------------------------------ model
    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        return ForecastObjective(forward, self, l2_sp)

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        q = self.n_outputs()
        out = outputs.float()
        y = targets.to(out.device, torch.float32)
        h = out.shape[1] // q
        z = y[:, :h]  # (B, H)
        keep = torch.isfinite(z)
        z = torch.where(keep, z, torch.zeros_like(z))
        pred = out.reshape(len(out), h, q)  # (B, H, Q)
        if self.config.loss == "quantile":
            levels = torch.tensor(self.config.quantiles, device=out.device, dtype=out.dtype)
            per = pinball(pred, z, levels).mean(-1)  # (B, H)
        elif self.config.loss == "mae":
            per = (pred[..., 0] - z).abs()
        else:
            per = (pred[..., 0] - z) ** 2
        per = torch.where(keep, per, torch.zeros_like(per))
        return per.sum(1) / keep.sum(1).clamp(min=1)  # (B,)

    def accumulator(self) -> Accumulator:
        return ForecastAccumulator(self)

    def rank_targets(self, y: np.ndarray) -> tuple[str, np.ndarray]:
        """The H scaled corrections of each window, as numbers (``rank`` scores them with the
        scores that rank numbers: LogME, mean evidence over the H steps); a missing target
        takes its step's mean."""
        z = split_targets(y)[0].copy()  # (N, H)
        with np.errstate(invalid="ignore"):
            means = np.nan_to_num(np.nanmean(np.where(np.isfinite(z), z, np.nan), axis=0))
        bad = ~np.isfinite(z)
        z[bad] = np.broadcast_to(means, z.shape)[bad]
        return "values", z

    def solve_head(self, head: nn.Module, x: np.ndarray, y: np.ndarray, train_cfg: Any,
                   seed: int = 0, val: tuple[np.ndarray, np.ndarray] | None = None,
                   solver: str = "lbfgs", backbone: Any = None) -> dict[str, Any] | None:
        """The linear probe in closed form, whatever convex solver the backbone asks for:
        ridge from the features to the H scaled corrections, its prior, L2 strength and
        shrinkage towards seasonal naive chosen together by rolling-origin validation (the
        validation origins + origins inside the training history), the outer quantiles from
        leave-one-out residuals (:func:`~transferkit.tasks._forecast_ridge.fit_forecast_ridge`).
        ``backbone`` (the one whose features ``x`` are, column for column): its declared
        forecast of the target channel (:meth:`forecast_columns`) is the "pretrained forecast"
        prior, its declared columns of the target's last values (:meth:`context_columns`)
        give the "seasonal mean" priors. None (SGD) when fewer than two training windows have all their targets."""
        from transferkit.tasks._forecast_ridge import PRIORS, fit_forecast_ridge

        if not isinstance(head, nn.Linear):
            return None
        forecast, why = self.forecast_columns(backbone, x.shape[1], split_targets(np.asarray(y)[:1])[0].shape[1])
        fitted = fit_forecast_ridge(x, y, self.point_quantiles(), val, forecast=forecast,
                                    context=self.context_columns(backbone, x.shape[1]))
        if fitted is None:
            return None
        w, b, info = fitted
        pretrained = [p for p in PRIORS if p.startswith("pretrained")]
        for prior in pretrained if why else ():  # why the backbone's forecast did not fit
            if prior in info["priors_skipped"]:
                info["priors_skipped"][prior] = why
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(w).float())
            head.bias.copy_(torch.from_numpy(b).float())
        head.forecast_shrink = info["shrink"]
        head.forecast_solved = (head.weight.detach().clone(), info)  # tune_head keeps its choice
        return info

    @staticmethod
    def forecast_columns(backbone: Any, dim: int, horizon: int) -> tuple[np.ndarray | None, str | None]:
        """(the H feature columns holding ``backbone``'s forecast of the target channel's next
        H values, or None; why not, when it has a forecast that does not fit). The units
        agree: every window reaches the backbone scaled by its context, channel by channel
        (``(v - mean) / std``), the target channel is channel 0, and the targets are the
        same channel's scaled values (minus the anchor); a backbone declares its forecast in
        the units it received (:meth:`~transferkit.backbones.base.Backbone.forecast_columns`)."""
        declared = getattr(backbone, "forecast_columns", None)
        cols = declared() if callable(declared) else None
        if cols is None:
            return None, None
        cols = np.asarray(cols, dtype=np.int64)
        name = getattr(backbone, "name", "the backbone")
        if int(getattr(backbone, "feature_dim", -1)) != dim:
            return None, (f"the head's features ({dim}) are not {name}'s own ({backbone.feature_dim}): "
                          "a mapping sits between them")
        if cols.ndim != 2 or not len(cols):
            return None, f"{name} declares its forecast columns as shape {cols.shape}, not (channels, steps)"
        if cols.shape[1] < horizon:
            return None, (f"{name} forecasts {cols.shape[1]} steps, fewer than the horizon ({horizon}); "
                          f"set --horizon {cols.shape[1]} or less to use its forecast as the prior")
        return cols[0, :horizon], None

    @staticmethod
    def context_columns(backbone: Any, dim: int) -> np.ndarray | None:
        """The L feature columns holding the target channel's (channel 0's) last L values, in
        the scaled units the targets share, or None: the backbone declares none
        (:meth:`~transferkit.backbones.base.Backbone.context_columns`), or a mapping sits
        between its features and the head's."""
        declared = getattr(backbone, "context_columns", None)
        cols = declared() if callable(declared) else None
        if cols is None or int(getattr(backbone, "feature_dim", -1)) != dim:
            return None
        cols = np.asarray(cols, dtype=np.int64)
        return cols[0] if cols.ndim == 2 and cols.shape[1] else None

    def tune_head(self, head: nn.Module, targets: np.ndarray | None,
                  outputs: np.ndarray | None) -> dict[str, Any] | None:
        """Shrink the learned correction towards seasonal naive: keep the fraction of
        :data:`SHRINK_GRID` with the lowest validation MASE (ties: the larger fraction), by
        moving every quantile of a step by ``-(1 - lambda)`` times that step's median
        correction (the interval keeps its width; lambda = 0 forecasts seasonal naive).
        Validation origins only; a linear head is rewritten in place. A head the ridge solved
        (and nothing trained since) keeps the fraction chosen with it on more origins."""
        if targets is None or outputs is None or not len(targets) or not isinstance(head, nn.Linear):
            return None
        info = _solved(head)
        if info is not None:
            return {"shrink": info["shrink"], "outputs_changed": False,
                    "sentence": f"kept {info['shrink']:.0%} of the learned correction of the seasonal-naive "
                                f"forecast, chosen with the ridge's prior and alpha on "
                                f"{info['alpha_chosen_on'].split(', prior')[0]}: MASE {info['score']:.3f}"}
        qs, q = self.point_quantiles(), self.n_outputs()
        out = np.asarray(outputs, dtype=np.float64)
        n, h = len(out), out.shape[1] // q
        mid = qs.index(0.5) if qs else 0
        per = out.reshape(n, h, q)
        scores = {}
        for lam in SHRINK_GRID:
            shrunk = (per - (1.0 - lam) * per[:, :, mid:mid + 1]).reshape(n, -1)
            actual, point, _, extra = unscale(targets, shrunk, qs)
            scores[lam] = float(np.nanmean(window_mase(actual, point, extra["mase_scale"])))
        lam = min(SHRINK_GRID, key=lambda v: (scores[v], -v))
        with torch.no_grad():
            w = head.weight.view(h, q, -1)  # (H, Q, D)
            w -= (1.0 - lam) * w[:, mid:mid + 1].clone()
            if head.bias is not None:
                b = head.bias.view(h, q)
                b -= (1.0 - lam) * b[:, mid:mid + 1].clone()
        head.forecast_shrink = lam
        return {"shrink": lam, "val_mase": {str(k): round(v, 4) for k, v in scores.items()},
                "outputs_changed": lam != 1.0,
                "sentence": f"kept {lam:.0%} of the learned correction of the seasonal-naive forecast "
                            f"(validation MASE {scores[lam]:.3f}; all of it: {scores[1.0]:.3f}; seasonal "
                            f"naive: {scores[0.0]:.3f})"}

    def describe_head(self, head: nn.Module) -> dict[str, Any]:
        lam = getattr(head, "forecast_shrink", None)
        return {} if lam is None else {"shrink": float(lam)}

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Scaled forecasts (B, H * Q), the quantiles of each step sorted (no crossing)."""
        q = self.n_outputs()
        out = outputs.float()
        if q > 1:
            out = out.reshape(len(out), -1, q).sort(dim=-1).values.reshape(len(out), -1)
        return out

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        plan = meta.get("forecast") or {}
        return forecast_metrics(targets, outputs, plan.get("quantiles", self.point_quantiles()),
                                plan.get("series"), detailed)

    def test_arrays(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray] | None:
        actual, point, qs, extra = unscale(targets, outputs, self.point_quantiles())
        return {"y": actual, "pred": point, "low": qs[:, :, 0], "high": qs[:, :, -1],
                "series": extra["series"], "origin": extra["origin"]}

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        return self.baselines_with_outputs(train, test)[0]

    def baselines_with_outputs(self, train: Any, test: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Naive, seasonal naive, the context mean and (when installed) Fracast-0 zero-shot,
        on the same test windows, as outputs in the model's layout (every quantile = the point)."""
        plan = train.meta.get("forecast") or {}
        z, _ = split_targets(test.y)
        h, q = z.shape[1], self.n_outputs()
        forecasts = plain_forecasts(test.x, h, int(plan.get("season", 1)))
        fracast = fracast_forecasts(test, h, self.point_quantiles())
        out: dict[str, Any] = {}
        outputs: dict[str, np.ndarray] = {}
        anchors = split_targets(test.y)[1]["anchor"]
        for name, f in forecasts.items():  # as corrections of the anchor, like the model's outputs
            outputs[name] = np.repeat((f - anchors)[:, :, None], q, axis=2).reshape(len(f), -1)
        if isinstance(fracast, str):
            out["fracast_zero_shot"] = {"skipped": fracast}
        else:
            outputs["fracast_zero_shot"] = fracast
        for name, o in outputs.items():
            out[name] = forecast_metrics(test.y, o, self.point_quantiles(), plan.get("series"))
            if name in forecasts:  # a point forecast has no interval to cover anything
                out[name].pop("coverage", None)
        return out, outputs

    def compare(self, targets: np.ndarray, outputs: np.ndarray, baseline_outputs: np.ndarray,
                meta: dict[str, Any], baseline: str = "scratch", seed: int = 0,
                wording: dict[str, str] | None = None) -> dict[str, Any] | None:
        """MASE gain (baseline's minus the model's) over the test windows: its p-value by the
        paired sign-flip permutation test (exact for up to 9 windows: 2 windows can never give
        p < 0.05), its CI by the paired bootstrap."""
        from transferkit.stats import LEVEL, paired_bootstrap, sign_flip_test, verdict

        qs = self.point_quantiles()
        actual, point_a, _, extra = unscale(targets, outputs, qs)
        _, point_b, _, _ = unscale(targets, baseline_outputs, qs)
        err_a = window_mase(actual, point_a, extra["mase_scale"])
        err_b = window_mase(actual, point_b, extra["mase_scale"])
        keep = np.isfinite(err_a) & np.isfinite(err_b)
        if keep.sum() < 2:
            return None
        boot = paired_bootstrap(lambda _y, e: -float(np.mean(e)), np.zeros(int(keep.sum())),
                                err_a[keep], err_b[keep], seed=seed)
        ci = (boot["ci_low"], boot["ci_high"])
        n = int(keep.sum())
        p = sign_flip_test(err_b[keep] - err_a[keep], seed=seed)
        kind, sentence = verdict(boot["diff"], ci, p, baseline=baseline, unit="MASE", scale=1.0,
                                 test=f"sign-flip test over {n} test windows", **(wording or {}))
        return {"baseline": baseline, "metric": "mase", "diff": boot["diff"], "ci": list(ci),
                "level": LEVEL, "p_value": p, "windows": n,
                "test": "paired sign-flip permutation test (MASE, windows); CI: paired bootstrap",
                "verdict": kind, "sentence": sentence}

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        """Below the floor when the test MASE is no better than the seasonal-naive forecast's;
        else a warning when Fracast zero-shot is ahead by its paired test."""
        mase = (metrics.get("test") or {}).get("mase")
        floor = (baselines.get("seasonal_naive") or {}).get("mase")
        if not isinstance(mase, float) or not isinstance(floor, float):
            return None
        if mase >= floor - FLOOR_MARGIN:
            return (f"below the floor: the test MASE {mase:.3f} is no better than the seasonal-naive "
                    f"forecast's ({floor:.3f}); do not use this model as is: train longer, try "
                    "--backbone sequence:lstm, a longer --context, or pretrain on other series.")
        zero = baselines.get("fracast_zero_shot") or {}
        if isinstance(zero.get("mase"), float) and (zero.get("paired_test") or {}).get("verdict") == "negative":
            return (f"a plain model does better: Fracast-0 zero-shot scores test MASE {zero['mase']:.3f} "
                    f"against this model's {mase:.3f}; prefer it, or pretrain on other series.")
        return None

    def headline(self, metrics: dict[str, Any]) -> str:
        cover = f", interval coverage {metrics['coverage']:.0%}" if "coverage" in metrics else ""
        return (f"MASE {metrics['mase']:.3f}, sMAPE {metrics['smape']:.2f}, MAE {metrics['mae']:.4g}, "
                f"RMSE {metrics['rmse']:.4g}{cover} ({metrics['n_windows']} windows of "
                f"{metrics['n_series']} series)")

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """One list of H point forecasts per window, as the model gives them: corrections of
        the window's seasonal-naive forecast in its scaled units (``predict RUN series.csv``
        gives forecasts in the series' units)."""
        q = len((meta.get("forecast") or {}).get("quantiles") or []) or 1
        out = np.asarray(outputs, dtype=np.float64)
        return [[float(v) for v in row] for row in out.reshape(len(out), -1, q)[:, :, q // 2]]

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return [{f"step_{h + 1}": v for h, v in enumerate(row)} for row in self.predictions(outputs, meta)]

    def predict_inputs(self, predictor: Any, inputs: Any) -> list[dict[str, Any]] | None:
        """``predict RUN series.csv``: the next H values (and quantiles) of every series."""
        from transferkit.tasks._forecast_io import forecast_files

        return forecast_files(predictor, inputs)

    def answer_inputs(self, predictor: Any, items: list[Any]) -> list[dict[str, Any]] | None:
        """``serve``: each of ``{"sequences": [...]}`` is a whole series ((T,) or (T, C) values);
        the answer is its next H values and their quantiles, in its units."""
        from transferkit.tasks._forecast_io import forecast_series

        return forecast_series(predictor, [(str(i), item) for i, item in enumerate(items)], "the request")

    def export_module(self, module: nn.Module, manifest: dict[str, Any]) -> nn.Module:
        """The exported forecaster reads raw contexts and writes forecasts in their units
        (:class:`~transferkit.tasks._forecast_io.SeriesUnitsForecaster`)."""
        from transferkit.tasks._forecast_io import SeriesUnitsForecaster

        plan = manifest.get("forecast") or {}
        qs = plan.get("quantiles") or [0.5]
        return SeriesUnitsForecaster(module, int(plan.get("horizon", 1)), int(plan.get("season", 1)), len(qs))

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        plan = meta.get("forecast") or {}
        h, qs, ctx = plan.get("horizon", "H"), plan.get("quantiles") or [0.5], plan.get("context", "L")
        return {"name": "logits", "dtype": "float32", "shape": ["batch", f"{h}*{len(qs)}"],
                "meaning": f"the next {h} values of each input series in its own units, {len(qs)} "
                           f"quantile(s) {qs} per step (step-major), from its last {ctx} values (x: "
                           f"(batch, {ctx}, channels) raw values without missing ones, lengths: {ctx} each)",
                "card": f"{h} future values per input window of {ctx} (quantiles {qs}), in the series' units."}

    def card(self, manifest: dict[str, Any]) -> dict[str, Any]:
        plan = manifest.get("forecast") or {}
        return {"noun": "forecaster",
                "columns": (("mase", "MASE", ".3f"), ("smape", "sMAPE", ".2f"), ("mae", "MAE", ".4g")),
                "gain": "{gain:+.3f} MASE", "gain_short": "{gain:+.3f} MASE",
                "use": f"Forecasting the next {plan.get('horizon', 'H')} values of series like the "
                       "target data above from their last "
                       f"{plan.get('context', 'L')} values.",
                "limits": ["Each window is scaled by its own context: a level shift inside the "
                           "horizon cannot be foreseen.",
                           "Intervals are the quantile head's, checked only by the coverage above."]}

    # ------------------------------------------------------------------ examples
    @classmethod
    def tiny_example(cls, workdir: Any) -> dict[str, Any]:
        """Three monthly-like series (period 12, different levels and trends, noise), 120
        values each, as a long id,time,value CSV; a 1D CNN trains on their windows."""
        import pandas as pd

        rng = np.random.default_rng(0)
        t = np.arange(120)
        rows = []
        for k, (level, trend) in enumerate(((100.0, 0.5), (20.0, 0.1), (500.0, -1.0))):
            y = level + trend * t + 0.2 * level * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.02 * level, 120)
            rows += [{"id": f"s{k}", "time": int(i), "value": float(v)} for i, v in zip(t, y, strict=True)]
        path = Path(workdir) / "forecasting-tiny.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        return {"data": str(path), "season": 12, "backbone": "sequence:cnn", "strategy": "full", "epochs": 3}


def fracast_forecasts(test: Any, horizon: int, quantiles: list[float] | None) -> np.ndarray | str:
    """Fracast-0's zero-shot forecasts of the test windows (from the same L context values),
    in the model's scaled output layout; a string says why there are none."""
    from transferkit.tasks._forecast_io import fracast_model

    model = fracast_model()
    if isinstance(model, str):
        return model
    x = np.asarray(test.x, dtype=np.float64)[:, :, 0]  # (N, L) scaled target channel
    if x.shape[1] < 8:
        return f"Fracast-0 needs at least 8 context values; the context is {x.shape[1]}"
    _, extra = split_targets(test.y)
    raw = x * extra["std"][:, None] + extra["mean"][:, None]
    pred = model.forecast_batch(raw.astype(np.float32), horizon=horizon)  # (N, H, 9)
    levels = list(model.quantiles)
    want = quantiles or [0.5]
    cols = [levels.index(min(levels, key=lambda lv: abs(lv - q))) for q in want]
    out = (pred[:, :, cols] - extra["mean"][:, None, None]) / extra["std"][:, None, None]
    return (out - extra["anchor"][:, :, None]).reshape(len(out), -1)
