"""Domain-alignment losses: ``loss(f_s, f_t, logits_s, logits_t) -> scalar``.

One file per method, one registry. Every loss is an ``nn.Module`` built as
``cls(feature_dim, num_classes, config)``; it returns its trade-off ``weight`` times the
paper's loss, so that the trainer adds it to the classification loss as it is::

    >>> import torch
    >>> from transferkit.alignment import build_alignment
    >>> loss = build_alignment("coral", feature_dim=8, num_classes=3)
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

ALIGNMENTS: Registry[type[AlignmentLoss]] = Registry("alignment method", package="transferkit.alignment")


def build_alignment(name: str, feature_dim: int, num_classes: int,
                    params: Mapping[str, Any] | None = None) -> AlignmentLoss:
    """Create the alignment loss ``name`` with config keys ``params`` (validated).

    Unknown names and keys raise :class:`~transferkit.errors.ConfigError` that lists
    the valid ones.
    """
    entry = ALIGNMENTS.entry(name)
    return entry.obj(feature_dim, num_classes, None, **dict(params or {}))


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
