"""Linear probe: the backbone stays frozen; only the mapping and the head train.

Kornblith et al. 2019, "Do Better ImageNet Models Transfer Better?"
(https://arxiv.org/abs/1805.08974): logistic regression on frozen penultimate features.
Because nothing in the backbone trains, the pipeline trains on cached features in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferkit.config import TrainConfig
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import Stage, Strategy, group, head_parameters


@dataclass
class LinearProbeConfig:
    """The linear probe has no parameters of its own (lr, epochs: see train.*)."""


@STRATEGIES.register("linear-probe", config=LinearProbeConfig, aliases=("linear", "probe"),
                     help="Frozen backbone; the head trains on cached features (seconds).")
class LinearProbeStrategy(Strategy):
    """Frozen backbone, trainable mapping + head, one stage on cached features."""

    name = "linear-probe"

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        return self._first(model, [Stage("head", [group("head", head_parameters(model), train.lr)],
                                         trainable_blocks=0)])
