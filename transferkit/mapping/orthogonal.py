"""The orthogonal mapping: a learned rotation, and the closed-form Procrustes solution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from transferkit.errors import ConfigError, DataError
from transferkit.mapping import MAPPINGS
from transferkit.mapping._base import FeatureMapping
from transferkit.options import Options, option

_MAPS = ("matrix_exp", "cayley", "householder")


@dataclass
class OrthogonalConfig(Options):
    """A learned (semi-)orthogonal map."""

    bias: bool = option(False, "Learn a bias vector b as well (φ(f) = Q f + b).")
    orthogonal_map: str | None = option(None, "How torch parametrises Q: matrix_exp, cayley or "
                                        "householder (None: torch's default for the shape).",
                                        choices=_MAPS)


def _as_matrix(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach()
    if t.ndim != 2:
        raise DataError(f"The '{name}' parameter of procrustes must be a 2-D array (N, D). "
                        f"Got shape {tuple(t.shape)} instead.")
    return t.to(torch.float64)


def procrustes(x_src: Any, x_tgt: Any) -> torch.Tensor:
    """Closed-form orthogonal Procrustes: the Q minimising ‖x_src Qᵀ − x_tgt‖_F.

    Schönemann, "A generalized solution of the orthogonal Procrustes problem",
    Psychometrika 1966 (https://doi.org/10.1007/BF02289451)::

        U Σ Vᵀ = svd(x_tgtᵀ x_src),   Q = U Vᵀ

    Shapes: x_src (N, D_in) and x_tgt (N, D_out) are paired rows; returns Q
    (D_out, D_in), float32, orthogonal when D_in = D_out and semi-orthogonal otherwise
    (orthonormal rows or columns), ready to be a ``Linear`` weight.

    >>> q = procrustes(torch.eye(3), torch.eye(3)[[1, 0, 2]])
    >>> q @ torch.tensor([1.0, 0.0, 0.0])
    tensor([0., 1., 0.])
    """
    xs, xt = _as_matrix(x_src, "x_src"), _as_matrix(x_tgt, "x_tgt")
    if xs.shape[0] != xt.shape[0]:
        raise DataError(
            f"procrustes needs paired examples: 'x_src' has {xs.shape[0]} rows and 'x_tgt' has "
            f"{xt.shape[0]}. Pass the same examples in the same order."
        )
    u, _, vh = torch.linalg.svd(xt.T @ xs, full_matrices=False)  # (D_out, k), (k, D_in)
    return (u @ vh).to(torch.float32)


@MAPPINGS.register("orthogonal", config=OrthogonalConfig, aliases=("procrustes",),
                   help="φ(f) = Q f with Q kept orthogonal (a rotation); closed-form "
                        "Procrustes when paired examples exist.")
class OrthogonalMapping(FeatureMapping):
    """φ(f) = Q f (+ b) with Qᵀ Q = I kept exactly during training.

    An orthogonal map rotates the feature space without distorting distances, the
    classic choice for aligning two embedding spaces (Xing et al., NAACL 2015,
    https://aclanthology.org/N15-1104; Smith et al., ICLR 2017). Q is a
    ``torch.nn.utils.parametrizations.orthogonal`` weight, so every optimizer step stays
    on the orthogonal group; a square Q starts as I. When D_in ≠ D_out, Q is
    semi-orthogonal. :meth:`from_procrustes` solves Q in closed form from paired
    examples. Shapes: (B, in_dim) -> (B, out_dim).
    """

    config_class = OrthogonalConfig

    def __init__(self, in_dim: int, out_dim: int | None = None, config: Any = None,
                 **params: Any) -> None:
        super().__init__(in_dim, out_dim, config, **params)
        linear = nn.Linear(self.in_dim, self.out_dim, bias=self.config.bias)
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)
        self.linear = orthogonal(linear, "weight", orthogonal_map=self.config.orthogonal_map)
        if self.in_dim == self.out_dim:
            self.set_weight(torch.eye(self.in_dim))

    @property
    def weight(self) -> torch.Tensor:  # (out_dim, in_dim)
        """The current (semi-)orthogonal matrix Q."""
        return self.linear.weight

    def set_weight(self, q: torch.Tensor) -> None:
        """Set Q (out_dim, in_dim); it must be (semi-)orthogonal."""
        q = torch.as_tensor(q, dtype=torch.float32)
        if tuple(q.shape) != (self.out_dim, self.in_dim):
            raise ConfigError(f"Q must have shape ({self.out_dim}, {self.in_dim}). Got {tuple(q.shape)}.")
        small = q @ q.T if self.out_dim <= self.in_dim else q.T @ q
        if not torch.allclose(small, torch.eye(len(small)), atol=1e-4):
            raise ConfigError("The matrix given to OrthogonalMapping.set_weight is not orthogonal; "
                              "use procrustes() to get the nearest orthogonal solution.")
        with torch.no_grad():
            self.linear.weight = q

    @classmethod
    def from_procrustes(cls, x_src: Any, x_tgt: Any, config: Any = None,
                        **params: Any) -> OrthogonalMapping:
        """A mapping set to the closed-form Procrustes solution for paired rows.

        x_src (N, D_in) are features to be mapped, x_tgt (N, D_out) where they should
        land. With ``bias=True`` both sides are centred first and b = mean_t − Q mean_s.
        """
        xs, xt = _as_matrix(x_src, "x_src"), _as_matrix(x_tgt, "x_tgt")
        mapping = cls(xs.shape[1], xt.shape[1], config, **params)
        if mapping.config.bias:
            mu_s, mu_t = xs.mean(0), xt.mean(0)
            q = procrustes(xs - mu_s, xt - mu_t)
            with torch.no_grad():
                mapping.linear.bias.copy_((mu_t - q.double() @ mu_s).float())
        else:
            q = procrustes(xs, xt)
        mapping.set_weight(q)
        return mapping

    def forward(self, f: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, out_dim)
        return self.linear(f)
