"""The MLP mapping: bottleneck layers (the seed's "neural network" mapping)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from transferkit.mapping import MAPPINGS
from transferkit.mapping._base import FeatureMapping
from transferkit.options import Options, option

_NORMS = ("layernorm", "batchnorm", "none")


@dataclass
class MLPConfig(Options):
    """A bottleneck MLP."""

    hidden: int | None = option(None, "Bottleneck width (None: in_dim // 4, at least 16).", ge=1)
    dropout: float = option(0.1, "Dropout inside the bottleneck.", ge=0, lt=1)
    norm: str = option("layernorm", "Normalisation after the first layer.", choices=_NORMS)
    residual: bool = option(True, "Add the input back when in_dim == out_dim, with the last "
                            "layer zero-initialised, so the mapping starts as the identity.")


@MAPPINGS.register("mlp", config=MLPConfig, aliases=("bottleneck",),
                   help="φ(f) = f + W₂ dropout(GELU(norm(W₁ f))): a residual bottleneck MLP "
                        "that starts as the identity.")
class MLPMapping(FeatureMapping):
    """φ(f) = [f +] W₂ · dropout(GELU(norm(W₁ f + b₁))) + b₂, a bottleneck MLP.

    The residual adapter form of Houlsby et al., "Parameter-Efficient Transfer Learning
    for NLP", ICML 2019 (https://arxiv.org/abs/1902.00751): with in_dim == out_dim the
    input is added back and W₂, b₂ start at zero, so φ starts as the identity and
    training only moves away from the pretrained features as far as the data asks.
    Without the residual (different dims) both layers use PyTorch's default init.
    Shapes: (B, in_dim) -> (B, hidden) -> (B, out_dim).
    """

    config_class = MLPConfig

    def __init__(self, in_dim: int, out_dim: int | None = None, config: Any = None,
                 **params: Any) -> None:
        super().__init__(in_dim, out_dim, config, **params)
        cfg = self.config
        self.hidden = cfg.hidden if cfg.hidden is not None else max(16, self.in_dim // 4)
        norm: nn.Module = {"layernorm": lambda: nn.LayerNorm(self.hidden),
                           "batchnorm": lambda: nn.BatchNorm1d(self.hidden),
                           "none": nn.Identity}[cfg.norm]()
        self.down = nn.Linear(self.in_dim, self.hidden)
        self.norm = norm
        self.act = nn.GELU()
        self.dropout = nn.Dropout(cfg.dropout)
        self.up = nn.Linear(self.hidden, self.out_dim)
        self.residual = cfg.residual and self.in_dim == self.out_dim
        if self.residual:
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, out_dim)
        h = self.dropout(self.act(self.norm(self.down(f))))  # (B, hidden)
        out = self.up(h)  # (B, out_dim)
        return f + out if self.residual else out
