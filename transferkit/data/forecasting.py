"""Forecasting windows: series -> (context of L values -> next H values) examples, split by
rolling origin so that nothing from the future trains the model.

For a series of T values, ``origins`` test windows end at the series' end, ``stride``
apart: test origin ``o_j = T - H - (origins - 1 - j) * stride`` forecasts
``y[o_j : o_j + H]`` from ``y[o_j - L : o_j]``. Validation takes the same number of
origins just before the first test origin (its last window's targets end where the test
period begins). Training windows (stride 1) have their context *and* targets before the
first validation origin: no value the model is judged on, in validation or test, is a
training target. ``history`` keeps only the last N values before the validation period
for training (the forecasting label budget).

Each window is scaled by its context: ``z = (v - mean) / std`` per channel (instance
normalisation), so that one model serves series of any level and scale. The model learns
the *correction* to the seasonal-naive forecast of the scaled context (its anchor ``a``,
the last season repeated; the last value when m = 1): a model that outputs 0 forecasts
seasonal naive. The example's input is the scaled context ``(L, C)``; its target row is
``[z_1 - a_1 .. z_H - a_H, a_1 .. a_H, series, origin, mean, std, mase_scale]``
(:data:`EXTRA` columns after the H corrections and H anchors), from which the task puts
forecasts back into the series' units (``(out + a) * std + mean``) and computes MASE. ``mase_scale`` is
the in-sample mean absolute seasonal-naive error (period m) of the series before its first
test origin. A context shorter than L (a short series at val/test time) is padded on the
left with its first value; a missing value is carried forward from the last observed one
within the window (``impute=auto``) or refused (``impute=none``); a missing target is left
missing and left out of the loss and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.data.series_files import SeriesSet
from transferkit.errors import ConfigError, DataError

#: the target row's columns after the H scaled targets
EXTRA = ("series", "origin", "mean", "std", "mase_scale")
#: defaults when neither the user nor the data says (files without a stated horizon)
DEFAULT_HORIZON = 12


@dataclass(frozen=True)
class WindowPlan:
    """Horizon H, context L, seasonal period m, test origins and their stride, and the
    training-history cap of one fit (resolved from the data's defaults)."""

    horizon: int
    context: int
    season: int
    origins: int
    stride: int
    history: int | None = None

    @classmethod
    def resolve(cls, params: dict[str, Any], series: SeriesSet) -> WindowPlan:
        """The plan from the fit's parameters, falling back on the data's stated defaults."""
        h = params.get("horizon") or series.horizon or DEFAULT_HORIZON
        m = params.get("season") or series.season or 1
        ctx = params.get("context") or series.context or max(2 * h, 2 * m, 8)
        origins = params.get("origins") or series.origins or 3
        stride = params.get("stride") or series.stride or h
        plan = cls(int(h), int(ctx), int(m), int(origins), int(stride), params.get("history"))
        if plan.season > plan.context:
            raise ConfigError(f"The seasonal period m={plan.season} (--season) is longer than the "
                              f"context L={plan.context} (--context); the seasonal-naive baseline "
                              f"and MASE need the context to hold a season. Raise --context to at "
                              f"least {plan.season}, or lower --season.")
        if plan.history is not None and plan.history < plan.context + plan.horizon:
            raise ConfigError(f"The 'history' parameter keeps {plan.history} values per series for "
                              f"training, fewer than one window needs (context {plan.context} + horizon "
                              f"{plan.horizon}). Raise --history to at least {plan.context + plan.horizon}.")
        return plan

    def describe(self) -> dict[str, Any]:
        return {"horizon": self.horizon, "context": self.context, "season": self.season,
                "origins": self.origins, "stride": self.stride, "history": self.history}

    def sentence(self) -> str:
        """How the split was made, for the summary and the console."""
        cap = f"; training history capped at the last {self.history} values" if self.history else ""
        return (f"rolling origin: {self.origins} test origin(s) per series, {self.stride} step(s) apart, "
                f"at the end of each series (horizon {self.horizon}, context {self.context}, season "
                f"{self.season}); validation: {self.origins} origin(s) just before the test period; "
                f"training windows end before the first validation origin{cap}")


def seasonal_scale(values: np.ndarray, season: int) -> float:
    """Mean absolute seasonal-naive error ``mean |y_t - y_{t-m}|`` of ``values`` (missing
    values left out); falls back to ``m = 1`` when the series is shorter than a season + 1.

    >>> seasonal_scale(np.array([1.0, 3.0, 2.0, 6.0]), 2)
    2.0
    """
    y = np.asarray(values, dtype=np.float64)
    m = season if len(y) > season else 1
    diffs = np.abs(y[m:] - y[:-m]) if len(y) > m else np.zeros(0)
    diffs = diffs[np.isfinite(diffs)]
    return float(diffs.mean()) if len(diffs) else float("nan")


def _fill(context: np.ndarray, impute: str, where: str) -> np.ndarray:
    """Missing values of a context carried forward (leading ones from the first observed)."""
    if not np.isnan(context).any():
        return context
    if impute == "none":
        row, col = (int(v) for v in np.argwhere(np.isnan(context))[0])
        raise DataError(f"{where} has a missing value at position {row} of its context (channel {col}). "
                        "Fill it, or pass --impute auto to carry the last observed value forward "
                        "within each window.")
    out = context.copy()
    for c in range(out.shape[1]):
        col = out[:, c]
        seen = np.flatnonzero(np.isfinite(col))
        if not len(seen):
            out[:, c] = 0.0
            continue
        idx = np.maximum.accumulate(np.where(np.isfinite(col), np.arange(len(col)), -1))
        idx[idx < 0] = seen[0]
        out[:, c] = col[idx]
    return out


def anchor(context: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The seasonal-naive forecast (H,) of a context's target channel (L, C) or (L,):
    ``a_h = y_{L - m + ((h - 1) mod m)}`` (m = 1: the last value repeated).

    >>> anchor(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 5, 2).tolist()
    [4.0, 5.0, 4.0, 5.0, 4.0]
    """
    y = np.asarray(context, dtype=np.float64)
    y = y[:, 0] if y.ndim == 2 else y
    m = min(max(1, season), len(y))
    return y[len(y) - m + (np.arange(horizon) % m)]


def window(values: np.ndarray, origin: int, plan: WindowPlan, impute: str, where: str
           ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(scaled context (L, C), target row head ``[z - a, a]`` (2H,), mean, std) of the
    window at ``origin`` (``z``: the scaled future values, missing where unknown)."""
    start = max(0, origin - plan.context)
    ctx = _fill(values[start:origin], impute, where)  # (<=L, C)
    if len(ctx) < plan.context:  # a short series: pad on the left with its first value
        ctx = np.concatenate([np.repeat(ctx[:1], plan.context - len(ctx), axis=0), ctx])
    mean, std = ctx.mean(axis=0), ctx.std(axis=0)
    std = np.where(std > 1e-8 * np.maximum(1.0, np.abs(mean)), std, 1.0)
    future = np.full(plan.horizon, np.nan)
    known = values[origin:origin + plan.horizon, 0]
    future[:len(known)] = known
    scaled = (ctx - mean) / std
    a = anchor(scaled, plan.horizon, plan.season)
    z = (future - mean[0]) / std[0]
    return scaled, np.concatenate([z - a, a]), float(mean[0]), float(std[0])


def origins_of(length: int, plan: WindowPlan) -> tuple[list[int], list[int], int]:
    """(test origins, validation origins, end of the training period) of a series."""
    last = length - plan.horizon
    test = [last - (plan.origins - 1 - j) * plan.stride for j in range(plan.origins)]
    val_last = test[0] - plan.horizon
    val = [val_last - (plan.origins - 1 - j) * plan.stride for j in range(plan.origins)]
    val = [o for o in val if o >= 1]
    return test, val, (val[0] if val else max(test[0] - plan.horizon, 0))


def check_series(series: SeriesSet, plan: WindowPlan) -> None:
    """Clear errors for a series too short for the horizon or the test origins."""
    for sid, values in zip(series.ids, series.values, strict=True):
        t = len(values)
        if plan.horizon >= t:
            raise DataError(f"The horizon H={plan.horizon} is not shorter than series {sid!r} of "
                            f"'{series.name}', which has {t} values. Lower --horizon below {t}, or drop "
                            "the series.")
        need = plan.horizon + (plan.origins - 1) * plan.stride + 1
        if t < need:
            raise DataError(f"Series {sid!r} of '{series.name}' has {t} values; {plan.origins} test "
                            f"origin(s) {plan.stride} apart with horizon {plan.horizon} need at least "
                            f"{need} (one value of context before the first). Lower --origins, --stride "
                            "or --horizon.")


def _dataset(series: SeriesSet, rows: list[tuple[np.ndarray, np.ndarray]], split: str,
             plan: WindowPlan, meta: dict[str, Any]) -> TransferDataset:
    c = series.values[0].shape[1]
    x = np.stack([r[0] for r in rows]).astype(np.float32) if rows else np.zeros((0, plan.context, c), np.float32)
    h2 = 2 * plan.horizon
    y = np.stack([r[1] for r in rows]) if rows else np.zeros((0, h2 + len(EXTRA)))
    ids = [f"{series.ids[int(r[1][h2])]}@{int(r[1][h2 + 1])}" for r in rows]
    return TransferDataset(name=series.name, modality="sequence", x=x, y=y, classes=[], split=split,
                           ids=ids, meta={**meta, "kind": "forecast-windows"})


def build_windows(series: SeriesSet, plan: WindowPlan, impute: str = "auto"
                  ) -> tuple[TransferDataset, TransferDataset, TransferDataset, dict[str, Any]]:
    """(train, val, test) windows of every series and what the split used (see module doc)."""
    check_series(series, plan)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "val": [], "test": []}
    observed = val_observed = 0
    scales = []
    for i, values in enumerate(series.values):
        where = f"Series {series.ids[i]!r} of '{series.name}'"
        test, val, train_end = origins_of(len(values), plan)
        scale = seasonal_scale(values[:test[0], 0], plan.season)
        if not np.isfinite(scale) or scale <= 0:  # a flat history: scale by the level instead
            level = np.nanmean(np.abs(values[:test[0], 0])) if test[0] else np.nan
            scale = float(level) if np.isfinite(level) and level > 0 else 1.0
        scales.append(scale)
        first = max(plan.context, train_end - plan.history + plan.context if plan.history else 0)
        used = np.zeros(len(values), bool)
        for o in range(first, train_end - plan.horizon + 1):
            ctx, z, mu, sd = window(values, o, plan, impute, where)
            if np.isfinite(z[:plan.horizon]).any():
                parts["train"].append((ctx, np.concatenate([z, [i, o, mu, sd, scale]])))
                used[o - plan.context:o + plan.horizon] = True
        observed += int((used & np.isfinite(values[:, 0])).sum())
        for name, origins in (("val", val), ("test", test)):
            for o in origins:
                ctx, z, mu, sd = window(values, o, plan, impute, where)
                parts[name].append((ctx, np.concatenate([z, [i, o, mu, sd, scale]])))
                if name == "val":
                    val_observed += int(np.isfinite(z[:plan.horizon]).sum())
    if not parts["train"]:
        longest = max(origins_of(len(v), plan)[2] for v in series.values)
        raise DataError(f"Too little history for one training window in '{series.name}': a window needs "
                        f"context + horizon = {plan.context} + {plan.horizon} values before the validation "
                        f"period, and the longest series has {longest} there. Lower --context, --horizon "
                        "or --origins" + (", or raise --history." if plan.history else "."))
    meta = {"forecast": {**plan.describe(), "series": list(series.ids), "channels": list(series.channels),
                         "frequency": series.frequency, "mase_scales": scales},
            "split_by": plan.sentence(), "observed_used": observed, "val_observed": val_observed}
    train, val, test = (_dataset(series, parts[k], k, plan, meta) for k in ("train", "val", "test"))
    return train, val, test, meta


def read_series(name_or_path: Any) -> SeriesSet:
    """The series of a built-in forecasting dataset or a file."""
    from pathlib import Path

    from transferkit.data.builtin._base import DATASETS
    from transferkit.data.series_files import read_series_file

    if not isinstance(name_or_path, (str, Path)):
        raise ConfigError("The forecasting task reads series from a built-in dataset or a file (.tsf, "
                          f"or a long/wide CSV/Parquet table); got a {type(name_or_path).__name__}. "
                          "Write it to a file first.")
    text = str(name_or_path)
    if Path(text).expanduser().exists():
        return read_series_file(text)
    if text in DATASETS:
        cls = DATASETS.get(text)
        if not hasattr(cls, "series"):
            raise ConfigError(f"The built-in dataset '{cls.name}' holds no series to forecast (its task is "
                              f"{cls.task}). Forecasting built-ins: "
                              f"{', '.join(n for n in DATASETS.names() if hasattr(DATASETS.get(n), 'series'))}.")
        if not cls.available():
            raise DataError(f"The built-in dataset '{cls.name}' is not installed on this machine. "
                            f"Install it: {cls.install_hint}.")
        return cls().series()
    return read_series_file(text)  # the error names the missing path


def forecast_splits(name_or_path: Any, params: dict[str, Any], impute: str = "auto",
                    shots: int | None = None) -> Any:
    """Train/val/test windows of a forecasting dataset (see the module doc) as ``Splits``."""
    from transferkit.data.splits import Splits

    if shots is not None:
        raise ConfigError(f"The forecasting task counts its training data in observed values, not "
                          f"examples per class: got --shots {shots}. Use --history N (the last N values "
                          "of each series before the validation period) instead.")
    series = read_series(name_or_path)
    plan = WindowPlan.resolve(params, series)
    train, val, test, meta = build_windows(series, plan, impute)
    missing = sum(int(np.isnan(v).sum()) for v in series.values)
    warnings = [f"{missing} missing value(s) in the series: carried forward within each window's context; "
                "missing targets are left out of the loss and the metrics"] if missing else []
    return Splits(train, val, test, warnings=warnings)


__all__ = ["DEFAULT_HORIZON", "EXTRA", "WindowPlan", "anchor", "build_windows", "check_series", "forecast_splits",
           "origins_of", "read_series", "seasonal_scale", "window"]
