"""Gradual unfreezing with discriminative learning rates, as fastai's ``fine_tune``.

Howard & Ruder 2018, "Universal Language Model Fine-tuning for Text Classification"
(https://arxiv.org/abs/1801.06146). Stage "head": the backbone is frozen and the head
trains for ``head_epochs`` (on cached features). Stage "unfrozen": every block trains with
``lr_i = base * lr_ratio ** ((n - 1 - i) / (n - 1))`` for block ``i`` of ``n`` (input to
output), the head at ``base``, and, as fastai does, ``base = lr * unfrozen_lr_scale``
(half the head stage's rate).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferkit.config import Options, TrainConfig, option
from transferkit.strategies import STRATEGIES
from transferkit.strategies.base import Stage, Strategy, backbone_blocks, group, head_parameters


@dataclass
class GradualConfig(Options):
    """Parameters of gradual unfreezing."""

    head_epochs: int = option(1, "Epochs of the first stage, backbone frozen (fastai: "
                              "freeze_epochs=1).", ge=1)
    head_min_steps: int = option(500, "At least this many steps for the first stage: it trains "
                                 "on cached features, so more steps cost milliseconds and the "
                                 "backbone then starts unfreezing under a trained head (LP-FT).",
                                 ge=0)
    lr_ratio: float = option(0.01, "Learning rate of the input block relative to the top "
                             "block (fastai: slice(lr/100, lr)); geometric in between.", gt=0, le=1)
    unfrozen_lr_scale: float = option(0.5, "Base learning rate of the unfrozen stage as a "
                                      "fraction of train.lr (fastai halves it).", gt=0, le=10)


def discriminative_lrs(n: int, lr: float, ratio: float) -> list[float]:
    """``n`` learning rates from ``lr * ratio`` (input block) to ``lr`` (top), geometric."""
    if n == 1:
        return [lr]
    return [lr * ratio ** ((n - 1 - i) / (n - 1)) for i in range(n)]


@STRATEGIES.register("gradual", config=GradualConfig, aliases=("fine_tune", "ulmfit"),
                     help="Head first (backbone frozen), then all blocks with discriminative lrs.")
class GradualStrategy(Strategy):
    """Two stages: "head" (frozen backbone), then "unfrozen" (all blocks, lr by depth)."""

    name = "gradual"

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        cfg = self.config
        blocks = backbone_blocks(model)
        head = head_parameters(model)
        base = train.lr * cfg.unfrozen_lr_scale
        lrs = discriminative_lrs(len(blocks), base, cfg.lr_ratio)
        groups = []
        in_blocks: set[int] = set()
        for i, (block, lr) in enumerate(zip(blocks, lrs, strict=True)):
            params = [p for p in block.parameters() if id(p) not in in_blocks]
            in_blocks.update(id(p) for p in params)
            groups.append(group(f"block{i}", params, lr))
        # Backbone parameters outside every block (e.g. a stem the backbone does not list)
        # are the most general ones: give them the input block's rate.
        rest = [p for p in model.backbone.parameters() if id(p) not in in_blocks]  # type: ignore[union-attr]
        if rest:
            groups.insert(0, group("backbone-other", rest, lrs[0]))
        groups = [g for g in groups if g["params"]]
        groups.append(group("head", head, base))
        stages = [
            Stage("head", [group("head", head, train.lr)], epochs=cfg.head_epochs, trainable_blocks=0,
                  info={"min_steps": cfg.head_min_steps}),
            Stage("unfrozen", groups, epochs=None, trainable_blocks=None,
                  info={"lrs": [g["lr"] for g in groups]}),
        ]
        return self._first(model, stages)
