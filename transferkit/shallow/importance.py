"""Importance weighting of source examples by a domain classifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from transferkit.options import Options, option
from transferkit.shallow import SHALLOW
from transferkit.shallow._base import ShallowAdapter


@dataclass
class ImportanceConfig(Options):
    """Importance weighting options."""

    C: float = option(1.0, "Inverse regularisation strength of the logistic-regression "
                      "domain classifier.", gt=0)
    max_weight: float = option(10.0, "Clip the density ratios at this value before normalising "
                               "them to mean 1 (bounds the variance of the weighted loss).", gt=0)


@SHALLOW.register("importance", config=ImportanceConfig, aliases=("importance-weighting", "iw"))
class ImportanceWeighting(ShallowAdapter):
    """Importance weighting by a domain classifier (Bickel et al., JMLR 2009,
    https://jmlr.org/papers/v10/bickel09a.html; covariate shift: Shimodaira 2000).

    ``w(x) = p(t|x) / p(s|x) * n_s / n_t`` estimates the density ratio ``p_t(x) / p_s(x)``
    with a logistic regression trained to tell standardised target (1) from source (0)
    features; weights are clipped at ``max_weight`` and normalised to mean 1 over the
    ``f_s`` passed. Features are unchanged. Shapes: ``(n, D) -> (n,)``.
    """

    name: ClassVar[str] = "importance"
    config_class: ClassVar[type] = ImportanceConfig

    def _fit(self, x_s: np.ndarray, x_t: np.ndarray) -> None:
        x = np.concatenate([x_s, x_t])
        d = np.r_[np.zeros(len(x_s)), np.ones(len(x_t))]
        self.scaler_ = StandardScaler().fit(x)
        z = self.scaler_.transform(x)
        self.classifier_ = LogisticRegression(C=self.config.C, max_iter=1000).fit(z, d)
        self.domain_accuracy_ = float(self.classifier_.score(z, d))
        self.prior_ratio_ = len(x_s) / len(x_t)

    def density_ratio(self, f_s: np.ndarray) -> np.ndarray:
        """Unclipped, unnormalised ``p(t|x) / p(s|x) * n_s / n_t``, ``(n, D) -> (n,)``."""
        x = self._checked(f_s, "f_s", "density_ratio")
        logit = self.classifier_.decision_function(self.scaler_.transform(x))  # log p(t|x)/p(s|x)
        return np.exp(np.minimum(logit, 700.0)) * self.prior_ratio_

    def _sample_weight(self, x: np.ndarray) -> np.ndarray:
        w = np.minimum(self.density_ratio(x), self.config.max_weight)
        return w / w.mean()
