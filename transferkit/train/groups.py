"""The optimiser's parameter groups: named, with learning rates, and the objective's own."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError


def named_groups(model: nn.Module, param_groups: list[dict[str, Any]], config: TrainConfig) -> list[dict[str, Any]]:
    """Copies of the non-empty groups, each with a name, a learning rate and a weight decay
    (none where L2-SP replaces it: Li et al. 2018); every parameter must belong to ``model``."""
    groups = [dict(g) for g in param_groups or () if g.get("params")]
    if not groups:
        raise ConfigError("The 'param_groups' parameter of Trainer holds no parameters; the "
                          "strategy left nothing to train.")
    for i, g in enumerate(groups):
        g["params"] = list(g["params"])
        g.setdefault("name", f"group{i}")
        g.setdefault("lr", config.lr)
    model_params = {id(p) for p in model.parameters()}
    stray = [g["name"] for g in groups if any(id(p) not in model_params for p in g["params"])]
    if stray:
        raise ConfigError(f"Parameter groups {stray} hold parameters that are not part of the "
                          "model given to Trainer; pass the module that owns them.")
    for g in groups:
        g.setdefault("weight_decay", 0.0 if config.l2_sp > 0 else config.weight_decay)
    return groups


def objective_groups(objective: Any, model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """The group of an ``nn.Module`` objective's own trainable parameters (none for a function)."""
    if not isinstance(objective, nn.Module):
        return []
    model_params = {id(p) for p in model.parameters()}
    extra = [p for p in objective.parameters() if p.requires_grad and id(p) not in model_params]
    if not extra:
        return []
    return [{"params": extra, "lr": config.lr, "name": "objective", "weight_decay": config.weight_decay}]


def fusable(groups: list[dict[str, Any]]) -> bool:
    """Whether torch's fused optimiser kernels take these parameters: floating point, on the
    CPU or a CUDA device. On CPU the fused AdamW step is ~3.5x faster than the per-tensor
    loop (10 ms -> 2.8 ms a step for adapt's 4.5 M parameters, 2 cores)."""
    params = [p for g in groups for p in g["params"]]
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def build_optimizer(groups: list[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    """``config.optimizer`` (SGD with ``config.momentum``, else AdamW) over ``groups``, with
    torch's fused kernels where the parameters allow (:func:`fusable`)."""
    fused = {"fused": True} if fusable(groups) else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, **fused)
    return torch.optim.AdamW(groups, lr=config.lr, **fused)


__all__ = ["build_optimizer", "named_groups", "objective_groups"]
