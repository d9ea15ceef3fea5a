"""CORAL feature transform: re-colour the source features with the target's covariance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from transferkit.options import Options, option
from transferkit.shallow import SHALLOW
from transferkit.shallow._base import ShallowAdapter


@dataclass
class CORALTransformConfig(Options):
    """CORAL transform options."""

    regularization: float = option(1.0, "lambda added to both covariances' diagonals, "
                                   "C + lambda I (the paper uses 1).", gt=0)
    match_mean: bool = option(False, "Also move the source mean onto the target mean (the "
                              "paper assumes standardised features and does not).")


def symmetric_power(c: np.ndarray, power: float) -> np.ndarray:
    """``C^power`` of a symmetric positive definite matrix, by eigendecomposition."""
    values, vectors = np.linalg.eigh(c)
    return (vectors * np.clip(values, 1e-12, None) ** power) @ vectors.T


@SHALLOW.register("coral", config=CORALTransformConfig)
class CORALTransform(ShallowAdapter):
    """CORAL (Sun, Feng & Saenko, AAAI 2016, https://arxiv.org/abs/1511.05547).

    ``x_s' = x_s (C_s + lambda I)^(-1/2) (C_t + lambda I)^(1/2)``: whiten the source with
    its own covariance, re-colour it with the target's; target features are unchanged.
    Shapes: ``(n, D) -> (n, D)``.
    """

    name: ClassVar[str] = "coral"
    config_class: ClassVar[type] = CORALTransformConfig

    def _fit(self, x_s: np.ndarray, x_t: np.ndarray) -> None:
        eye = np.eye(x_s.shape[1]) * self.config.regularization
        c_s = np.cov(x_s, rowvar=False) + eye
        c_t = np.cov(x_t, rowvar=False) + eye
        self.matrix_ = symmetric_power(c_s, -0.5) @ symmetric_power(c_t, 0.5)  # (D, D)
        self.mean_s_ = x_s.mean(axis=0)
        self.mean_t_ = x_t.mean(axis=0)

    def _transform_source(self, x: np.ndarray) -> np.ndarray:
        if self.config.match_mean:
            return (x - self.mean_s_) @ self.matrix_ + self.mean_t_
        return x @ self.matrix_
