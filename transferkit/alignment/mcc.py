"""Minimum class confusion (MCC) on target predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from transferkit.alignment import ALIGNMENTS
from transferkit.alignment._base import AlignmentConfig, AlignmentLoss
from transferkit.options import option


@dataclass
class MCCConfig(AlignmentConfig):
    """MCC: trade-off weight and temperature."""

    temperature: float = option(2.5, "Temperature T of the rescaled softmax softmax(z / T).", gt=0)


@ALIGNMENTS.register("mcc", config=MCCConfig)
class MCCLoss(AlignmentLoss):
    """Minimum Class Confusion (Jin et al., ECCV 2020, https://arxiv.org/abs/1912.03699).

    ``L = (1/K) sum_{j != j'} C~_{jj'}`` with ``Y = softmax(z_t / T)``, sample weights
    ``W_i = B (1 + exp(-H(Y_i))) / sum_i' (1 + exp(-H(Y_i')))`` (detached),
    ``C = Y^T diag(W) Y`` and ``C~_{jj'} = C_{jj'} / sum_j'' C_{j''j'}``.
    Uses only the target logits. Shapes: ``logits_t (B_t, K)`` -> scalar.
    """

    name: ClassVar[str] = "mcc"
    config_class: ClassVar[type] = MCCConfig
    needs_logits: ClassVar[bool] = True

    def loss(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
             logits_t: torch.Tensor | None = None) -> torch.Tensor:
        assert logits_t is not None  # checked by forward
        b, k = logits_t.shape
        y = torch.softmax(logits_t / self.config.temperature, dim=1)  # (B, K)
        entropy = -torch.special.xlogy(y, y).sum(dim=1).detach()  # (B,)
        w = 1.0 + torch.exp(-entropy)
        w = b * w / w.sum()  # (B,)
        confusion = y.T @ (w.unsqueeze(1) * y)  # (K, K)
        confusion = confusion / confusion.sum(dim=0, keepdim=True)  # normalise each column
        return (confusion.sum() - confusion.trace()) / k
