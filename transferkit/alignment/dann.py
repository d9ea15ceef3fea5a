"""Domain-adversarial training (DANN): a discriminator behind a gradient reversal layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from transferkit.alignment import ALIGNMENTS
from transferkit.alignment._base import (
    AdversarialConfig,
    AdversarialLoss,
    DomainDiscriminator,
    domain_adversarial_loss,
    reverse_gradient,
)


@dataclass
class DANNConfig(AdversarialConfig):
    """DANN: trade-off weight, reversal schedule and discriminator size."""


@ALIGNMENTS.register("dann", config=DANNConfig)
class DANNLoss(AdversarialLoss):
    """DANN (Ganin et al., JMLR 2016, https://arxiv.org/abs/1505.07818).

    ``L = 1/2 [mean_i -log D(R(f_i^s)) + mean_j -log(1 - D(R(f_j^t)))]`` where ``R`` is the
    gradient reversal layer with coefficient ``lambda(p) = max_lambda (2 / (1 + exp(-alpha
    p)) - 1)``: minimising ``L`` trains the discriminator ``D`` to tell the domains apart
    and the features to fool it. Shapes: ``f_s (B_s, D)``, ``f_t (B_t, D)`` -> scalar.
    """

    name: ClassVar[str] = "dann"
    config_class: ClassVar[type] = DANNConfig
    needs_logits: ClassVar[bool] = False

    def __init__(self, feature_dim: int, num_classes: int, config: Any = None, **params: Any) -> None:
        super().__init__(feature_dim, num_classes, config, **params)
        cfg = self.config
        self.discriminator = DomainDiscriminator(feature_dim, cfg.hidden_dim, cfg.num_layers, cfg.dropout)

    def loss(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
             logits_t: torch.Tensor | None = None) -> torch.Tensor:
        f = reverse_gradient(torch.cat([f_s, f_t], dim=0), self.coefficient)  # (B_s + B_t, D)
        d = self.discriminator(f)  # (B_s + B_t,)
        return domain_adversarial_loss(d[: f_s.shape[0]], d[f_s.shape[0]:])
