"""Full fine-tuning: every parameter trains, the backbone at a smaller learning rate.

Yosinski et al. 2014, "How transferable are features in deep neural networks?"
(https://arxiv.org/abs/1411.1792): fine-tuning all transferred layers gives the best
target accuracy when there is enough target data. ``lr_backbone = lr * backbone_lr_ratio``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferkit.config import Options, TrainConfig, option
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import Stage, Strategy, group, head_parameters


@dataclass
class FullConfig(Options):
    """Parameters of full fine-tuning."""

    backbone_lr_ratio: float = option(0.1, "Backbone learning rate as a fraction of train.lr "
                                      "(pretrained weights need smaller steps than the new head).",
                                      gt=0, le=10)


@STRATEGIES.register("full", config=FullConfig, aliases=("finetune", "fine-tune"),
                     help="Every layer trains; the backbone at lr * backbone_lr_ratio.")
class FullStrategy(Strategy):
    """All backbone parameters and the head train in one stage."""

    name = "full"

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        backbone = model.backbone  # type: ignore[union-attr]
        groups = [group("backbone", backbone.parameters(), train.lr * self.config.backbone_lr_ratio),
                  group("head", head_parameters(model), train.lr)]
        return self._first(model, [Stage("full", groups, trainable_blocks=None)])
