"""The forecasting task's convex probe: ridge regression from features to the H scaled
corrections of each window, in closed form, its settings chosen by rolling-origin
validation.

Features are standardised on the training windows, the corrections centred; with the SVD
``X = U S V^T`` every L2 strength alpha costs one product:
``W(alpha) = V diag(s / (s^2 + alpha)) U^T Z``.

**Candidates.** The ridge shrinks towards a prior (:data:`PRIORS`), each a forecast the
head adds back:

- ``seasonal naive``: it regresses the corrections ``z`` themselves;
- ``context mean``, when the anchors are a linear function of the features (``lags``: a
  selection of them; :func:`anchor_map` ``P``): it regresses the scaled values ``z + a``
  and subtracts the anchor, ``[x, 1] @ P``, back;
- ``seasonal mean of k`` (k = 2 .. L // m), when moreover the backbone declares the
  columns of the target's last L values (``context`` here;
  :meth:`~transferkit.backbones.base.Backbone.context_columns`: ``lags``, ``lags+<encoder>``):
  the mean of the last k seasons' values at each step (:func:`season_columns`; seasonal
  naive is k = 1, a classic benchmark that averages a noisy season away), ``[x, 1] @ M_k``,
  regressed and added back like a pretrained forecast below;
- ``pretrained forecast`` and ``pretrained forecast + bias``, when moreover the backbone
  declares the columns ``F`` of its own forecast of the H steps in the targets' scaled
  units (``forecast`` here; :meth:`~transferkit.backbones.base.Backbone.forecast_columns`,
  e.g. ``lags+fracast``): they regress ``z + a - x[:, F]`` (what the pretrained model
  missed) and add ``x[:, F] - [x, 1] @ P`` back, so the head stays linear in the features:
  its weights are the ridge's minus ``P - S_F`` (``S_F`` selects the columns ``F``).

The intercept is not penalised (a huge alpha forecasts the prior plus its mean error on the
training windows, per step), except for ``seasonal mean`` and ``pretrained forecast``
(:data:`PENALISED_INTERCEPT`): their intercept is penalised by the same alpha (it keeps
``N / (N + alpha)`` of the prior's mean error), so a huge alpha forecasts exactly the
seasonal mean, or the model's own zero-shot forecast; ``pretrained forecast + bias`` shrinks towards the model's
forecast plus its mean error (a pretrained model may be biased on these series). A prior
whose conditions fail is skipped, and ``info["priors_skipped"]`` says why. A candidate is a
prior, an alpha of :data:`ALPHAS` and the fraction of :data:`SHRINK_GRID` of its learned
correction of seasonal naive that is kept (0: the seasonal-naive forecast itself), so
seasonal naive, the context mean (+ its mean error: a huge alpha with the mean prior), the
seasonal means of 2 .. L // m seasons, the pretrained model's zero-shot forecast (a huge alpha with its prior) and the fitted lags are
all in the set.

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

Ties: the prior earlier in :data:`PRIORS` (the fewer seasons in a mean), then the larger alpha, then the larger fraction. With neither
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
#: the priors the ridge can shrink towards, in the order ties are broken
PRIORS = ("seasonal naive", "context mean", "seasonal mean", "pretrained forecast", "pretrained forecast + bias")
#: priors whose intercept is penalised like the weights (a huge alpha forecasts the prior itself)
PENALISED_INTERCEPT = ("seasonal mean", "pretrained forecast")


def _coefs(u: np.ndarray, s: np.ndarray, vt: np.ndarray, zc: np.ndarray, alpha: float) -> np.ndarray:
    return vt.T @ ((s / (s ** 2 + alpha))[:, None] * (u.T @ zc))  # (D, H)


def _loo_residuals(u: np.ndarray, s: np.ndarray, xs: np.ndarray, zc: np.ndarray, coef: np.ndarray,
                   alpha: float, penalised_intercept: bool = False) -> np.ndarray:
    """Leave-one-out residuals (N, H) of ridge with an intercept (``zc``: the targets minus
    it), unpenalised or penalised by the same alpha (the standardised features are centred,
    so the constant column is orthogonal to them: its leverage is ``1 / (N + alpha)``)."""
    lev = 1.0 / (len(xs) + (alpha if penalised_intercept else 0.0))
    hat = (u ** 2 * (s ** 2 / (s ** 2 + alpha))[None, :]).sum(1) + lev
    return (zc - xs @ coef) / np.clip(1.0 - hat, 1e-6, None)[:, None]


def _intercept(t: np.ndarray, alpha: float, penalised: bool) -> np.ndarray:
    """The ridge's intercept (H,) on centred features: the targets' mean, shrunk towards 0 as
    ``N / (N + alpha)`` when it is penalised like the weights."""
    return t.mean(0) * (len(t) / (len(t) + alpha) if penalised else 1.0)


def _tolerance(anchors: np.ndarray) -> float:
    """How close a feature column must be to an anchor to count as equal to it."""
    return 1e-6 * (1.0 + float(np.abs(anchors).max(initial=0.0)))


def anchor_map(x: np.ndarray, anchors: np.ndarray) -> np.ndarray | None:
    """``P`` (D + 1, H) with ``[x, 1] @ P == anchors`` when the seasonal-naive anchors are a
    linear function of the features (``lags``: a selection of them), else None. Each anchor
    column that equals a feature column on every window selects it; otherwise a least-squares
    fit must reproduce the anchors -- trusted only with more windows than independent
    features (with fewer, any anchors fit exactly, which proves nothing: a backbone of 112
    features on 61 windows was taken for lags)."""
    xa = np.hstack([x, np.ones((len(x), 1))])
    tol = _tolerance(anchors)
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


#: (what is added back to the ridge's output: ``[x, 1] @ B`` subtracted, or None: nothing;
#: the forecast ``[x, 1] @ M`` the prior's targets subtract, or None; whether its intercept is penalised)
Prior = tuple[np.ndarray | None, np.ndarray | None, bool]


def family(prior: str) -> str:
    """The :data:`PRIORS` entry a candidate prior belongs to ("seasonal mean of 3" -> "seasonal mean")."""
    return PRIORS[2] if prior.startswith(PRIORS[2] + " of ") else prior


def season_columns(x: np.ndarray, anchors: np.ndarray, context: np.ndarray) -> np.ndarray | None:
    """``(K, H)``: row ``j`` holds, for each step ``h``, the feature column of the target's
    value ``j + 1`` seasons before the step (row 0: the seasonal-naive anchor itself), for
    every ``j`` the context reaches (``K = L // m``); None when the anchors are not context
    columns. ``context`` (L,): the columns of the target channel's last L values, oldest
    first (:meth:`~transferkit.backbones.base.Backbone.context_columns`). The season ``m``
    is read off the anchors: the smallest ``m`` with ``a_h`` in column
    ``context[L - m + (h mod m)]`` on every window (so a short context padded with its first
    value, like the windows', reads that value for a season it lacks)."""
    ctx = np.asarray(context, dtype=np.int64)
    n_ctx, horizon = len(ctx), anchors.shape[1]
    if not n_ctx or ctx.min() < 0 or ctx.max() >= x.shape[1]:
        return None
    tol = _tolerance(anchors)
    # same[s, h]: context step s equals anchor h on every window
    same = np.stack([np.abs(x[:, ctx] - anchors[:, h:h + 1]).max(axis=0) <= tol for h in range(horizon)], 1)
    steps = np.arange(horizon)
    for m in range(1, n_ctx + 1):
        pos = n_ctx - m + steps % m
        if same[pos, steps].all():
            return np.stack([ctx[pos - j * m] for j in range(n_ctx // m)])
    return None


def _selection(cols: np.ndarray, dim: int) -> np.ndarray:
    """``S`` (D + 1, H) with ``[x, 1] @ S == x[:, cols]``."""
    sel = np.zeros((dim + 1, len(cols)))
    sel[cols, np.arange(len(cols))] = 1.0
    return sel


def prior_maps(amap: np.ndarray | None, forecast: np.ndarray | None, dim: int, horizon: int,
               wanted: tuple[str, ...] = PRIORS, seasons: np.ndarray | None = None
               ) -> tuple[dict[str, Prior], dict[str, str]]:
    """({prior: (B (D + 1, H) or None, M (D + 1, H) or None, intercept penalised)},
    {skipped prior: why}) for features of ``dim`` columns with anchor map ``amap``, forecast
    columns ``forecast`` (H,) and season columns ``seasons`` (K, H) (:func:`season_columns`):
    the ridge's scaled-correction forecast is its output minus ``[x, 1] @ B``; its targets
    subtract ``[x, 1] @ M``. Candidates in the order ties are broken: the families of
    ``wanted`` in :data:`PRIORS` order, the seasonal means from 2 seasons up (``wanted``
    may name one, "seasonal mean of 3", or all, "seasonal mean")."""
    maps: dict[str, Prior] = {}
    skipped: dict[str, str] = {}
    families = {family(w) for w in wanted}
    for prior in (p for p in PRIORS if p in families):
        if prior == PRIORS[0]:
            maps[prior] = (None, None, False)
        elif amap is None:
            skipped[prior] = ("the seasonal-naive anchors are not a linear function of the features "
                              "(with lags beside them they are: --backbone lags+<encoder>)")
        elif prior == PRIORS[1]:
            maps[prior] = (amap, None, False)
        elif prior == PRIORS[2]:
            if seasons is None or len(seasons) < 2:
                skipped[prior] = ("the features hold fewer than two seasons of the target's context "
                                  "(lags of at least 2 m steps: --context, or lags:<L>)"
                                  if seasons is not None else
                                  "the backbone declares no columns of the target's last values")
                continue
            for k in range(2, len(seasons) + 1):
                if prior not in wanted and f"{prior} of {k}" not in wanted:
                    continue
                mean = sum(_selection(np.asarray(c, dtype=np.int64), dim) for c in seasons[:k]) / k
                maps[f"{prior} of {k}"] = (amap - mean, mean, prior in PENALISED_INTERCEPT)
        elif forecast is None:
            skipped[prior] = "the backbone declares no forecast of the horizon's steps among its features"
        else:
            cols = np.asarray(forecast, dtype=np.int64)
            if cols.shape != (horizon,) or cols.min(initial=0) < 0 or cols.max(initial=0) >= dim:
                raise ValueError(f"forecast columns must be {horizon} indices into {dim} features; "
                                 f"got {cols.tolist()}")
            sel = _selection(cols, dim)
            maps[prior] = (amap - sel, sel, prior in PENALISED_INTERCEPT)
    return maps, skipped


def _prior_targets(z: np.ndarray, anchors: np.ndarray, x: np.ndarray, prior: Prior) -> np.ndarray:
    """What a prior's ridge regresses: ``z`` (seasonal naive), ``z + a`` (context mean),
    ``z + a - [x, 1] @ M`` (a forecast ``M`` of the features: a seasonal mean, a pretrained
    model's)."""
    back, fmap, _ = prior
    if back is None:
        return z
    return z + anchors - (np.hstack([x, np.ones((len(x), 1))]) @ fmap if fmap is not None else 0.0)


def _predictions(x: np.ndarray, targets: dict[str, np.ndarray], xv: np.ndarray, priors: dict[str, Prior],
                 alphas: tuple[float, ...]) -> dict[tuple[str, float], np.ndarray]:
    """Predicted scaled corrections (Nv, H) of the windows ``xv`` by ridge fitted on ``x``,
    for every (prior, alpha)."""
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    u, s, vt = np.linalg.svd((x - mu) / sd, full_matrices=False)
    xvs = (xv - mu) / sd @ vt.T  # (Nv, r)
    out = {}
    for prior, t in targets.items():
        ut = u.T @ (t - t.mean(0))
        b_map, _, penalised = priors[prior]
        back = 0.0 if b_map is None else np.hstack([xv, np.ones((len(xv), 1))]) @ b_map
        for a in alphas:
            tbar = _intercept(t, a, penalised)
            out[prior, a] = xvs @ ((s / (s ** 2 + a))[:, None] * ut) + tbar - back
    return out


def _window_errors(preds: dict[tuple[str, float], np.ndarray], z: np.ndarray, weight: np.ndarray,
                   fractions: tuple[float, ...] = SHRINK_GRID) -> dict[tuple[str, float, float], np.ndarray]:
    """Each window's MASE (series' units: ``std / scale`` times the scaled mean absolute
    error) for every (prior, alpha, fraction kept)."""
    out = {}
    for (prior, a), pred in preds.items():
        for lam in fractions:
            with np.errstate(invalid="ignore"):
                out[prior, a, lam] = weight * np.nanmean(np.abs(lam * pred - z), axis=1)
    return out


def _rolling_scores(x: np.ndarray, z: np.ndarray, anchors: np.ndarray, extra: dict[str, np.ndarray],
                    val: tuple[np.ndarray, np.ndarray] | None, priors: dict[str, Prior],
                    alphas: tuple[float, ...], fractions: tuple[float, ...] = SHRINK_GRID
                    ) -> tuple[dict[tuple[str, float, float], float], int, int]:
    """(pooled MASE of every candidate, validation windows, rolling-origin rounds)."""
    targets = {p: _prior_targets(z, anchors, x, pr) for p, pr in priors.items()}
    errors: dict[tuple[str, float, float], list[np.ndarray]] = {}
    weight = extra["std"] / extra["mase_scale"]
    rounds = rolling_rounds(extra["series"], extra["origin"], z.shape[1])
    parts = [(x[f], {p: t[f] for p, t in targets.items()}, x[e], z[e], weight[e]) for f, e in rounds]
    if val is not None:
        zv, ev = split_targets(val[1])
        parts.append((x, targets, np.asarray(val[0], dtype=np.float64), zv, ev["std"] / ev["mase_scale"]))
    for xf, tf, xe, ze, we in parts:
        for key, err in _window_errors(_predictions(xf, tf, xe, priors, alphas), ze, we, fractions).items():
            errors.setdefault(key, []).append(err)
    with np.errstate(invalid="ignore"):
        scores = {k: float(np.nanmean(np.concatenate(v))) for k, v in errors.items()}
    return scores, (len(val[1]) if val is not None else 0), len(rounds)


def fit_forecast_ridge(x: np.ndarray, y: np.ndarray, quantiles: list[float] | None,
                       val: tuple[np.ndarray, np.ndarray] | None = None,
                       alphas: tuple[float, ...] = ALPHAS, forecast: np.ndarray | None = None,
                       priors: tuple[str, ...] = PRIORS, fractions: tuple[float, ...] = SHRINK_GRID,
                       context: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """(weights (H * Q, D), bias (H * Q,), info) of a linear head on raw features ``x`` for
    window target rows ``y`` (outputs laid out step-major, Q quantiles per step); None when
    fewer than two training windows have all their targets. ``forecast`` (H,): the feature
    columns holding a pretrained model's forecast of the H steps in the targets' scaled
    units (the "pretrained forecast" prior); ``context`` (L,): the feature columns of the
    target's last L values, oldest first (the "seasonal mean" priors); ``priors``: those to consider (of
    :data:`PRIORS`, or one seasonal mean: "seasonal mean of 3"); ``fractions``: the fractions of the correction kept that are tried.
    Prior, alpha and fraction are chosen together by rolling-origin validation (see the
    module doc)."""
    unknown = [p for p in priors if family(p) not in PRIORS]
    if unknown or not priors:
        raise ValueError(f"priors must be some of {PRIORS}; got {priors!r}")
    z, extra = split_targets(y)
    keep = np.isfinite(z).all(axis=1)
    if keep.sum() < 2:
        return None
    x, z = np.asarray(x, dtype=np.float64)[keep], z[keep]
    extra = {k: v[keep] for k, v in extra.items()}
    anchors = extra["anchor"]
    if val is not None and not len(val[1]):
        val = None
    amap = anchor_map(x, anchors) if any(p != PRIORS[0] for p in priors) else None
    want_seasons = context is not None and any(family(p) == PRIORS[2] for p in priors)
    seasons = season_columns(x, anchors, context) if want_seasons else None
    maps, skipped = prior_maps(amap, forecast, x.shape[1], z.shape[1], tuple(priors), seasons)
    if not maps:
        raise ValueError(f"none of the priors {priors!r} applies: {skipped}")
    scores, n_val, n_rounds = _rolling_scores(x, z, anchors, extra, val, maps, alphas, tuple(fractions))
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    xs = (x - mu) / sd
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    if n_val or n_rounds:
        order = {p: i for i, p in enumerate(maps)}
        prior, alpha, lam = min(scores, key=lambda k: (scores[k] if np.isfinite(scores[k]) else np.inf,
                                                       order[k[0]], -k[1], -k[2]))
        chosen_on = (f"rolling-origin MASE ({n_val} validation window(s) + {n_rounds} origin(s) in "
                     "the training history)")
    else:
        prior = next(iter(maps))
        t0 = _prior_targets(z, anchors, x, maps[prior])
        zc = t0 - t0.mean(0)
        loo = {a: float(np.mean(_loo_residuals(u, s, xs, zc, _coefs(u, s, vt, zc, a), a) ** 2)) for a in alphas}
        alpha, lam = min(alphas, key=lambda a: (loo[a], -a)), max(fractions)
        scores = {(prior, a, lam): v for a, v in loo.items()}
        chosen_on = "leave-one-out squared error on the training windows"
    t = _prior_targets(z, anchors, x, maps[prior])
    penalised = maps[prior][2]  # the pretrained forecast's intercept shrinks too
    tbar = _intercept(t, alpha, penalised)
    coef = _coefs(u, s, vt, t - t.mean(0), alpha)  # (D, H) on standardised features
    # (N, H): t minus its LOO fit = z minus z's
    loo_res = _loo_residuals(u, s, xs, t - tbar, coef, alpha, penalised)
    resid = (1.0 - lam) * z + lam * loo_res  # LOO residuals of the forecast that keeps lam
    levels = list(quantiles) if quantiles else [0.5]
    offsets = np.stack([np.zeros(z.shape[1]) if q == 0.5 else np.quantile(resid, q, axis=0)
                        for q in levels], axis=1)  # (H, Q)
    w = coef / sd[:, None]  # (D, H) on raw features
    b = tbar - mu @ w  # (H,)
    back = maps[prior][0]
    if back is not None:  # minus what the prior added: a linear function of the features
        w, b = w - back[:-1], b - back[-1]
    w, b = lam * w, lam * b
    weights = np.repeat(w.T[:, None, :], len(levels), axis=1).reshape(-1, x.shape[1])  # (H * Q, D)
    bias = (b[:, None] + offsets).reshape(-1)
    info = {"solver": "ridge", "alpha": float(alpha), "n_iter": 0, "prior": prior, "shrink": float(lam),
            "alpha_chosen_on": f"{chosen_on}, prior: {prior}, kept {lam:.0%} of the correction",
            "n_windows": int(keep.sum()), "validation_windows": n_val, "rolling_rounds": n_rounds,
            "score": round(float(scores[prior, alpha, lam]), 5),
            "scores": {p: {f"{a:g}": round(min(v for (pp, aa, _), v in scores.items() if pp == p and aa == a), 5)
                           for a in alphas} for p in dict.fromkeys(k[0] for k in scores)},
            "shrink_scores": {f"{lv:g}": round(scores[prior, alpha, lv], 5) for lv in fractions
                              if (prior, alpha, lv) in scores},
            "priors_skipped": skipped}
    return weights, bias, info


__all__ = ["ALPHAS", "MAX_ROUNDS", "MIN_FIT_FRACTION", "PENALISED_INTERCEPT", "PRIORS", "SHRINK_GRID", "anchor_map",
           "family", "fit_forecast_ridge", "prior_maps", "rolling_rounds", "season_columns"]
