"""Evaluation inside the loop: the task's metrics of the model on held-out batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from transferkit.tasks import Task
from transferkit.train.batches import to_device
from transferkit.train.modes import set_train_mode


@torch.no_grad()
def evaluate_model(model: nn.Module, batches: Iterable[tuple[Any, Any]], *, task: Task,
                   forward: Callable[[nn.Module, Any], torch.Tensor], device: torch.device,
                   autocast: Callable[[], Any]) -> dict[str, float]:
    """``task``'s validation metrics of ``model`` over ``(inputs, labels)`` batches, in eval
    mode; a model that was training is put back in training mode (frozen BatchNorm stays
    in eval mode)."""
    was_training = model.training
    model.eval()
    acc = task.accumulator()
    for inputs, y in batches:
        inputs, y = to_device(inputs, device), to_device(y, device)
        with autocast():
            outputs = forward(model, inputs).float()  # (B, K)
        acc.update(outputs, y)
    if was_training:
        set_train_mode(model)
    return acc.compute()


__all__ = ["evaluate_model"]
