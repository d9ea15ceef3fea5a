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

The ridge shrinks towards its prior: the seasonal-naive forecast (it regresses the
corrections). When the anchors are a linear function of the features (``lags``: a selection
of them), it may shrink towards the context's mean instead (it regresses the scaled values,
then subtracts the anchor): the prior is chosen with alpha, on the same validation MASE
(ties: seasonal naive). Seasonal series keep the seasonal prior; mean-reverting ones (growth
rates) can take the other.
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


def anchor_map(x: np.ndarray, anchors: np.ndarray) -> np.ndarray | None:
    """``P`` (D + 1, H) with ``[x, 1] @ P == anchors`` when the seasonal-naive anchors are a
    linear function of the features (``lags``: a selection of them), else None."""
    xa = np.hstack([x, np.ones((len(x), 1))])
    p, *_ = np.linalg.lstsq(xa, anchors, rcond=None)
    tol = 1e-6 * (1.0 + float(np.abs(anchors).max(initial=0.0)))
    return p if float(np.abs(xa @ p - anchors).max(initial=0.0)) <= tol else None


def _score(alphas: tuple[float, ...], fit: Any, val: tuple[np.ndarray, np.ndarray] | None,
           loo: Any) -> dict[float, float]:
    """Validation MASE (series' units) of each alpha, or the training windows' LOO error."""
    out: dict[float, float] = {}
    for a in alphas:
        if val is not None:
            actual, point, _, extra = unscale(val[1], fit(a, val[0]), None)
            out[a] = float(np.nanmean(window_mase(actual, point, extra["mase_scale"])))
        else:
            out[a] = float(np.mean(loo(a) ** 2))
    return out


def fit_forecast_ridge(x: np.ndarray, y: np.ndarray, quantiles: list[float] | None,
                       val: tuple[np.ndarray, np.ndarray] | None = None,
                       alphas: tuple[float, ...] = ALPHAS) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """(weights (H * Q, D), bias (H * Q,), info) of a linear head on raw features ``x`` for
    window target rows ``y`` (outputs laid out step-major, Q quantiles per step); None when
    no training window has all its targets. See the module doc; when the anchors are a
    linear function of the features (:func:`anchor_map`), the ridge may also shrink
    towards the context's mean (it regresses the scaled values themselves), whichever
    prior validates better."""
    z, extra = split_targets(y)
    keep = np.isfinite(z).all(axis=1)
    if keep.sum() < 2:
        return None
    x, z, anchors = np.asarray(x, dtype=np.float64)[keep], z[keep], extra["anchor"][keep]
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    xs = (x - mu) / sd
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    amap = anchor_map(x, anchors)
    priors = {"seasonal naive": np.zeros_like(z)}
    if amap is not None:
        priors["context mean"] = anchors
    if val is not None and not len(val[1]):
        val = None
    fits, scores = {}, {}
    for prior, shift in priors.items():
        t = z + shift  # corrections (seasonal-naive prior) or the scaled values (mean prior)
        tbar = t.mean(0)
        tc = t - tbar

        def fit(a: float, xv: np.ndarray, tc=tc, tbar=tbar, prior=prior) -> np.ndarray:
            xv = np.asarray(xv, dtype=np.float64)
            pred = (xv - mu) / sd @ _coefs(u, s, vt, tc, a) + tbar
            return pred if prior == "seasonal naive" else pred - np.hstack([xv, np.ones((len(xv), 1))]) @ amap

        fits[prior] = (tc, tbar)
        scores[prior] = _score(alphas, fit, val, lambda a, tc=tc: _loo_residuals(u, s, xs, tc, _coefs(u, s, vt, tc, a), a))
    order = list(priors)
    prior, alpha = min(((p, a) for p in order for a in alphas),
                       key=lambda pa: (scores[pa[0]][pa[1]] if np.isfinite(scores[pa[0]][pa[1]]) else np.inf,
                                       order.index(pa[0]), -pa[1]))
    tc, tbar = fits[prior]
    coef = _coefs(u, s, vt, tc, alpha)  # (D, H) on standardised features
    loo = _loo_residuals(u, s, xs, tc, coef, alpha)  # (N, H)
    levels = list(quantiles) if quantiles else [0.5]
    offsets = np.stack([np.zeros(z.shape[1]) if q == 0.5 else np.quantile(loo, q, axis=0)
                        for q in levels], axis=1)  # (H, Q)
    w = coef / sd[:, None]  # (D, H) on raw features
    b = tbar - mu @ w  # (H,)
    if prior != "seasonal naive":  # minus the anchor, a linear function of the features
        w, b = w - amap[:-1], b - amap[-1]
    weights = np.repeat(w.T[:, None, :], len(levels), axis=1).reshape(-1, x.shape[1])  # (H * Q, D)
    bias = (b[:, None] + offsets).reshape(-1)
    chosen_on = (f"validation MASE ({len(val[1])} window(s))" if val is not None
                 else "leave-one-out squared error on the training windows")
    chosen_on += f", prior: {prior}"  # the console says which
    info = {"solver": "ridge", "alpha": float(alpha), "alpha_chosen_on": chosen_on, "n_iter": 0,
            "prior": prior, "n_windows": int(keep.sum()),
            "scores": {p: {f"{a:g}": round(v, 5) for a, v in sc.items()} for p, sc in scores.items()}}
    return weights, bias, info


__all__ = ["ALPHAS", "anchor_map", "fit_forecast_ridge"]
