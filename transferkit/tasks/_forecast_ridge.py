"""The forecasting task's convex probe: ridge regression from features to the H scaled
corrections of each window, in closed form.

Features are standardised on the training windows, the corrections centred; with the SVD
``X = U S V^T`` every L2 strength alpha costs one product:
``W(alpha) = V diag(s / (s^2 + alpha)) U^T Z``. Alpha is the one of :data:`ALPHAS` with
the lowest MASE on the **validation origins** (in the series' units; ties: the larger
alpha); without validation windows, the lowest leave-one-out squared error on the training
windows (``e_i / (1 - h_ii)``). The median forecast is the ridge prediction; each other
quantile adds that step's quantile of the leave-one-out residuals of the training
windows. Training windows whose target has a missing value are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.tasks._forecast_metrics import split_targets, unscale, window_mase

#: L2 strengths tried (features standardised)
ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))


def _coefs(u: np.ndarray, s: np.ndarray, vt: np.ndarray, zc: np.ndarray, alpha: float) -> np.ndarray:
    return vt.T @ ((s / (s ** 2 + alpha))[:, None] * (u.T @ zc))  # (D, H)


def _loo_residuals(u: np.ndarray, s: np.ndarray, xs: np.ndarray, zc: np.ndarray, coef: np.ndarray,
                   alpha: float) -> np.ndarray:
    """Leave-one-out residuals (N, H) of ridge with an (unpenalised) intercept."""
    hat = (u ** 2 * (s ** 2 / (s ** 2 + alpha))[None, :]).sum(1) + 1.0 / len(xs)
    return (zc - xs @ coef) / np.clip(1.0 - hat, 1e-6, None)[:, None]


def fit_forecast_ridge(x: np.ndarray, y: np.ndarray, quantiles: list[float] | None,
                       val: tuple[np.ndarray, np.ndarray] | None = None,
                       alphas: tuple[float, ...] = ALPHAS) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """(weights (H * Q, D), bias (H * Q,), info) of a linear head on raw features ``x`` for
    window target rows ``y`` (outputs laid out step-major, Q quantiles per step); None when
    no training window has all its targets."""
    z = split_targets(y)[0]
    keep = np.isfinite(z).all(axis=1)
    if keep.sum() < 2:
        return None
    x, z = np.asarray(x, dtype=np.float64)[keep], z[keep]
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    xs, zbar = (x - mu) / sd, z.mean(0)
    zc = z - zbar
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    scores: dict[float, float] = {}
    if val is not None and len(val[1]):
        xv = (np.asarray(val[0], dtype=np.float64) - mu) / sd
        for a in alphas:
            pred = xv @ _coefs(u, s, vt, zc, a) + zbar  # (Nv, H) scaled corrections
            actual, point, _, extra = unscale(val[1], pred, None)
            scores[a] = float(np.nanmean(window_mase(actual, point, extra["mase_scale"])))
        chosen_on = f"validation MASE ({len(val[1])} window(s))"
    else:
        for a in alphas:
            scores[a] = float(np.mean(_loo_residuals(u, s, xs, zc, _coefs(u, s, vt, zc, a), a) ** 2))
        chosen_on = "leave-one-out squared error on the training windows"
    alpha = min(alphas, key=lambda a: (scores[a] if np.isfinite(scores[a]) else np.inf, -a))
    coef = _coefs(u, s, vt, zc, alpha)  # (D, H) on standardised features
    loo = _loo_residuals(u, s, xs, zc, coef, alpha)  # (N, H)
    levels = list(quantiles) if quantiles else [0.5]
    offsets = np.stack([np.zeros(z.shape[1]) if q == 0.5 else np.quantile(loo, q, axis=0)
                        for q in levels], axis=1)  # (H, Q)
    w = coef / sd[:, None]  # (D, H) on raw features
    b = zbar - mu @ w  # (H,)
    weights = np.repeat(w.T[:, None, :], len(levels), axis=1).reshape(-1, x.shape[1])  # (H * Q, D)
    bias = (b[:, None] + offsets).reshape(-1)
    info = {"solver": "ridge", "alpha": float(alpha), "alpha_chosen_on": chosen_on, "n_iter": 0,
            "scores": {f"{a:g}": round(v, 5) for a, v in scores.items()}, "n_windows": int(keep.sum())}
    return weights, bias, info


__all__ = ["ALPHAS", "fit_forecast_ridge"]
