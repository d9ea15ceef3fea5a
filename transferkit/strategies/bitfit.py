"""BitFit: only the bias terms of the backbone (and the new head) train.

Ben Zaken et al. 2022, "BitFit: Simple Parameter-efficient Fine-tuning for
Transformer-based Masked Language-models" (https://arxiv.org/abs/2106.10199):
``theta_trainable = {b : b a bias of the backbone} + head``, about 0.1 % of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferkit.config import Options, TrainConfig, option
from transferkit.errors import ConfigError
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import Stage, Strategy, group, head_parameters


@dataclass
class BitFitConfig(Options):
    """Parameters of BitFit."""

    bias_lr_ratio: float = option(1.0, "Learning rate of the backbone biases as a fraction of "
                                  "train.lr (the paper uses rates as large as the head's).",
                                  gt=0, le=100)


@STRATEGIES.register("bitfit", config=BitFitConfig, aliases=("bias",),
                     help="Only the backbone's biases and the head train.")
class BitFitStrategy(Strategy):
    """Backbone biases at ``lr * bias_lr_ratio`` + head at ``lr``."""

    name = "bitfit"

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        backbone = model.backbone  # type: ignore[union-attr]
        biases = [p for n, p in backbone.named_parameters() if n.rsplit(".", 1)[-1] == "bias"]
        if not biases:
            raise ConfigError(
                f"The backbone {type(backbone).__name__} has no bias parameters, so BitFit has "
                "nothing to train. Use --strategy lora or partial instead."
            )
        groups = [group("backbone-bias", biases, train.lr * self.config.bias_lr_ratio),
                  group("head", head_parameters(model), train.lr)]
        return self._first(model, [Stage("bitfit", groups, trainable_blocks=None)])
