"""The model that trains and ships: backbone -> mapping phi -> head.

``TransferModel`` composes the three parts of the flow in DESIGN.md. Strategies decide
which of its parameters train; the trainer never needs to know which parts exist.
``forward_features`` runs only phi and the head, so heads can train on cached features.
The task builds the head (``Task.build_head``); without one it is a linear layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from transferkit.backbones.base import Backbone


class TransferModel(nn.Module):
    """``outputs = head(dropout(mapping(backbone(inputs))))``.

    ``num_classes`` is the width of the head's output (the number of classes for
    classification); ``head`` is the task's head (default: ``nn.Linear``).
    """

    def __init__(self, backbone: Backbone, num_classes: int, mapping: nn.Module | None = None,
                 head_dropout: float = 0.0, head: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.mapping = mapping if mapping is not None else nn.Identity()
        out_dim = getattr(self.mapping, "out_dim", backbone.feature_dim)
        self.dropout = nn.Dropout(head_dropout)
        self.head = head if head is not None else nn.Linear(out_dim, num_classes)
        self.num_classes = num_classes

    def features(self, inputs: Any) -> torch.Tensor:  # (B, D)
        """Backbone features, after the mapping phi."""
        return self.mapping(self.backbone(inputs))

    def forward_features(self, feats: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, K)
        """Logits from (cached) backbone features (a dense task's feature maps, a list, go to
        its head as they are)."""
        mapped = self.mapping(feats)
        if getattr(self.head, "reads_neighbours", False) and isinstance(feats, torch.Tensor):
            # a head that reads each word's neighbours (token classification) takes padded words
            # as a sentence's edge: zero vectors, also after a mapping that moves zero elsewhere
            mapped = mapped * (feats.abs().amax(-1, keepdim=True) > 0).to(mapped.dtype)
        feats = mapped
        return self.head(self.dropout(feats) if isinstance(feats, torch.Tensor) else feats)

    def forward(self, inputs: Any) -> torch.Tensor:  # (B, K)
        return self.forward_features(self.backbone(inputs))
