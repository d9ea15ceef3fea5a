"""Regression: one number per example, a linear head, MSE (or Huber) on standardised targets.

The targets are optionally transformed (``log1p``, for amounts spanning orders of
magnitude) and standardised with the training split's mean and standard deviation:
``z = (g(y) - mean) / std``. The loss is taken on ``z``; the head inverts the transform
itself (``y_hat = g^-1(mean + std * linear(f))``, with ``mean``, ``std`` and the transform
in buffers saved with the weights), so the model -- and every prediction, ``serve``
answer and ONNX/TorchScript export of it -- speaks the target's original units.
``transferkit.json`` records the same numbers under ``target``.

Metrics: RMSE, MAE and R^2 (``1 - SSE / SST``, SST around the evaluated split's mean);
the loop selects on validation R^2, and the transfer gain is the test-R^2 difference.
Baselines: the training mean, and on tables scikit-learn's ``Ridge`` and
``HistGradientBoostingRegressor`` on the same training rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import DataError
from transferkit.options import Options, option
from transferkit.tasks import TASKS
from transferkit.tasks._base import Accumulator, Task, with_l2_sp
from transferkit.tasks._plain import MAX_BASELINE_ROWS, predict_blocks, table_matrix

#: the model's test R² must beat the training mean's by this much, or the floor warning is given
FLOOR_MARGIN = 0.02
#: a plain scikit-learn baseline this much ahead in test R² is named in a warning
PLAIN_AHEAD = 0.05
#: the head's pre-``expm1`` value is clipped here so that float32 never overflows
MAX_LOG = 80.0
#: ridge strengths the linear probe's closed-form solver tries, per training row (features
#: scaled to unit variance)
RIDGE_GRID = tuple(10.0 ** k for k in np.arange(-6.0, 2.5, 0.5))


def fit_ridge_head(x: np.ndarray, z: np.ndarray, val: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Ridge regression of standardised targets ``z`` (N,) on features ``x`` (N, D), in
    closed form through one SVD: ``w = V diag(s / (s^2 + alpha)) U^T z`` on centred,
    unit-variance features (the scaling is folded into the returned weights). ``alpha``
    (per row, from :data:`RIDGE_GRID`) is chosen by the mean squared error on ``val`` =
    (features, standardised targets) when given, else by the exact leave-one-out error.
    Returns (weight (D,), bias, info)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    mu, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    xs = (x - mu) / scale  # (N, D)
    z_mean = float(z.mean())
    u, sv, vt = np.linalg.svd(xs, full_matrices=False)  # (N, k), (k,), (k, D)
    uz = u.T @ (z - z_mean)  # (k,)
    n = len(z)
    scores: dict[float, float] = {}
    weights: dict[float, np.ndarray] = {}
    for a in RIDGE_GRID:
        alpha = a * n
        shrink = sv / (sv ** 2 + alpha)  # (k,)
        w = vt.T @ (shrink * uz)  # (D,)
        weights[a] = w
        if val is not None:
            xv = (np.asarray(val[0], dtype=np.float64) - mu) / scale
            scores[a] = float(np.mean((xv @ w + z_mean - np.asarray(val[1], dtype=np.float64)) ** 2))
        else:
            hat = (u ** 2 * (sv ** 2 / (sv ** 2 + alpha))).sum(axis=1) + 1.0 / n  # (N,)
            resid = (z - z_mean - xs @ w) / np.clip(1.0 - hat, 1e-6, None)
            scores[a] = float(np.mean(resid ** 2))
    best = min(scores.values())
    a = max(k for k, v in scores.items() if v <= best + 1e-12)  # ties: the stronger ridge
    w = weights[a] / scale
    info = {"solver": "ridge (SVD)", "c": None, "alpha": a, "n_iter": 0,
            "alpha_chosen_on": "validation split" if val is not None else "leave-one-out on the training rows",
            "cv_scores": {f"{k:g}": round(v, 6) for k, v in scores.items()}}
    return w, z_mean - float(mu @ w), info


@dataclass
class RegressionConfig(Options):
    """Parameters of the regression task."""

    loss: str = option("mse", "Training loss on the standardised targets: 'mse' or 'huber'.",
                       choices=("mse", "huber"))
    huber_delta: float = option(1.0, "Huber loss: where it turns from quadratic to linear, in "
                                "standard deviations of the (transformed) target.", gt=0)
    target_transform: str = option("none", "Transform of the target before standardising: 'none', "
                                   "or 'log1p' (log(1 + y), for amounts over orders of magnitude; "
                                   "needs y > -1). Predictions are always in the original units.",
                                   choices=("none", "log1p"))


@dataclass(frozen=True)
class TargetScaler:
    """``z = (g(y) - mean) / std`` with ``g`` = identity or log1p."""

    mean: float
    std: float
    transform: str = "none"

    @classmethod
    def fit(cls, y: np.ndarray, transform: str = "none") -> TargetScaler:
        """Mean and standard deviation of the (transformed) finite targets ``y``."""
        y = np.asarray(y, dtype=np.float64)
        if transform == "log1p" and (y <= -1).any():
            row = int(np.flatnonzero(y <= -1)[0])
            raise DataError(f"target_transform=log1p needs targets > -1, and training example {row} has "
                            f"{y[row]:g}. Use target_transform=none, or shift the target.")
        y = y[np.isfinite(y)]
        g = np.log1p(y) if transform == "log1p" else y
        mean = float(g.mean()) if len(g) else 0.0
        std = float(g.std()) if len(g) > 1 else 0.0
        return cls(mean, std if std > 1e-12 else 1.0, transform)

    def standardise(self, y: torch.Tensor) -> torch.Tensor:
        g = torch.log1p(y.clamp(min=-1 + 1e-6)) if self.transform == "log1p" else y
        return (g - self.mean) / self.std

    def describe(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "transform": self.transform}


class RegressionHead(nn.Module):
    """``f -> g^-1(mean + std * linear(f))``: (B, D) -> (B, 1) in the target's units."""

    def __init__(self, in_dim: int, scaler: TargetScaler | None = None) -> None:
        super().__init__()
        scaler = scaler or TargetScaler(0.0, 1.0)
        self.linear = nn.Linear(in_dim, 1)
        self.register_buffer("target_mean", torch.tensor([scaler.mean], dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor([scaler.std], dtype=torch.float32))
        self.register_buffer("target_log1p", torch.tensor([float(scaler.transform == "log1p")]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, 1)
        g = self.linear(x) * self.target_std + self.target_mean
        # both branches are computed; the clip keeps the unused one finite (no NaN gradients).
        # exp - 1, not expm1: ONNX has no expm1 (the absolute error is float32's, ~1e-7)
        return torch.where(self.target_log1p > 0, torch.exp(g.clamp(max=MAX_LOG)) - 1.0, g)


def _loss(kind: str, delta: float, pred: torch.Tensor, target: torch.Tensor,
          reduction: str = "mean") -> torch.Tensor:
    if kind == "huber":
        return F.huber_loss(pred, target, delta=delta, reduction=reduction)
    return F.mse_loss(pred, target, reduction=reduction)


class RegressionObjective(nn.Module):
    """``loss(z_hat, z) + L2-SP`` with ``z`` the standardised targets (NaN targets ignored)."""

    def __init__(self, forward: Callable[[nn.Module, Any], torch.Tensor], scaler: TargetScaler,
                 loss: str = "mse", delta: float = 1.0, l2_sp: Any = None) -> None:
        super().__init__()
        self.forward_fn, self.scaler, self.kind, self.delta, self.l2_sp = forward, scaler, loss, delta, l2_sp

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, y = batch
        out = self.forward_fn(model, inputs).float().reshape(-1)  # (B, 1) -> (B,)
        y = y.to(out.device, torch.float32).reshape(-1)
        keep = torch.isfinite(y)
        loss = _loss(self.kind, self.delta, self.scaler.standardise(out[keep]),
                     self.scaler.standardise(y[keep]))
        logs = {self.kind: float(loss.detach())}
        return with_l2_sp(loss, logs, self.l2_sp)


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE and R^2 of predictions ``pred`` against targets ``y`` (original units).

    >>> regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))["r2"]
    0.5
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    if len(pred) != len(y):
        raise DataError(f"Expected {len(y)} predictions, one per target; got {len(pred)}.")
    keep = np.isfinite(y)
    y, pred = y[keep], pred[keep]
    if not len(y):
        raise DataError("Metrics need targets; this data has none (every target is missing).")
    err = pred - y
    sse, sst = float((err ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else 0.0)
    return {"r2": float(r2), "rmse": float(np.sqrt(sse / len(y))), "mae": float(np.abs(err).mean()),
            "n": int(len(y))}


def error_by_decile(y: np.ndarray, pred: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """MAE and mean signed error (bias) of ``pred`` within each decile of the true target
    ``y`` (ties share a bin, so there may be fewer than ``bins``): where the model is wrong.

    >>> [round(b["mae"], 2) for b in error_by_decile(np.arange(10.0), np.arange(10.0) + 1, bins=2)]
    [1.0, 1.0]
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    keep = np.isfinite(y) & np.isfinite(pred)
    y, pred = y[keep], pred[keep]
    if not len(y):
        return []
    edges = np.unique(np.quantile(y, np.linspace(0, 1, bins + 1)))
    codes = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, max(len(edges) - 2, 0))
    out = []
    for b in np.unique(codes):
        sel = codes == b
        err = pred[sel] - y[sel]
        out.append({"low": float(y[sel].min()), "high": float(y[sel].max()), "n": int(sel.sum()),
                    "mae": float(np.abs(err).mean()), "bias": float(err.mean())})
    return out


class RegressionAccumulator(Accumulator):
    """Validation loss (on standardised targets, as in training), R^2, RMSE and MAE."""

    def __init__(self, scaler: TargetScaler, loss: str, delta: float) -> None:
        self.scaler, self.kind, self.delta = scaler, loss, delta
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:  # (B, 1), (B,)
        self.outputs.append(outputs.detach().float().reshape(-1).cpu())
        self.targets.append(targets.detach().float().reshape(-1).cpu())

    def compute(self) -> dict[str, float]:
        if not self.targets:
            return {}
        out, y = torch.cat(self.outputs), torch.cat(self.targets)
        keep = torch.isfinite(y)
        if not keep.any():
            return {}
        out, y = out[keep], y[keep]
        loss = _loss(self.kind, self.delta, self.scaler.standardise(out), self.scaler.standardise(y))
        metrics = regression_metrics(y.numpy(), out.numpy())
        metrics.pop("n")
        return {"loss": float(loss), **metrics}


def table_baselines(train: Any, test: Any, seed: int = 0,
                    predictions: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, Any]]:
    """Ridge (standardised inputs) and histogram gradient boosting on the training rows
    (a random subsample above ``MAX_BASELINE_ROWS``), scored on the test rows; each one's
    test predictions go into ``predictions`` (when given), for the paired tests."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y_tr = np.asarray(train.y, dtype=np.float64)
    if len(y_tr) > MAX_BASELINE_ROWS:  # drawn before anything is encoded
        rows = np.sort(np.random.default_rng(seed).choice(len(y_tr), MAX_BASELINE_ROWS, replace=False))
        train, y_tr = train.subset(rows), y_tr[rows]
    x_tr = table_matrix(train, train.subset(np.zeros(0, np.int64)))[0]
    models = {"ridge": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
              "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed)}
    out = {}
    for name, model in models.items():
        model.fit(x_tr, y_tr)
        pred = predict_blocks(model.predict, train, test)
        out[name] = {**regression_metrics(test.y, pred), "train_rows": int(len(y_tr))}
        if predictions is not None:
            predictions[name] = np.asarray(pred, dtype=np.float64).reshape(-1, 1)  # (N, 1) as the model's
    return out


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """R² as :func:`regression_metrics` computes it (finite targets; a constant target gives
    1 for a perfect prediction, else 0)."""
    sse, sst = float(((pred - y) ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else 0.0)


@TASKS.register("regression", config=RegressionConfig,
                help="Regression: one number per example (linear head, MSE on standardised "
                "targets; selects on R^2).")
class RegressionTask(Task):
    """One number per example: a linear head with one output in the target's units, MSE
    (or Huber) on standardised targets, R^2 / RMSE / MAE."""

    name = "regression"
    keeps_test_outputs = True
    selection_metric = "r2"
    directions = {"r2": "max", "rmse": "min", "mae": "min", "loss": "min"}
    gain_metric = "r2"
    gain_label = "R²"
    shots_meaning = "labelled training examples in total (spread over quantile bins of the target)"
    targets = "values"

    def __init__(self, config: RegressionConfig | None = None) -> None:
        super().__init__(config if config is not None else RegressionConfig())
        self.scaler_: TargetScaler | None = None

    # ------------------------------------------------------------------ targets
    def fit_targets(self, train: Any) -> None:
        self.scaler_ = TargetScaler.fit(train.y, self.config.target_transform)

    def _scaler(self, data: Any = None) -> TargetScaler:
        if self.scaler_ is not None:
            return self.scaler_
        if data is not None:
            return TargetScaler.fit(np.asarray(data.y), self.config.target_transform)
        return TargetScaler(0.0, 1.0, self.config.target_transform)

    def output_dim(self, data: Any) -> int:
        return 1

    def describe_targets(self, data: Any) -> dict[str, Any]:
        y = np.asarray(data.y, dtype=np.float64)
        return {"classes": [], "target": {"name": (data.meta or {}).get("label_column"),
                                          **self._scaler(data).describe(),
                                          "min": float(y.min()) if len(y) else None,
                                          "max": float(y.max()) if len(y) else None}}

    # ------------------------------------------------------------------ model
    def build_head(self, in_dim: int, out_dim: int) -> nn.Module:
        return RegressionHead(in_dim, self.scaler_)

    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        return RegressionObjective(forward, self._scaler(train_data), self.config.loss,
                                   self.config.huber_delta, l2_sp)

    def solve_head(self, head: nn.Module, x: np.ndarray, y: np.ndarray, train_cfg: Any,
                   seed: int = 0, val: tuple[np.ndarray, np.ndarray] | None = None,
                   solver: str = "lbfgs", backbone: Any = None) -> dict[str, Any] | None:
        """The linear probe in closed form: ridge regression of the standardised targets
        (:func:`fit_ridge_head`; the squared loss is exactly MSE training's, its L2 strength
        chosen on the validation split or by leave-one-out). Huber trains by SGD."""
        if not isinstance(head, RegressionHead) or self.config.loss != "mse":
            return None
        scaler = self._scaler()

        def z(values: np.ndarray) -> np.ndarray:
            return scaler.standardise(torch.as_tensor(np.asarray(values, dtype=np.float64))).numpy()

        y = np.asarray(y, dtype=np.float64)
        keep = np.isfinite(y)
        val_z = None
        if val is not None and len(val[1]):
            vkeep = np.isfinite(np.asarray(val[1], dtype=np.float64))
            val_z = (np.asarray(val[0])[vkeep], z(np.asarray(val[1])[vkeep]))
        w, b, info = fit_ridge_head(np.asarray(x)[keep], z(y[keep]), val_z)
        with torch.no_grad():
            head.linear.weight.copy_(torch.from_numpy(w).float().reshape(1, -1))
            head.linear.bias.fill_(float(b))
        return info

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scaler = self._scaler()
        out = outputs.float().reshape(-1)  # (B, 1) -> (B,)
        y = targets.to(out.device, torch.float32).reshape(-1)
        return _loss(self.config.loss, self.config.huber_delta, scaler.standardise(out),
                     scaler.standardise(y), reduction="none")

    def accumulator(self) -> Accumulator:
        return RegressionAccumulator(self._scaler(), self.config.loss, self.config.huber_delta)

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:  # (B, 1), already in units
        return outputs.float().reshape(-1, 1)

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        out = regression_metrics(targets, outputs)
        if detailed:
            err = np.asarray(outputs, dtype=np.float64).reshape(-1) - np.asarray(targets, dtype=np.float64)
            err = err[np.isfinite(err)]
            out["residuals"] = {"mean": float(err.mean()),
                                "quantiles": {f"{q:g}": float(np.quantile(err, q))
                                              for q in (0.05, 0.25, 0.5, 0.75, 0.95)}}
            out["by_decile"] = error_by_decile(targets, outputs)
        return out

    def test_arrays(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray] | None:
        return {"y": np.asarray(targets, dtype=np.float64).reshape(-1),
                "pred": np.asarray(outputs, dtype=np.float64).reshape(-1)}

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        return self.baselines_with_outputs(train, test)[0]

    def baselines_with_outputs(self, train: Any, test: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The training mean, and for tables ridge and gradient boosting with their test
        predictions (the plain models the paired tests compare against)."""
        mean = float(np.nanmean(train.y)) if len(train) else 0.0
        out: dict[str, Any] = {"mean": {**regression_metrics(test.y, np.full(len(test), mean)),
                                        "value": mean}}
        predictions: dict[str, np.ndarray] = {}
        if getattr(train, "modality", None) == "table" and len(train) > 1 and len(test):
            out.update(table_baselines(train, test, predictions=predictions))
        return out, predictions

    def compare(self, targets: np.ndarray, outputs: np.ndarray, baseline_outputs: np.ndarray,
                meta: dict[str, Any], baseline: str = "scratch", seed: int = 0,
                wording: dict[str, str] | None = None) -> dict[str, Any] | None:
        """R² difference with a paired bootstrap (resampling within quantile bins of the
        target) and its two-sided p-value; the verdict follows the test, never the sign alone."""
        from transferkit.data.targets import value_strata
        from transferkit.stats import LEVEL, paired_bootstrap, verdict

        y = np.asarray(targets, dtype=np.float64).reshape(-1)
        a = np.asarray(outputs, dtype=np.float64).reshape(-1)
        b = np.asarray(baseline_outputs, dtype=np.float64).reshape(-1)
        if not len(y) == len(a) == len(b):
            return None
        keep = np.isfinite(y)
        y, a, b = y[keep], a[keep], b[keep]
        if len(y) < 2:
            return None
        boot = paired_bootstrap(_r2, y, a, b, seed=seed, strata=value_strata(y))
        ci = (boot["ci_low"], boot["ci_high"])
        kind, sentence = verdict(boot["diff"], ci, boot["p_value"], baseline=baseline,
                                 unit="points of R²", test="paired bootstrap", **(wording or {}))
        return {"baseline": baseline, "metric": "r2", "diff": boot["diff"], "ci": list(ci),
                "level": LEVEL, "p_value": boot["p_value"], "test": "paired bootstrap (R², stratified)",
                "verdict": kind, "sentence": sentence}

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        """Below the floor when the test R² is no better than always predicting the training
        mean; else a warning when a plain scikit-learn model on the same rows (ridge, gradient
        boosting) is well ahead -- the table shows both, the console says it in words."""
        r2 = (metrics.get("test") or {}).get("r2")
        if not isinstance(r2, (int, float)):
            return None
        floor = (baselines.get("mean") or {}).get("r2", 0.0)
        if r2 <= floor + FLOOR_MARGIN:
            return (f"below the floor: on the test set its R² {r2:.3f} is no better than always "
                    f"predicting the training mean (R² {floor:.3f}); do not use it as is: train "
                    "longer or with more rows, or try another backbone or strategy.")
        # a plain model judged by a paired test is "ahead" only when the test says so
        plain = [(name, b["r2"]) for name, b in baselines.items()
                 if name not in ("mean", "scratch", "source_only", "oracle") and isinstance(b, dict)
                 and isinstance(b.get("r2"), (int, float))
                 and (b.get("paired_test") or {}).get("verdict", "negative") == "negative"]
        name, best = max(plain, key=lambda t: t[1], default=(None, None))
        tested = name is not None and "paired_test" in baselines[name]
        if name is not None and (tested or best - r2 >= PLAIN_AHEAD):
            return (f"a plain model does better: scikit-learn's {name.replace('_', ' ')} on the same "
                    f"training rows scores test R² {best:.3f} against this model's {r2:.3f}; prefer "
                    "it, or try a pretrained backbone, another strategy or more epochs.")
        return None

    def headline(self, metrics: dict[str, Any]) -> str:
        return f"R² {metrics['r2']:.4f}, RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g}"

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        return [float(v) for v in np.asarray(outputs, dtype=np.float64).reshape(-1)]

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"prediction": v} for v in self.predictions(outputs, meta)]

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        target = meta.get("target") or {}
        name = f"`{target['name']}`" if target.get("name") else "the target"
        how = "log1p, then standardisation" if target.get("transform") == "log1p" else "standardisation"
        return {"name": "logits", "dtype": "float32", "shape": ["batch", 1],
                "meaning": f"the predicted value of {name} in its original units (the inverse of "
                           f"the training-time {how} is part of the model)",
                "card": f"one number per input: the predicted {name}, in its original units."}

    def card(self, manifest: dict[str, Any]) -> dict[str, Any]:
        target = manifest.get("target") or {}
        name = f"`{target['name']}`" if target.get("name") else "the target"
        seen = (f" (training targets span {target['min']:g} to {target['max']:g}; predictions beyond "
                "that range are extrapolations)") if target.get("min") is not None else ""
        return {"noun": "regressor",
                "columns": (("r2", "R²", ".3f"), ("rmse", "RMSE", ".4g"), ("mae", "MAE", ".4g")),
                "gain": "{gain:+.3f} R²", "gain_short": "{gain:+.3f} R²",
                "use": f"Predicting {name} from {manifest.get('modality', '')} inputs like the target "
                       "data above.",
                "limits": [f"It answers with a number for any input, even an unrelated one{seen}."]}

    # ------------------------------------------------------------------ examples
    @classmethod
    def tiny_example(cls, workdir: Any) -> dict[str, Any]:
        """A synthetic table: ``price = 3 a - 2 b + 1.5 [c = x] + 100 + noise`` (300 rows)."""
        import pandas as pd

        rng = np.random.default_rng(0)
        a, b = rng.normal(size=300), rng.normal(size=300)
        c = rng.choice(["x", "y", "z"], 300)
        price = 3 * a - 2 * b + 1.5 * (c == "x") + 100 + rng.normal(scale=0.5, size=300)
        path = Path(workdir) / "regression-tiny.csv"
        pd.DataFrame({"a": a, "b": b, "c": c, "price": price}).to_csv(path, index=False)
        return {"data": str(path), "label_column": "price"}

    # ------------------------------------------------------------------ inference
    @classmethod
    def matches(cls, y: Any) -> tuple[bool, str]:
        from sklearn.utils.multiclass import type_of_target

        from transferkit.tasks.classification import MAX_NUMERIC_CLASSES

        try:
            numeric = np.asarray(y).astype(np.float64)
        except (TypeError, ValueError):
            return False, "the labels are names, not numbers"
        numeric = numeric[np.isfinite(numeric)]  # a non-finite target is refused later, by row
        distinct = len(np.unique(numeric))
        if type_of_target(numeric) == "continuous":
            return True, f"the labels are non-integer numbers ({distinct} distinct values)"
        if distinct > MAX_NUMERIC_CLASSES:
            return True, (f"the labels are {distinct} distinct integers (more than "
                          f"{MAX_NUMERIC_CLASSES}, so they look like amounts, not classes)")
        return False, f"the labels take only {distinct} distinct integer values (classes)"
