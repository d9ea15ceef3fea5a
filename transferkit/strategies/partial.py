"""Partial fine-tuning: the last ``k`` backbone blocks and the head train.

Yosinski et al. 2014 (https://arxiv.org/abs/1411.1792): lower layers are general, upper
layers specific, so re-training only the top ``k`` blocks adapts the specific part. The
frozen bottom's activations can come from the cache (``backbone.split_at(k)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferkit.config import TrainConfig, option
from transferkit.errors import ConfigError
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import (
    Stage,
    Strategy,
    backbone_blocks,
    group,
    head_parameters,
    positive,
)


@dataclass
class PartialConfig:
    """Parameters of partial fine-tuning."""

    blocks: int = option(2, "How many of the backbone's top blocks train.")
    backbone_lr_ratio: float = option(0.1, "Learning rate of the trained blocks as a fraction "
                                      "of train.lr.")

    def __post_init__(self) -> None:
        positive("blocks", self.blocks, "partial", integer=True)
        positive("backbone_lr_ratio", self.backbone_lr_ratio, "partial", upper=10.0)


@STRATEGIES.register("partial", config=PartialConfig, aliases=("last-k",),
                     help="The last k backbone blocks and the head train (config: blocks).")
class PartialStrategy(Strategy):
    """Top ``blocks`` blocks at ``lr * backbone_lr_ratio``, head at ``lr``."""

    name = "partial"

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        blocks = backbone_blocks(model)
        k = self.config.blocks
        if k > len(blocks):
            raise ConfigError(
                f"The 'blocks' parameter of the partial strategy must be <= the backbone's "
                f"{len(blocks)} blocks. Got {k} instead. Use --strategy full to train them all."
            )
        top = [p for block in blocks[-k:] for p in block.parameters()]
        groups = [group(f"blocks[-{k}:]", top, train.lr * self.config.backbone_lr_ratio),
                  group("head", head_parameters(model), train.lr)]
        return self._first(model, [Stage("partial", groups, trainable_blocks=k)])
