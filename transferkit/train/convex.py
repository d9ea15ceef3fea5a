"""A convex solver for a linear softmax head on cached features.

The standard linear-probe protocol (Kornblith et al. 2019, https://arxiv.org/abs/1805.08974;
Radford et al. 2021, CLIP, https://arxiv.org/abs/2103.00020): multinomial logistic
regression fitted to convergence with L-BFGS, its L2 strength chosen by k-fold
cross-validation on the training labels. The result is written into the model's
``nn.Linear`` head, so everything downstream (run directory, predict, serve, export) is
the same as after SGD training.

    >>> w, b, info = fit_logistic_head(x, y, num_classes=3)  # doctest: +SKIP
    >>> head.weight.data, head.bias.data = w, b  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

#: inverse L2 strengths tried by cross-validation (on standardised features)
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: at most this many folds; fewer when the rarest class has fewer examples
MAX_FOLDS = 5


def _logreg(c: float, class_weight: str | None, max_iter: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="lbfgs", max_iter=max_iter, class_weight=class_weight)


def choose_c(z: np.ndarray, y: np.ndarray, class_weight: str | None = None, seed: int = 0,
             max_iter: int = 1000) -> tuple[float, dict[float, float]]:
    """The C of :data:`C_GRID` with the best mean k-fold accuracy on ``(z, y)`` (ties: the
    stronger regularisation), and each C's score; C = 1 when a class has one example."""
    from sklearn.model_selection import StratifiedKFold

    present = np.bincount(y)
    folds = min(MAX_FOLDS, int(present[present > 0].min()))
    if folds < 2:
        return 1.0, {}
    split = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(z, y))
    scores: dict[float, float] = {}
    for c in C_GRID:
        acc = []
        for tr, te in split:
            model = _logreg(c, class_weight, max_iter).fit(z[tr], y[tr])
            acc.append(float(np.mean(model.predict(z[te]) == y[te])))
        scores[c] = float(np.mean(acc))
    best = max(scores.values())
    return min(c for c, s in scores.items() if s >= best - 1e-12), scores


def fit_logistic_head(x: np.ndarray, y: np.ndarray, num_classes: int, *,
                      class_weight: str | None = None, seed: int = 0,
                      max_iter: int = 1000) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Weights ``(K, D)`` and bias ``(K,)`` of the multinomial logistic regression of ``y`` on
    ``x`` (``(N, D)`` features), for ``logits = x @ W.T + b``.

    Features are standardised inside (a C grid means the same on every backbone) and the
    scaling is folded into the returned weights. Classes absent from ``y`` get a bias that
    never wins. ``info`` holds the chosen C, the cross-validation scores and the iterations.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)  # (N, D)
    y = np.asarray(y, dtype=np.int64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-12] = 1.0
    z = (x - mean) / std
    weights = np.zeros((num_classes, x.shape[1]))
    bias = np.full(num_classes, -1e4)  # absent classes: never predicted
    present = np.unique(y)
    info: dict[str, Any] = {"solver": "lbfgs"}
    if len(present) < 2:
        bias[present] = 0.0
        info.update(c=None, cv_scores={}, n_iter=0)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes of tiny CV folds
            c, scores = choose_c(z, y, class_weight, seed, max_iter)
            model = _logreg(c, class_weight, max_iter).fit(z, y)
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # binary: sklearn's one logit -> two softmax logits
            coef = np.concatenate([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        weights[model.classes_] = coef
        bias[model.classes_] = intercept
        info.update(c=c, cv_scores={str(k): round(v, 4) for k, v in scores.items()},
                    n_iter=int(np.max(model.n_iter_)))
    w = weights / std  # (K, D): the standardisation folded in
    b = bias - w @ mean  # (K,)
    return torch.from_numpy(w).float(), torch.from_numpy(b).float(), info


__all__ = ["C_GRID", "MAX_FOLDS", "choose_c", "fit_logistic_head"]
