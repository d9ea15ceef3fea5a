"""Deep CORAL: match the second-order statistics of source and target features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from transferkit.alignment import ALIGNMENTS
from transferkit.alignment._base import AlignmentConfig, AlignmentLoss
from transferkit.errors import ConfigError


@dataclass
class CORALConfig(AlignmentConfig):
    """Deep CORAL has no option besides its trade-off weight."""


def covariance(f: torch.Tensor) -> torch.Tensor:  # (B, D) -> (D, D)
    """Unbiased feature covariance ``(f^T f - (1^T f)^T (1^T f) / B) / (B - 1)``."""
    centred = f - f.mean(dim=0, keepdim=True)
    return centred.T @ centred / (f.shape[0] - 1)


@ALIGNMENTS.register("coral", config=CORALConfig)
class CORALLoss(AlignmentLoss):
    """Deep CORAL (Sun & Saenko, ECCV 2016 workshops, https://arxiv.org/abs/1607.01719).

    ``L = ||C_s - C_t||_F^2 / (4 d^2)`` with ``C`` the unbiased feature covariances.
    Shapes: ``f_s (B_s, d)``, ``f_t (B_t, d)`` with ``B_s, B_t >= 2`` -> scalar.
    """

    name: ClassVar[str] = "coral"
    config_class: ClassVar[type] = CORALConfig
    needs_logits: ClassVar[bool] = False

    def loss(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
             logits_t: torch.Tensor | None = None) -> torch.Tensor:
        if f_s.shape[0] < 2 or f_t.shape[0] < 2:
            raise ConfigError(f"CORAL needs at least 2 examples per domain to estimate a covariance. "
                              f"Got batches of {f_s.shape[0]} (source) and {f_t.shape[0]} (target); "
                              "increase the batch size.")
        d = f_s.shape[1]
        diff = covariance(f_s) - covariance(f_t)
        return (diff * diff).sum() / (4 * d * d)
