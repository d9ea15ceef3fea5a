"""Forecast accuracy: MAE, RMSE, sMAPE and MASE, per series and over all test windows,
and the plain forecasts every forecaster is judged against (naive, seasonal naive, mean).

Definitions (``A`` actual, ``F`` forecast, over the finite targets):

- ``sMAPE = 200 / n * sum |F - A| / (|A| + |F|)`` (a term with ``A = F = 0`` counts 0);
- ``MASE = mean |F - A| / s`` per window, with ``s`` the series' in-sample mean absolute
  seasonal-naive error (period m, on the values before its first test origin), then
  averaged over windows (every series has the same number of test origins, so this is
  also the mean over series of their MASE).

A window's target row is ``[z - a (H), a (H), series, origin, mean, std, mase_scale]``
with ``a`` the seasonal-naive anchor (see :mod:`transferkit.data.forecasting`); model
outputs are ``(N, H * Q)`` scaled corrections of the anchor (Q quantiles per step, or one
point forecast).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.data.forecasting import EXTRA, anchor
from transferkit.errors import DataError


def split_targets(targets: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(scaled corrections of the anchor (N, H), the anchors (N, H) as ``"anchor"`` and the
    extra columns by name) of window target rows."""
    t = np.asarray(targets, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] <= len(EXTRA) or (t.shape[1] - len(EXTRA)) % 2:
        raise DataError(f"Forecasting targets must be window rows (N, 2H + {len(EXTRA)}); got shape {t.shape}.")
    h = (t.shape[1] - len(EXTRA)) // 2
    extra = {name: t[:, 2 * h + k] for k, name in enumerate(EXTRA)}
    extra["anchor"] = t[:, h:2 * h]
    return t[:, :h], extra


def unscale(targets: np.ndarray, outputs: np.ndarray, quantiles: list[float] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(actuals (N, H), point forecasts (N, H), quantile forecasts (N, H, Q), extras) in the
    series' units; the point forecast is the median quantile (or the only output)."""
    r, extra = split_targets(targets)
    n, h = r.shape
    a = extra["anchor"]
    out = np.asarray(outputs, dtype=np.float64).reshape(n, h, -1) + a[..., None]  # (N, H, Q) scaled
    mean, std = extra["mean"][:, None], extra["std"][:, None]
    actual = (r + a) * std + mean
    qs = out * std[..., None] + mean[..., None]
    q = out.shape[2]
    mid = int(np.argmin(np.abs(np.asarray(quantiles) - 0.5))) if quantiles and len(quantiles) == q else q // 2
    return actual, qs[:, :, mid], qs, extra


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent over the finite actuals.

    >>> round(smape(np.array([100.0, 0.0]), np.array([110.0, 0.0])), 4)
    4.7619
    """
    a, f = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    keep = np.isfinite(a)
    a, f = a[keep], f[keep]
    denom = np.abs(a) + np.abs(f)
    terms = np.where(denom > 0, 2.0 * np.abs(f - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(100.0 * terms.mean()) if len(terms) else float("nan")


def window_mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """MASE of each window (N,): its mean absolute error over the scale of its series."""
    err = np.abs(np.asarray(forecast) - np.asarray(actual))  # (N, H)
    with np.errstate(invalid="ignore"):
        mae = np.nanmean(np.where(np.isfinite(err), err, np.nan), axis=1)
    return mae / np.asarray(scale, dtype=np.float64)


def point_metrics(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """MASE, sMAPE, MAE and RMSE of forecasts over windows (finite actuals only)."""
    keep = np.isfinite(actual)
    if not keep.any():
        raise DataError("Metrics need targets; every target of these windows is missing.")
    err = (forecast - actual)[keep]
    per_window = window_mase(actual, forecast, scale)
    return {"mase": float(np.nanmean(per_window)), "smape": smape(actual, forecast),
            "mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean()))}


def forecast_metrics(targets: np.ndarray, outputs: np.ndarray, quantiles: list[float] | None = None,
                     series_names: list[str] | None = None, detailed: bool = False) -> dict[str, Any]:
    """Aggregated metrics of scaled ``outputs`` on window ``targets``; ``detailed`` adds them
    per series and the coverage of the outer quantiles' interval."""
    actual, point, qs, extra = unscale(targets, outputs, quantiles)
    out: dict[str, Any] = point_metrics(actual, point, extra["mase_scale"])
    series = extra["series"].astype(int)
    out["n_windows"], out["n_series"] = int(len(actual)), int(len(np.unique(series)))
    if qs.shape[2] > 1:
        lo, hi = qs[:, :, 0], qs[:, :, -1]
        keep = np.isfinite(actual)
        out["coverage"] = float(((actual >= lo) & (actual <= hi))[keep].mean())
    if detailed:
        if quantiles and qs.shape[2] > 1:
            out["interval"] = [float(quantiles[0]), float(quantiles[-1])]
        per: dict[str, Any] = {}
        for s in np.unique(series):
            sel = series == s
            name = series_names[s] if series_names and s < len(series_names) else str(s)
            per[name] = {k: round(v, 6) for k, v in
                         point_metrics(actual[sel], point[sel], extra["mase_scale"][sel]).items()}
        out["per_series"] = per
    return out


def plain_forecasts(x: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """Scaled forecasts (N, H) of the plain methods from scaled contexts ``x`` (N, L, C):
    ``naive`` repeats the last value, ``seasonal_naive`` the last season
    (``F_h = y_{T - m + ((h - 1) mod m)}``), ``mean`` the context's mean (0 once scaled)."""
    y = np.asarray(x, dtype=np.float64)[:, :, 0]  # (N, L) the target channel
    return {"naive": np.repeat(y[:, -1:], horizon, axis=1),
            "seasonal_naive": np.stack([anchor(row, horizon, season) for row in y]).reshape(len(y), horizon),
            "mean": np.repeat(y.mean(axis=1, keepdims=True), horizon, axis=1)}


__all__ = ["forecast_metrics", "plain_forecasts", "point_metrics", "smape", "split_targets", "unscale",
           "window_mase"]
