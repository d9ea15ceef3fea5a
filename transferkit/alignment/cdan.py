"""Conditional adversarial domain adaptation with entropy conditioning (CDAN+E)."""

from __future__ import annotations

import math
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
from transferkit.options import option


@dataclass
class CDANConfig(AdversarialConfig):
    """CDAN: conditioning map, entropy weighting, reversal schedule, discriminator."""

    entropy_conditioning: bool = option(True, "Weight examples by w = 1 + exp(-H(g)) (CDAN+E); "
                                        "false gives plain CDAN.")
    max_multilinear_dim: int = option(4096, "Use the exact multilinear map f (x) g while D * K is "
                                      "at most this; above it, the randomised map.", ge=1)
    randomized_dim: int = option(1024, "Output size of the randomised multilinear map.", ge=1)
    seed: int = option(0, "Seed of the fixed random matrices of the randomised map.")


@ALIGNMENTS.register("cdan", config=CDANConfig, aliases=("cdan+e", "cdan-e"))
class CDANLoss(AdversarialLoss):
    """CDAN+E (Long et al., NeurIPS 2018, https://arxiv.org/abs/1705.10667).

    ``L = 1/2 [sum_i w_i (-log D(R(T(f_i, g_i)))) / sum_i w_i + (same for target, -log(1 - D))]``
    with ``g = softmax(logits)`` (detached), ``T(f, g) = g (x) f`` flattened to ``D * K``, or
    ``(R_f f) * (R_g g) / sqrt(d)`` with fixed Gaussian ``R_f (d, D)``, ``R_g (d, K)`` when
    ``D * K > max_multilinear_dim``; ``w = 1 + exp(-H(g))`` (1 without entropy conditioning),
    normalised within each domain; ``R`` reverses gradients with DANN's schedule.
    Shapes: ``f_s (B_s, D)``, ``f_t (B_t, D)``, ``logits_s (B_s, K)``, ``logits_t (B_t, K)``
    -> scalar.
    """

    name: ClassVar[str] = "cdan"
    config_class: ClassVar[type] = CDANConfig
    needs_logits: ClassVar[bool] = True

    def __init__(self, feature_dim: int, num_classes: int, config: Any = None, **params: Any) -> None:
        super().__init__(feature_dim, num_classes, config, **params)
        cfg = self.config
        self.randomized = feature_dim * num_classes > cfg.max_multilinear_dim
        if self.randomized:
            gen = torch.Generator().manual_seed(cfg.seed)
            self.register_buffer("proj_f", torch.randn(cfg.randomized_dim, feature_dim, generator=gen))
            self.register_buffer("proj_g", torch.randn(cfg.randomized_dim, num_classes, generator=gen))
            in_dim = cfg.randomized_dim
        else:
            in_dim = feature_dim * num_classes
        self.discriminator = DomainDiscriminator(in_dim, cfg.hidden_dim, cfg.num_layers, cfg.dropout)

    def multilinear_map(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``T(f, g)``: ``f (B, D)``, ``g (B, K)`` -> ``(B, D * K)`` or ``(B, randomized_dim)``."""
        if self.randomized:
            return (f @ self.proj_f.T) * (g @ self.proj_g.T) / math.sqrt(self.config.randomized_dim)
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)  # (B, K, D) -> (B, K * D)

    def loss(self, f_s: torch.Tensor, f_t: torch.Tensor, logits_s: torch.Tensor | None = None,
             logits_t: torch.Tensor | None = None) -> torch.Tensor:
        assert logits_s is not None and logits_t is not None  # checked by forward
        b_s = f_s.shape[0]
        f = torch.cat([f_s, f_t], dim=0)  # (B, D)
        # conditioning on the predictions must not train the classifier to be confident here
        g = torch.softmax(torch.cat([logits_s, logits_t], dim=0), dim=1).detach()  # (B, K)
        h = reverse_gradient(self.multilinear_map(f, g), self.coefficient)
        d = self.discriminator(h)  # (B,)
        if not self.config.entropy_conditioning:
            return domain_adversarial_loss(d[:b_s], d[b_s:])
        entropy = -torch.special.xlogy(g, g).sum(dim=1)  # (B,)
        w = 1.0 + torch.exp(-entropy)
        return domain_adversarial_loss(d[:b_s], d[b_s:], w[:b_s], w[b_s:])
