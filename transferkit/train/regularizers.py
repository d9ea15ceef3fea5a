"""Loss terms usable with every strategy: L2-SP, class weights, the default objective."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import DataError
from transferkit.tasks._base import with_l2_sp


class L2SP:
    """L2-SP: pull fine-tuned weights toward their pretrained values.

    Li, Grandvalet & Davoine 2018, "Explicit Inductive Bias for Transfer Learning with
    Convolutional Networks" (https://arxiv.org/abs/1802.01483):
    ``Omega(w) = alpha/2 * ||w_S - w_S^0||^2 + beta/2 * ||w_new||^2`` where ``w_S`` are the
    backbone's (source) weights with pretrained values ``w_S^0`` and ``w_new`` the new
    layers (mapping and head). The paper's setting is ``beta = alpha / 10``
    (alpha = 0.1, beta = 0.01). Only parameters that train at construction time are
    tracked (frozen ones contribute 0).
    """

    def __init__(self, model: nn.Module, alpha: float, beta: float | None = None) -> None:
        self.alpha = float(alpha)
        self.beta = self.alpha / 10 if beta is None else float(beta)
        backbone = getattr(model, "backbone", None)
        source = {id(p) for p in backbone.parameters()} if backbone is not None else set()
        self.source: list[tuple[nn.Parameter, torch.Tensor]] = []
        self.new: list[nn.Parameter] = []
        for p in model.parameters():
            if not p.requires_grad:
                continue
            if id(p) in source:
                self.source.append((p, p.detach().clone()))
            else:
                self.new.append(p)

    def __call__(self) -> torch.Tensor:  # scalar
        terms = []
        if self.source and self.alpha:
            terms.append(self.alpha / 2 * sum(((p - p0.to(p.device)) ** 2).sum() for p, p0 in self.source))
        if self.new and self.beta:
            terms.append(self.beta / 2 * sum((p ** 2).sum() for p in self.new))
        if not terms:
            return torch.zeros(())
        return sum(terms)  # type: ignore[return-value]

    def parameters(self) -> set[int]:
        """ids of every parameter the penalty covers (they get no weight decay)."""
        return {id(p) for p, _ in self.source} | {id(p) for p in self.new}


def dataset_labels(data: Any) -> np.ndarray:
    """Integer labels of a dataset: its ``y``/``labels``/``targets`` or item ``[1]``."""
    for attr in ("y", "labels", "targets"):
        labels = getattr(data, attr, None)
        if labels is not None and not callable(labels):
            return np.asarray(labels, dtype=np.int64).reshape(-1)
    if hasattr(data, "tensors"):  # TensorDataset
        return data.tensors[1].cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray([int(data[i][1]) for i in range(len(data))], dtype=np.int64)


def class_weights(labels: Iterable[int] | np.ndarray, num_classes: int) -> torch.Tensor:
    """'auto' class weights: ``w_c = n / (K * n_c)`` (scikit-learn's 'balanced').

    Classes absent from ``labels`` get weight 0 (they contribute no loss anyway);
    unlabelled entries (``-1``) are ignored. Returns a float tensor ``(K,)``.
    """
    y = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels, dtype=np.int64)
    y = y[y >= 0]
    if y.size == 0:
        raise DataError("class_weights='auto' needs labelled training data; every label is -1.")
    if y.max() >= num_classes:
        raise DataError(f"Label {int(y.max())} is out of range for {num_classes} classes.")
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = y.size / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)




class CrossEntropyObjective(nn.Module):
    """The default objective: ``CE(forward(model, x), y; smoothing, weights) + L2-SP``.

    Called as ``objective(model, batch, step) -> (loss, logs)`` with ``batch = (x, y)``.
    Labels ``-1`` (unlabelled) are ignored.
    """

    def __init__(self, forward: Callable[[nn.Module, Any], torch.Tensor], *,
                 label_smoothing: float = 0.0, weight: torch.Tensor | None = None,
                 l2_sp: L2SP | None = None) -> None:
        super().__init__()
        self.forward_fn = forward
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", weight, persistent=False)
        self.l2_sp = l2_sp

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, labels = batch
        logits = self.forward_fn(model, inputs)  # (B, K)
        weight = self.weight.to(logits.device, torch.float32) if self.weight is not None else None
        ce = F.cross_entropy(logits.float(), labels, weight=weight,
                             label_smoothing=self.label_smoothing, ignore_index=-1)
        logs = {"ce": float(ce.detach())}
        return with_l2_sp(ce, logs, self.l2_sp)
