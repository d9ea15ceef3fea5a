"""A convex solver for a linear softmax head on cached features.

The standard linear-probe protocol (Kornblith et al. 2019, https://arxiv.org/abs/1805.08974;
Radford et al. 2021, CLIP, https://arxiv.org/abs/2103.00020): multinomial logistic
regression fitted to convergence with L-BFGS, its L2 strength chosen by k-fold
cross-validation on the training labels (or on the validation split, when the run has
one). The result is written into the model's
``nn.Linear`` head, so everything downstream (run directory, predict, serve, export) is
the same as after SGD training.

    >>> w, b, info = fit_logistic_head(x, y, num_classes=3)  # doctest: +SKIP
    >>> head.weight.data, head.bias.data = w, b  # doctest: +SKIP

Random-feature backbones (MiniRocket) ask for the probe their authors use instead
(``Backbone.probe_solver = "ridge"``): :func:`fit_ridge_classifier_head`, scikit-learn's
``RidgeClassifierCV`` on per-feature standardised features, its alpha chosen by efficient
leave-one-out cross-validation on the training labels (Dempster et al. 2021,
https://arxiv.org/abs/2012.08791).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

#: inverse L2 strengths tried (on centred features scaled to unit mean square)
C_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
#: at most this many folds; fewer when the rarest class has fewer examples
MAX_FOLDS = 5


def centre_and_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z, mean, std)`` with ``z = (x - mean) / std``: centred, and one scale for all
    features -- the rows' root mean square per feature, before centring -- so a C grid means the
    same on every backbone. Not per-feature standardisation: on V1 it lifted weak, noisy
    feature dimensions and cost 2.7 points (72.0 vs 74.7 %, 3 seeds)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    mean = x.mean(axis=0)
    rms = float(np.linalg.norm(x, axis=1).mean() / np.sqrt(x.shape[1])) if len(x) else 1.0
    std = np.full(x.shape[1], rms if rms > 1e-12 else 1.0)
    return (x - mean) / std, mean, std


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


def choose_c_on(z: np.ndarray, y: np.ndarray, z_val: np.ndarray, y_val: np.ndarray,
                class_weight: str | None = None, max_iter: int = 1000) -> tuple[float, dict[float, float]]:
    """The C of :data:`C_GRID` with the best accuracy on a validation split (ties: the lower
    validation log-loss), and each C's validation accuracy."""
    from sklearn.metrics import log_loss

    scores: dict[float, float] = {}
    ranked = []
    for c in C_GRID:
        model = _logreg(c, class_weight, max_iter).fit(z, y)
        scores[c] = float(np.mean(model.predict(z_val) == y_val))
        probs = np.full((len(y_val), int(max(y.max(), y_val.max())) + 1), 1e-12)
        probs[:, model.classes_] = np.clip(model.predict_proba(z_val), 1e-12, None)
        ranked.append((-scores[c], log_loss(y_val, probs, labels=np.arange(probs.shape[1])), c))
    return min(ranked)[2], scores


def out_of_fold_logits(z: np.ndarray, y: np.ndarray, num_classes: int, c: float,
                       class_weight: str | None = None, seed: int = 0, max_iter: int = 1000) -> np.ndarray:
    """Cross-fitted logits ``(N, K)`` (log-probabilities) of every training example, each from
    the model fitted at ``c`` on the other folds -- the folds :func:`choose_c` used. They stand
    in for a validation split when there is none: the temperature (or bias-corrected
    calibration) is fitted on them (cross-validated calibration, as scikit-learn's
    ``CalibratedClassifierCV`` cross-fits). A class absent from a fold's training part gets
    log-probability ``log(1e-12)``."""
    from sklearn.model_selection import StratifiedKFold

    present = np.bincount(y)
    folds = min(MAX_FOLDS, int(present[present > 0].min()))
    out = np.full((len(y), num_classes), np.log(1e-12))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(z, y):
        model = _logreg(c, class_weight, max_iter).fit(z[tr], y[tr])
        out[np.ix_(te, model.classes_)] = np.log(np.clip(model.predict_proba(z[te]), 1e-12, None))
    return out


def fit_logistic_head(x: np.ndarray, y: np.ndarray, num_classes: int, *,
                      x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                      class_weight: str | None = None, seed: int = 0, max_iter: int = 1000,
                      cross_fit: bool = False, c: float | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Weights ``(K, D)`` and bias ``(K,)`` of the multinomial logistic regression of ``y`` on
    ``x`` (``(N, D)`` features), for ``logits = x @ W.T + b``.

    The L2 strength is ``c`` when given (the caller chose it), else chosen on the validation
    split ``(x_val, y_val)`` when there is one, else by k-fold cross-validation on the
    training labels. Features are centred and scaled
    inside (one scale for all features, so a C grid means the same on every backbone) and
    the scaling is folded into the returned weights. Classes absent from ``y`` get a bias that never wins. ``info`` holds the chosen
    C, how it was chosen, each C's score and the iterations; with ``cross_fit`` and no
    validation split also ``oof_logits`` (:func:`out_of_fold_logits` at the chosen C, an
    array: pop it before the info goes into a summary).
    """
    from transferkit._threads import blas_threads

    # one BLAS thread: these are small problems, and on a busy machine a second thread
    # made each fit ~50x slower (measured on V1's 100 x 1,984 features)
    with blas_threads(1):
        return _fit_logistic_head(x, y, num_classes, x_val, y_val, class_weight, seed, max_iter, cross_fit, c)


def _fit_logistic_head(x: np.ndarray, y: np.ndarray, num_classes: int, x_val: np.ndarray | None,
                       y_val: np.ndarray | None, class_weight: str | None, seed: int,
                       max_iter: int, cross_fit: bool = False, given_c: float | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)  # (N, D)
    y = np.asarray(y, dtype=np.int64)
    z, mean, std = centre_and_scale(x)
    present = np.unique(y)
    info: dict[str, Any] = {"solver": "lbfgs"}
    if len(present) < 2:  # one class: it always wins, the absent ones never do
        bias = np.full(num_classes, -1e4)
        bias[present] = 0.0
        info.update(c=None, cv_scores={}, n_iter=0)
        return torch.zeros(num_classes, x.shape[1]), torch.from_numpy(bias).float(), info
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes of tiny CV folds
            labelled = None if y_val is None else np.asarray(y_val) >= 0
            if given_c is not None:
                c, scores = float(given_c), {}
                info["c_chosen_on"] = "the caller"
            elif labelled is not None and labelled.any():
                z_val = (np.asarray(x_val, dtype=np.float64).reshape(len(x_val), -1)[labelled] - mean) / std
                c, scores = choose_c_on(z, y, z_val, np.asarray(y_val)[labelled], class_weight, max_iter)
                info["c_chosen_on"] = "the validation split"
            else:
                c, scores = choose_c(z, y, class_weight, seed, max_iter)
                info["c_chosen_on"] = "cross-validation on the training labels"
                if scores and cross_fit:  # no validation split: cross-fitted outputs to calibrate on
                    info["oof_logits"] = out_of_fold_logits(z, y, num_classes, c, class_weight, seed, max_iter)
            model = _logreg(c, class_weight, max_iter).fit(z, y)
        info.update(c=c, cv_scores={str(k): round(v, 4) for k, v in scores.items()},
                    n_iter=int(np.max(model.n_iter_)))
        return (*fold_logistic_head(model.coef_, model.intercept_, model.classes_, mean, std, num_classes), info)


def fold_logistic_head(coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, mean: np.ndarray,
                       std: np.ndarray, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fitted scikit-learn logistic regression on ``z = (x - mean) / std`` as the weights
    ``(K, D)`` and bias ``(K,)`` of ``logits = x @ W.T + b`` on the raw features: the
    standardisation folded in; binary (one logit ``s``) as the logits ``(-s/2, s/2)``; classes
    absent from ``classes`` get zero weights and a bias that never wins."""
    coef, intercept = np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: sklearn's one logit -> two softmax logits
        coef = np.concatenate([-coef / 2, coef / 2])
        intercept = np.concatenate([-intercept / 2, intercept / 2])
    weights = np.zeros((num_classes, coef.shape[1]))
    bias = np.full(num_classes, -1e4)  # absent classes: never predicted
    weights[classes] = coef
    bias[classes] = intercept
    w = weights / std  # (K, D): the standardisation folded in
    b = bias - w @ mean  # (K,)
    return torch.from_numpy(w).float(), torch.from_numpy(b).float()


#: ridge strengths RidgeClassifierCV tries (MiniRocket's reference recipe: 10^-3 .. 10^3)
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 10))


def fit_ridge_classifier_head(x: np.ndarray, y: np.ndarray, num_classes: int, *,
                              class_weight: str | None = None) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Weights ``(K, D)`` and bias ``(K,)`` of scikit-learn's ``RidgeClassifierCV`` (targets
    coded +-1 per class, alphas :data:`RIDGE_ALPHAS`, chosen by efficient leave-one-out
    squared error on ``(x, y)`` only) on per-feature standardised features, the
    standardisation folded in, for ``logits = (x @ W.T + b) / T``.

    Ridge scores are not log-odds: ``T`` is the temperature that minimises the log-loss of
    the *leave-one-out* scores on the training labels (1 when every left-out example is
    already right, so no finite temperature is best); the validation split is not read.
    Binary: the single score ``s`` becomes the logits ``(-s/2, s/2)``. Absent classes get a
    bias that never wins.
    """
    from sklearn.linear_model import RidgeClassifierCV

    from transferkit._threads import blas_threads
    from transferkit.tasks._calibration import fit_temperature

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)  # (N, D)
    y = np.asarray(y, dtype=np.int64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # a constant feature stays 0 after centring
    z = (x - mean) / std
    weights, bias = np.zeros((num_classes, x.shape[1])), np.full(num_classes, -1e4)
    present = np.unique(y)
    info: dict[str, Any] = {"solver": "ridge (RidgeClassifierCV)", "c": None, "n_iter": 0}
    if len(present) < 2:
        bias[present] = 0.0
        return torch.from_numpy(weights).float(), torch.from_numpy(bias).float(), {**info, "alpha": None}
    with blas_threads(1):
        model = RidgeClassifierCV(alphas=RIDGE_ALPHAS, class_weight=class_weight).fit(z, y)
        # the same fit at the chosen alpha, keeping each example's leave-one-out scores
        loo = RidgeClassifierCV(alphas=[model.alpha_], class_weight=class_weight, scoring="accuracy",
                                store_cv_results=True).fit(z, y).cv_results_[:, :, 0]  # (N, K') or (N, 1)
    coef, intercept = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)
    if coef.shape[0] == 1:  # binary: one score -> two softmax logits
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        loo = np.concatenate([-loo / 2, loo / 2], axis=1)
    y_idx = np.searchsorted(model.classes_, y)
    separable = bool((loo.argmax(1) == y_idx).all())
    temperature = 1.0 if separable else fit_temperature(loo, y_idx)
    weights[model.classes_] = coef / temperature
    bias[model.classes_] = intercept / temperature
    info.update(alpha=float(model.alpha_), alpha_chosen_on="leave-one-out on the training labels",
                temperature=float(temperature),
                loo_accuracy=round(float((loo.argmax(1) == y_idx).mean()), 4))
    w = weights / std  # (K, D)
    b = bias - w @ mean  # (K,)
    return torch.from_numpy(w).float(), torch.from_numpy(b).float(), info


__all__ = ["C_GRID", "MAX_FOLDS", "RIDGE_ALPHAS", "centre_and_scale", "choose_c", "choose_c_on", "fit_logistic_head",
           "fit_ridge_classifier_head", "out_of_fold_logits"]
