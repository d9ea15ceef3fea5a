"""Entropy minimisation on the target predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from transferkit.alignment import ALIGNMENTS
from transferkit.alignment._base import AlignmentConfig, AlignmentLoss
from transferkit.options import option


@dataclass
class EntropyConfig(AlignmentConfig):
    """Entropy minimisation: only a trade-off weight (small by default)."""

    weight: float = option(0.1, "Trade-off lambda: the loss returned is weight * mean target "
                           "entropy.", ge=0)


@ALIGNMENTS.register("entropy", config=EntropyConfig, aliases=("ent", "entmin"))
class EntropyLoss(AlignmentLoss):
    """Entropy minimisation (Grandvalet & Bengio, NeurIPS 2004/2005,
    https://papers.nips.cc/paper/2740-semi-supervised-learning-by-entropy-minimization).

    ``L = -(1/B_t) sum_i sum_k p_ik log p_ik`` with ``p = softmax(logits_t)``.
    Uses only the target logits. Shapes: ``logits_t (B_t, K)`` -> scalar.
    """

    name: ClassVar[str] = "entropy"
    config_class: ClassVar[type] = EntropyConfig
    needs_logits: ClassVar[bool] = True

    def loss(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
             logits_t: torch.Tensor | None = None) -> torch.Tensor:
        assert logits_t is not None  # checked by forward
        log_p = torch.log_softmax(logits_t, dim=1)  # (B, K)
        return -(log_p.exp() * log_p).sum(dim=1).mean()
