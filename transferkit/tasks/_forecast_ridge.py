"""The forecasting task's convex probe: ridge regression from features to the H scaled
corrections of each window, in closed form, its settings chosen by rolling-origin
validation.

Features are standardised on the training windows, the corrections centred; with the SVD
``X = U S V^T`` every L2 strength alpha costs one product:
``W(alpha) = V diag(s / (s^2 + alpha)) U^T Z``.

**Candidates.** The ridge shrinks towards a prior: the seasonal-naive forecast (it
regresses the corrections) or, when the anchors are a linear function of the features
(``lags``: a selection of them), the context's mean (it regresses the scaled values, then
subtracts the anchor). A candidate is a prior, an alpha of :data:`ALPHAS` and the fraction
of :data:`SHRINK_GRID` of its learned correction of seasonal naive that is kept (0: the
seasonal-naive forecast itself), so seasonal naive, the context mean (a huge alpha with the
mean prior) and the fitted lags are all in the set.

**Rolling-origin validation** (time-series cross-validation, Hyndman & Athanasopoulos,
*FPP3* 5.10). A candidate's score is its mean MASE (series' units) over two kinds of
held-out windows, pooled:

- the plan's validation origins (the final fit on every training window forecasts them);
- origins inside the training history: round ``j`` forecasts, in every series, the training
  window whose origin lies ``j`` steps before that series' last training origin, by a refit
  on the windows whose targets end by that origin (origin ``<= o - H``: nothing after the
  forecast origin is read). Rounds ``j = 0, 1, 2, ...`` (stride 1) are kept while the refit
  still holds at least :data:`MIN_FIT_FRACTION` of the training windows (so every refit
  sees a data size close to the final fit's), at most :data:`MAX_ROUNDS` of them (evenly
  strided when there are more).

Ties: seasonal naive's prior, then the larger alpha, then the larger fraction. With neither
validation windows nor rounds, alpha is the lowest leave-one-out squared error on the
training windows (``e_i / (1 - h_ii)``), prior seasonal naive, fraction 1. The median
forecast is the chosen candidate's; each other quantile adds that step's quantile of its
leave-one-out residuals on the training windows. Training windows whose target has a
missing value are left out. The test origins are never given to this function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from transferkit.tasks._forecast_metrics import split_targets

#: L2 strengths tried (features standardised)
ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))
#: how much of the learned correction of the seasonal-naive forecast is kept (0: seasonal naive)
SHRINK_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
#: a rolling-origin round's refit keeps at least this fraction of the training windows
MIN_FIT_FRACTION = 0.5
#: at most this many rolling-origin rounds inside the training history
MAX_ROUNDS = 24
PRIORS = ("seasonal naive", "context mean")


def _coefs(u: np.ndarray, s: np.ndarray, vt: np.ndarray, zc: np.ndarray, alpha: float) -> np.ndarray:
    return vt.T @ ((s / (s ** 2 + alpha))[:, None] * (u.T @ zc))  # (D, H)


def _loo_residuals(u: np.ndarray, s: np.ndarray, xs: np.ndarray, zc: np.ndarray, coef: np.ndarray,
                   alpha: float) -> np.ndarray:
    """Leave-one-out residuals (N, H) of ridge with an (unpenalised) intercept."""
    hat = (u ** 2 * (s ** 2 / (s ** 2 + alpha))[None, :]).sum(1) + 1.0 / len(xs)
    return (zc - xs @ coef) / np.clip(1.0 - hat, 1e-6, None)[:, None]


def anchor_map(x: np.ndarray, anchors: np.ndarray) -> np.ndarray | None:
    """``P`` (D + 1, H) with ``[x, 1] @ P == anchors`` when the seasonal-naive anchors are a
    linear function of the features (``lags``: a selection of them), else None. Each anchor
    column that equals a feature column on every window selects it; otherwise a least-squares
    fit must reproduce the anchors -- trusted only with more windows than independent
    features (with fewer, any anchors fit exactly, which proves nothing: a backbone of 112
    features on 61 windows was taken for lags)."""
    xa = np.hstack([x, np.ones((len(x), 1))])
    tol = 1e-6 * (1.0 + float(np.abs(anchors).max(initial=0.0)))
    p = np.zeros((xa.shape[1], anchors.shape[1]))
    for j in range(anchors.shape[1]):
        same = np.flatnonzero(np.abs(x - anchors[:, j:j + 1]).max(axis=0, initial=0.0) <= tol)
        if not len(same):
            break
        p[same[0], j] = 1.0
    else:
        return p
    if np.linalg.matrix_rank(xa) >= len(xa):
        return None
    p, *_ = np.linalg.lstsq(xa, anchors, rcond=None)
    return p if float(np.abs(xa @ p - anchors).max(initial=0.0)) <= tol else None


def rolling_rounds(series: np.ndarray, origins: np.ndarray, horizon: int,
                   min_fraction: float = MIN_FIT_FRACTION, max_rounds: int = MAX_ROUNDS
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(refit mask, forecast mask) over the training windows of each rolling-origin round
    (see the module doc): round ``j`` forecasts the windows ``j`` steps before their series'
    last training origin from the windows whose targets end by then.

    >>> [(f.tolist(), e.tolist()) for f, e in rolling_rounds(np.zeros(5), np.arange(5), 2, 0.4)]
    [([True, True, True, False, False], [False, False, False, False, True]), \
([True, True, False, False, False], [False, False, False, True, False])]
    """
    ids = np.asarray(series).astype(int)
    org = np.asarray(origins, dtype=np.int64)
    last = np.zeros(ids.max(initial=0) + 1, dtype=np.int64)
    np.maximum.at(last, ids, org)
    dist = last[ids] - org  # steps before the series' last training origin
    need = max(2, math.ceil(min_fraction * len(org)))
    js = [j for j in range(int(dist.max(initial=-1)) + 1)
          if (dist >= j + horizon).sum() >= need and (dist == j).any()]
    js = js[::max(1, math.ceil(len(js) / max_rounds))]
    return [(dist >= j + horizon, dist == j) for j in js]


def _predictions(x: np.ndarray, targets: dict[str, np.ndarray], xv: np.ndarray, amap: np.ndarray | None,
                 alphas: tuple[float, ...]) -> dict[tuple[str, float], np.ndarray]:
    """Predicted scaled corrections (Nv, H) of the windows ``xv`` by ridge fitted on ``x``,
    for every (prior, alpha)."""
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    u, s, vt = np.linalg.svd((x - mu) / sd, full_matrices=False)
    xvs = (xv - mu) / sd @ vt.T  # (Nv, r)
    out = {}
    for prior, t in targets.items():
        tbar = t.mean(0)
        ut = u.T @ (t - tbar)
        back = 0.0 if prior == PRIORS[0] else np.hstack([xv, np.ones((len(xv), 1))]) @ amap
        for a in alphas:
            out[prior, a] = xvs @ ((s / (s ** 2 + a))[:, None] * ut) + tbar - back
    return out


def _window_errors(preds: dict[tuple[str, float], np.ndarray], z: np.ndarray, weight: np.ndarray
                   ) -> dict[tuple[str, float, float], np.ndarray]:
    """Each window's MASE (series' units: ``std / scale`` times the scaled mean absolute
    error) for every (prior, alpha, fraction kept)."""
    out = {}
    for (prior, a), pred in preds.items():
        for lam in SHRINK_GRID:
            with np.errstate(invalid="ignore"):
                out[prior, a, lam] = weight * np.nanmean(np.abs(lam * pred - z), axis=1)
    return out


def _rolling_scores(x: np.ndarray, z: np.ndarray, anchors: np.ndarray, extra: dict[str, np.ndarray],
                    val: tuple[np.ndarray, np.ndarray] | None, amap: np.ndarray | None,
                    alphas: tuple[float, ...]) -> tuple[dict[tuple[str, float, float], float], int, int]:
    """(pooled MASE of every candidate, validation windows, rolling-origin rounds)."""
    shifts = {PRIORS[0]: np.zeros_like(z)} | ({PRIORS[1]: anchors} if amap is not None else {})
    errors: dict[tuple[str, float, float], list[np.ndarray]] = {}
    weight = extra["std"] / extra["mase_scale"]
    rounds = rolling_rounds(extra["series"], extra["origin"], z.shape[1])
    parts = [(x[f], {p: (z + sh)[f] for p, sh in shifts.items()}, x[e], z[e], weight[e]) for f, e in rounds]
    if val is not None:
        zv, ev = split_targets(val[1])
        parts.append((x, {p: z + sh for p, sh in shifts.items()}, np.asarray(val[0], dtype=np.float64), zv,
                      ev["std"] / ev["mase_scale"]))
    for xf, targets, xe, ze, we in parts:
        for key, err in _window_errors(_predictions(xf, targets, xe, amap, alphas), ze, we).items():
            errors.setdefault(key, []).append(err)
    with np.errstate(invalid="ignore"):
        scores = {k: float(np.nanmean(np.concatenate(v))) for k, v in errors.items()}
    return scores, (len(val[1]) if val is not None else 0), len(rounds)


def fit_forecast_ridge(x: np.ndarray, y: np.ndarray, quantiles: list[float] | None,
                       val: tuple[np.ndarray, np.ndarray] | None = None,
                       alphas: tuple[float, ...] = ALPHAS) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """(weights (H * Q, D), bias (H * Q,), info) of a linear head on raw features ``x`` for
    window target rows ``y`` (outputs laid out step-major, Q quantiles per step); None when
    fewer than two training windows have all their targets. Prior, alpha and the fraction
    of the correction kept are chosen by rolling-origin validation (see the module doc)."""
    z, extra = split_targets(y)
    keep = np.isfinite(z).all(axis=1)
    if keep.sum() < 2:
        return None
    x, z = np.asarray(x, dtype=np.float64)[keep], z[keep]
    extra = {k: v[keep] for k, v in extra.items()}
    anchors = extra["anchor"]
    if val is not None and not len(val[1]):
        val = None
    amap = anchor_map(x, anchors)
    scores, n_val, n_rounds = _rolling_scores(x, z, anchors, extra, val, amap, alphas)
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    xs = (x - mu) / sd
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    if n_val or n_rounds:
        order = [p for p in PRIORS if (p, alphas[0], 1.0) in scores]
        prior, alpha, lam = min(scores, key=lambda k: (scores[k] if np.isfinite(scores[k]) else np.inf,
                                                       order.index(k[0]), -k[1], -k[2]))
        chosen_on = (f"rolling-origin MASE ({n_val} validation window(s) + {n_rounds} origin(s) in "
                     "the training history)")
    else:
        zc = z - z.mean(0)
        loo = {a: float(np.mean(_loo_residuals(u, s, xs, zc, _coefs(u, s, vt, zc, a), a) ** 2)) for a in alphas}
        prior, alpha, lam = PRIORS[0], min(alphas, key=lambda a: (loo[a], -a)), 1.0
        scores = {(prior, a, lam): v for a, v in loo.items()}
        chosen_on = "leave-one-out squared error on the training windows"
    t = z + (anchors if prior != PRIORS[0] else 0.0)
    tbar = t.mean(0)
    coef = _coefs(u, s, vt, t - tbar, alpha)  # (D, H) on standardised features
    loo_res = _loo_residuals(u, s, xs, t - tbar, coef, alpha)  # (N, H): z minus its LOO correction
    resid = (1.0 - lam) * z + lam * loo_res  # LOO residuals of the forecast that keeps lam
    levels = list(quantiles) if quantiles else [0.5]
    offsets = np.stack([np.zeros(z.shape[1]) if q == 0.5 else np.quantile(resid, q, axis=0)
                        for q in levels], axis=1)  # (H, Q)
    w = coef / sd[:, None]  # (D, H) on raw features
    b = tbar - mu @ w  # (H,)
    if prior != PRIORS[0]:  # minus the anchor, a linear function of the features
        w, b = w - amap[:-1], b - amap[-1]
    w, b = lam * w, lam * b
    weights = np.repeat(w.T[:, None, :], len(levels), axis=1).reshape(-1, x.shape[1])  # (H * Q, D)
    bias = (b[:, None] + offsets).reshape(-1)
    info = {"solver": "ridge", "alpha": float(alpha), "n_iter": 0, "prior": prior, "shrink": float(lam),
            "alpha_chosen_on": f"{chosen_on}, prior: {prior}, kept {lam:.0%} of the correction",
            "n_windows": int(keep.sum()), "validation_windows": n_val, "rolling_rounds": n_rounds,
            "score": round(float(scores[prior, alpha, lam]), 5),
            "scores": {p: {f"{a:g}": round(min(v for (pp, aa, _), v in scores.items() if pp == p and aa == a), 5)
                           for a in alphas} for p in dict.fromkeys(k[0] for k in scores)},
            "shrink_scores": {f"{lv:g}": round(scores[prior, alpha, lv], 5) for lv in SHRINK_GRID
                              if (prior, alpha, lv) in scores}}
    return weights, bias, info


__all__ = ["ALPHAS", "MAX_ROUNDS", "MIN_FIT_FRACTION", "SHRINK_GRID", "anchor_map", "fit_forecast_ridge",
           "rolling_rounds"]
