"""Deep Embedded Validation: importance-weighted source validation risk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from transferkit.options import Options, option
from transferkit.validation import VALIDATORS
from transferkit.validation._base import ValidationContext, Validator, log_softmax


@dataclass
class DEVConfig(Options):
    """DEV options (the domain classifier)."""

    C: float = option(1.0, "Inverse regularisation of the logistic-regression domain classifier.",
                      gt=0)
    n_splits: int = option(5, "Cross-fitting folds: each source example's density ratio comes "
                           "from a domain classifier that did not see it.", ge=2)
    seed: int = option(0, "Seed of the fold assignment.")


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """DEV's control-variate risk estimate (You et al. 2019, Algorithm 1).

    ``L_i = w_i l_i``; ``eta = -Cov(L, w) / Var(w)``;
    ``risk = mean(L) + eta mean(w) - eta``. Shapes: ``(n,)``, ``(n,)`` -> float.
    """
    losses = np.asarray(losses, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    weighted = weights * losses
    var = weights.var()
    eta = 0.0 if var <= 0 else -float(np.mean((weighted - weighted.mean()) * (weights - weights.mean()))) / var
    return float(weighted.mean() + eta * weights.mean() - eta)


def cross_fitted_density_ratio(f_s: np.ndarray, f_t: np.ndarray, c: float = 1.0, n_splits: int = 5,
                               seed: int = 0) -> np.ndarray:
    """``p(t|x) / p(s|x) * n_s / n_t`` for each source row, out of fold, ``(n_s,)``."""
    x = np.concatenate([f_s, f_t])
    d = np.r_[np.zeros(len(f_s), dtype=int), np.ones(len(f_t), dtype=int)]
    folds = StratifiedKFold(n_splits=min(n_splits, len(f_s), len(f_t)), shuffle=True, random_state=seed)
    logit = np.zeros(len(x))
    for train, test in folds.split(x, d):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
        clf.fit(x[train], d[train])
        logit[test] = clf.decision_function(x[test])
    return np.exp(np.minimum(logit[: len(f_s)], 700.0)) * len(f_s) / len(f_t)


@VALIDATORS.register("dev", config=DEVConfig)
class DEVValidator(Validator):
    """Deep Embedded Validation (You et al., ICML 2019, http://proceedings.mlr.press/v97/you19a.html).

    ``w_i = p(t|f_i) / p(s|f_i) * n_s / n_t`` from a domain classifier on features
    (cross-fitted over source validation and target examples), ``l_i`` the cross-entropy
    of source validation example ``i`` (or the task's loss ``losses_s`` when given: a
    regression model's squared error on standardised targets), then :func:`dev_risk` with
    its control variate; ``score = -risk`` so that higher is better. Uses ``features_s
    (n_s, D)``, ``logits_s (n_s, K)`` and ``labels_s (n_s,)`` (or ``losses_s (n_s,)``) and
    ``features_t (n_t, D)``.
    """

    name: ClassVar[str] = "dev"
    config_class: ClassVar[type] = DEVConfig

    def score(self, ctx: ValidationContext) -> float:
        if ctx.losses_s is not None:
            ctx.require(self.name, "features_s", "losses_s", "features_t", min_rows=2)
            losses = ctx.losses_s  # (n_s,)
        else:
            ctx.require(self.name, "features_s", "logits_s", "labels_s", "features_t", min_rows=2)
            losses = -log_softmax(ctx.logits_s)[np.arange(len(ctx.labels_s)), ctx.labels_s]  # (n_s,)
        weights = cross_fitted_density_ratio(ctx.features_s, ctx.features_t, self.config.C,
                                             self.config.n_splits, self.config.seed)
        return -dev_risk(losses, weights)
