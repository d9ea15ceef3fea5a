"""The identity mapping: features go to the head unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from transferkit.errors import ConfigError
from transferkit.mapping import MAPPINGS
from transferkit.mapping._base import FeatureMapping
from transferkit.options import Options


@dataclass
class IdentityConfig(Options):
    """The identity mapping has no parameters."""


@MAPPINGS.register("identity", config=IdentityConfig, aliases=("none",),
                   help="φ(f) = f: no mapping (the plain linear-probe / fine-tuning setting).")
class IdentityMapping(FeatureMapping):
    """φ(f) = f. Shapes: (B, D) -> (B, D); ``out_dim`` must equal ``in_dim``."""

    config_class = IdentityConfig
    changes_dim = False

    def __init__(self, in_dim: int, out_dim: int | None = None, config: Any = None,
                 **params: Any) -> None:
        super().__init__(in_dim, out_dim, config, **params)
        if self.out_dim != self.in_dim:
            raise ConfigError(
                f"The identity mapping keeps the feature dimension, so 'out_dim' must equal "
                f"'in_dim' ({self.in_dim}). Got out_dim={self.out_dim}; use the 'linear' or "
                "'mlp' mapping to change the dimension."
            )

    def forward(self, f: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, D)
        return f
