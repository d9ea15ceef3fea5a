"""The linear mapping: a learned matrix W (the seed's "matrix multiplication" mapping)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from transferkit.mapping import MAPPINGS
from transferkit.mapping._base import FeatureMapping
from transferkit.options import Options, option


@dataclass
class LinearConfig(Options):
    """A learned linear map."""

    bias: bool = option(True, "Learn a bias vector b as well (φ(f) = W f + b).")
    init: str = option("identity", "Initial W: 'identity' (I when square, a random "
                       "semi-orthogonal matrix otherwise, so features start undistorted) "
                       "or 'random' (PyTorch's default Linear init).",
                       choices=("identity", "random"))


@MAPPINGS.register("linear", config=LinearConfig, aliases=("matrix",),
                   help="φ(f) = W f + b, a learned matrix initialised to the identity.")
class LinearMapping(FeatureMapping):
    """φ(f) = W f + b with W (out_dim, in_dim) learned.

    The seed's "matrix multiplication" mapping. With ``init='identity'`` a square W starts
    as I and b as 0, so training starts from the unmapped features; a rectangular W
    starts semi-orthogonal (norm-preserving). Shapes: (B, in_dim) -> (B, out_dim).
    """

    config_class = LinearConfig

    def __init__(self, in_dim: int, out_dim: int | None = None, config: Any = None,
                 **params: Any) -> None:
        super().__init__(in_dim, out_dim, config, **params)
        self.linear = nn.Linear(self.in_dim, self.out_dim, bias=self.config.bias)
        if self.config.init == "identity":
            with torch.no_grad():
                if self.in_dim == self.out_dim:
                    self.linear.weight.copy_(torch.eye(self.in_dim))
                else:
                    nn.init.orthogonal_(self.linear.weight)
                if self.linear.bias is not None:
                    self.linear.bias.zero_()

    def forward(self, f: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, out_dim)
        return self.linear(f)
