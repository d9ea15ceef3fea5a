"""Domain-alignment losses: ``loss(f_s, f_t, logits_s, logits_t) -> scalar``.

One file per method, one registry. Every loss is an ``nn.Module`` built as
``ALIGNMENTS.build(name, params, feature_dim=D, num_classes=K)``; it returns its trade-off
``weight`` times the paper's loss, so that the trainer adds it to the classification loss
as it is::

    >>> import torch
    >>> from transferkit.alignment import ALIGNMENTS
    >>> loss = ALIGNMENTS.build("coral", {"weight": 1.0}, feature_dim=8, num_classes=3)
    >>> value = loss(torch.randn(16, 8), torch.randn(12, 8))   # scalar

Adversarial losses (``dann``, ``cdan``) own their domain discriminator as a submodule
and reverse its gradient, so one optimizer minimising the total loss trains both sides;
call ``set_progress(p)`` with the training progress ``p`` in [0, 1] for their warm-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transferkit.alignment._base import (
    AlignmentConfig,
    AlignmentLoss,
    DomainDiscriminator,
    GradientReversal,
    grl_coefficient,
    reverse_gradient,
)
from transferkit.registry import Registry

# adapt's method_params hold an alignment loss's config keys
ALIGNMENTS: Registry[type[AlignmentLoss]] = Registry("alignment method", package="transferkit.alignment",
                                                     params_key="method_params")


def build_alignment(name: str, feature_dim: int, num_classes: int,
                    params: Mapping[str, Any] | None = None) -> AlignmentLoss:
    """``ALIGNMENTS.build(name, params, feature_dim=..., num_classes=...)``.

    Unknown names and keys raise :class:`~transferkit.errors.ConfigError` that lists
    the valid ones.
    """
    return ALIGNMENTS.build(name, params, feature_dim=feature_dim, num_classes=num_classes)


__all__ = [
    "ALIGNMENTS",
    "AlignmentConfig",
    "AlignmentLoss",
    "DomainDiscriminator",
    "GradientReversal",
    "build_alignment",
    "grl_coefficient",
    "reverse_gradient",
]
