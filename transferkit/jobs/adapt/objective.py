"""adapt's training objective: the task's source loss plus λ times an alignment loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class AdaptObjective(nn.Module):
    """``L = sum_i w_i l(h(φ(x_i^s)), y_i^s) / sum_i w_i + λ · A(φ(x^s), φ(x^t), logits)``.

    ``embed(model, inputs) -> (B, D)`` gives the features the alignment acts on (after φ),
    ``head(model, f) -> (B, K)`` the logits; ``loss(outputs, y) -> (B,)`` is the task's
    per-example loss ``l`` (default: cross-entropy; regression: MSE/Huber on standardised
    targets, see :meth:`transferkit.tasks.Task.example_loss`). ``alignment`` is an
    :class:`~transferkit.alignment.AlignmentLoss` (it carries λ as its ``weight``), or None
    for the source-only model. Batches are ``(x, y, w)`` or, with target data,
    ``((x_s, y_s, w_s), (x_t, y_t, w_t))``; target labels are never read. For a tag per
    word (features ``(B, W, D)``) the alignment acts on the words of both domains
    (:func:`words_of`; ``y_t`` only says where the target's words are).
    """

    def __init__(self, alignment: nn.Module | None, embed: Callable[[nn.Module, Any], torch.Tensor],
                 head: Callable[[nn.Module, torch.Tensor], torch.Tensor],
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.loss = loss or (lambda out, y: F.cross_entropy(out.float(), y, reduction="none"))
        self.alignment = alignment
        self.embed = embed
        self.head = head
        self.total_steps = 1

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        has_target = isinstance(batch[0], (tuple, list))
        x_s, y_s, w_s = batch[0] if has_target else batch
        f_s = self.embed(model, x_s)  # (B_s, D)
        logits_s = self.head(model, f_s)  # (B_s, K)
        per_example = self.loss(logits_s, y_s).float()  # (B_s,)
        w_s = w_s.to(per_example.dtype)
        loss = (w_s * per_example).sum() / w_s.sum().clamp_min(1e-12)
        logs = {"source_loss": float(loss.detach())}
        if self.alignment is None or not has_target:
            return loss, logs
        x_t, y_t = batch[1][0], batch[1][1]
        f_t = self.embed(model, x_t)  # (B_t, D)
        logits_t = self.head(model, f_t) if getattr(self.alignment, "needs_logits", False) else None
        if f_s.dim() == 3:  # a tag per word: the words of both domains are the samples
            f_s, logits_s, f_t, logits_t = words_of(f_s, logits_s, y_s, f_t, logits_t, y_t)
        self.alignment.set_progress(min(1.0, step / max(1, self.total_steps)))
        align = self.alignment(f_s.float(), f_t.float(),
                               logits_s.float() if logits_t is not None else None,
                               logits_t.float() if logits_t is not None else None)
        logs["align"] = float(align.detach())
        return loss + align, logs


def words_of(f_s: torch.Tensor, logits_s: torch.Tensor, y_s: torch.Tensor, f_t: torch.Tensor,
             logits_t: torch.Tensor | None, y_t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-word features ``(B, W, D)`` (and logits ``(B, W, K)``) -> the rows of the words,
    ``(M, D)``: a position holds a word where its tag is not padding (-100; an unlabelled
    target word is -1, its label is never read)."""
    from transferkit.data.tags import IGNORE

    def rows(t: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor | None:
        if t is None:
            return None
        w = min(t.shape[1], y.shape[1])
        return t[:, :w][y[:, :w].to(t.device) != IGNORE]

    return rows(f_s, y_s), rows(logits_s, y_s), rows(f_t, y_t), rows(logits_t, y_t)


def build_alignment(method: str, params: dict[str, Any], weight: float | None, feature_dim: int,
                    num_classes: int) -> nn.Module:
    """The alignment loss of ``method`` on ``feature_dim``-d features; ``weight`` (λ)
    overrides the method's own (None keeps it)."""
    from transferkit.alignment import build_alignment as build

    params = dict(params)
    if weight is not None:
        params["weight"] = weight
    return build(method, feature_dim=feature_dim, num_classes=num_classes, params=params)


def default_weight(method: str, params: dict[str, Any]) -> float | None:
    """The λ an alignment method trains with when none is given: its params', else its config's."""
    from transferkit.alignment import ALIGNMENTS

    if "weight" in params:
        return float(params["weight"])
    entry = ALIGNMENTS.entry(method)
    return float(entry.config().weight) if entry.config else None
