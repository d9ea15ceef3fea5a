"""Subspace alignment: map the source's PCA basis onto the target's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from transferkit.errors import ConfigError
from transferkit.options import Options, option
from transferkit.shallow import SHALLOW
from transferkit.shallow._base import ShallowAdapter


@dataclass
class SubspaceConfig(Options):
    """Subspace alignment options."""

    n_components: int | None = option(None, "Dimension d of the PCA subspaces (None: "
                                      "min(64, D, n_s - 1, n_t - 1)).", ge=1)


def pca_basis(x: np.ndarray, d: int) -> np.ndarray:
    """The top-``d`` principal directions of ``x`` as columns, ``(n, D) -> (D, d)``."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:d].T


@SHALLOW.register("subspace", config=SubspaceConfig, aliases=("subspace-alignment", "sa"))
class SubspaceAlignment(ShallowAdapter):
    """Subspace alignment (Fernando et al., ICCV 2013, https://arxiv.org/abs/1409.5241).

    With PCA bases ``X_s, X_t`` (``D x d``) and ``M = X_s^T X_t``: source features become
    ``(x_s - mu_s) X_s M``, target features ``(x_t - mu_t) X_t``, each domain centred on its
    own mean as PCA does. Shapes: ``(n, D) -> (n, d)``.
    """

    name: ClassVar[str] = "subspace"
    config_class: ClassVar[type] = SubspaceConfig

    def _fit(self, x_s: np.ndarray, x_t: np.ndarray) -> None:
        limit = min(x_s.shape[1], x_s.shape[0] - 1, x_t.shape[0] - 1)
        d = self.config.n_components
        if d is None:
            d = min(64, limit)
        elif d > limit:
            raise ConfigError(f"The 'n_components' parameter of subspace alignment must be at most "
                              f"min(D, n_s - 1, n_t - 1) = {limit} for these features. Got {d} "
                              "instead; lower it or pass more examples.")
        self.n_components_ = d
        self.basis_s_ = pca_basis(x_s, d)  # (D, d)
        self.basis_t_ = pca_basis(x_t, d)  # (D, d)
        self.alignment_ = self.basis_s_.T @ self.basis_t_  # M, (d, d)
        self.mean_s_ = x_s.mean(axis=0)
        self.mean_t_ = x_t.mean(axis=0)

    def _transform_source(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_s_) @ self.basis_s_ @ self.alignment_

    def _transform_target(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_t_) @ self.basis_t_
