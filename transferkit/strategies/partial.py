"""Partial fine-tuning: the last ``k`` backbone blocks and the head train.

Yosinski et al. 2014 (https://arxiv.org/abs/1411.1792): lower layers are general, upper
layers specific, so re-training only the top ``k`` blocks adapts the specific part. The
frozen bottom's activations can come from the cache (``backbone.split_at(k)``).

By default the head first trains alone on cached features (``head_epochs``, at least
``head_min_steps`` steps), then the top blocks and the head train together: a fresh head's
large early gradients would otherwise distort the pretrained blocks (LP-FT, Kumar et al.
2022, https://arxiv.org/abs/2202.10054). ``head_epochs=0`` skips that stage (``fit
--strategy auto`` does, since its partial rung starts from the trained probe).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferkit.config import Options, TrainConfig, option
from transferkit.errors import ConfigError
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import Stage, Strategy, backbone_blocks, group, head_parameters


@dataclass
class PartialConfig(Options):
    """Parameters of partial fine-tuning."""

    blocks: int = option(2, "How many of the backbone's top blocks train.", ge=1)
    backbone_lr_ratio: float = option(0.1, "Learning rate of the trained blocks as a fraction "
                                      "of train.lr.", gt=0, le=10)
    head_epochs: int = option(1, "Epochs of a first stage in which only the head trains, on "
                              "cached features (LP-FT); 0 skips it.", ge=0)
    head_min_steps: int = option(500, "At least this many steps for that head stage (it costs "
                                 "milliseconds per step on cached features).", ge=0)


@STRATEGIES.register("partial", config=PartialConfig, aliases=("last-k",),
                     help="The last k backbone blocks and the head train (config: blocks).")
class PartialStrategy(Strategy):
    """Optionally the head alone first; then the top ``blocks`` blocks at
    ``lr * backbone_lr_ratio`` and the head at ``lr``."""

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
        head = head_parameters(model)
        groups = [group(f"blocks[-{k}:]", top, train.lr * self.config.backbone_lr_ratio),
                  group("head", head, train.lr)]
        stages = [Stage("partial", groups, trainable_blocks=k)]
        if self.config.head_epochs:
            stages.insert(0, Stage("head", [group("head", head, train.lr)],
                                   epochs=self.config.head_epochs, trainable_blocks=0,
                                   info={"min_steps": self.config.head_min_steps}))
        return self._first(model, stages)
