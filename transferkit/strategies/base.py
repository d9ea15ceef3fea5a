"""The strategy contract: a strategy returns stages of parameter groups.

A :class:`Stage` is what one run of the training loop needs from a strategy: the
optimizer's parameter groups (torch dicts with ``"params"``, ``"lr"`` and ``"name"``),
how many epochs (``None``: the TrainConfig's), and how much of the backbone trains, which
tells the pipeline what it may cache:

- ``trainable_blocks == 0``: only mapping and head train, so the loop can run on cached
  frozen features (``model.forward_features``);
- ``trainable_blocks == k``: the top ``k`` blocks train, so the loop can run on cached
  activations of ``backbone.split_at(k)[0]``;
- ``trainable_blocks is None``: the backbone trains in a way that needs the full forward
  (full fine-tuning, LoRA, BitFit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError


@dataclass
class Stage:
    """One run of the training loop: parameter groups and what may be cached."""

    name: str
    param_groups: list[dict[str, Any]]
    epochs: int | None = None
    trainable_blocks: int | None = 0
    info: dict[str, Any] = field(default_factory=dict)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Every parameter of the stage's groups, in group order."""
        return [p for group in self.param_groups for p in group["params"]]

    def activate(self, model: nn.Module) -> None:
        """Make exactly this stage's parameters trainable (``requires_grad``) in ``model``.

        Call it before training the stage; multi-stage strategies (gradual) freeze and
        unfreeze between stages this way. :class:`~transferkit.train.Trainer` does the
        same with the groups it is given.
        """
        set_trainable(model, self.param_groups)

    def train_config(self, train: TrainConfig) -> TrainConfig:
        """``train`` with this stage's epoch count (when it has one)."""
        return train if self.epochs is None else dataclasses.replace(train, epochs=self.epochs)


def set_trainable(model: nn.Module, param_groups: Iterable[dict[str, Any]]) -> None:
    """``requires_grad`` is True for the groups' parameters and False for all others."""
    wanted = {id(p) for group in param_groups for p in group["params"]}
    for p in model.parameters():
        p.requires_grad_(id(p) in wanted)


def group(name: str, params: Iterable[nn.Parameter], lr: float) -> dict[str, Any]:
    """One optimizer parameter group (duplicates removed, order kept)."""
    seen: set[int] = set()
    unique = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    return {"params": unique, "lr": float(lr), "name": name}


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters that are new for the target task: everything outside ``model.backbone``
    (the mapping phi and the head of a TransferModel)."""
    backbone = getattr(model, "backbone", None)
    inside = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    return [p for p in model.parameters() if id(p) not in inside]


def backbone_blocks(model: nn.Module) -> list[nn.Module]:
    """The backbone's blocks, input to output, with a clear error when it has none."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ConfigError(
            f"This strategy needs a TransferModel with a 'backbone' attribute; got "
            f"{type(model).__name__}. Build the model with transferkit.model.TransferModel."
        )
    blocks = list(backbone.blocks())  # BackboneError (with the fix) when it lists none
    if not blocks:
        raise ConfigError(f"The backbone {type(backbone).__name__} has no blocks to train.")
    return blocks


class Strategy:
    """Base class: ``stages(model, train)`` returns the stages; ``finalize`` cleans up.

    ``__init__`` only stores the config (scikit-learn style); ``stages`` sets
    ``requires_grad`` for the first stage and may wrap modules (LoRA); ``finalize`` runs
    after training (LoRA merges its adapters so the saved model is the plain
    architecture).
    """

    name: str = ""
    #: True when nothing below the mapping ever trains (the backbone stays frozen), so the
    #: job can default to multi-scale features and evaluate on cached features
    frozen_backbone: bool = False

    def __init__(self, config: Any = None) -> None:
        self.config = config

    def stages(self, model: nn.Module, train: TrainConfig) -> list[Stage]:
        raise NotImplementedError

    def finalize(self, model: nn.Module) -> nn.Module:
        """Undo training-time wrapping after the last stage; returns the model."""
        return model

    def describe(self) -> dict[str, Any]:
        """JSON-ready name and config, for summary.json."""
        from transferkit.options import to_dict

        return {"name": self.name, "config": to_dict(self.config) if self.config is not None else {}}

    def _first(self, model: nn.Module, stages: list[Stage]) -> list[Stage]:
        stages[0].activate(model)
        return stages
