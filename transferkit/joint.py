"""The joint objective: train on source and target together, ``λ·L_source + L_target``.

The seed's formulation of transfer minimises L_M(θ) + L_D(φθ): the source task keeps
shaping the shared backbone and mapping while the target task is learnt. Here this is an
objective for the one training loop (:class:`~transferkit.train.Trainer`): the labelled
target data is the trainer's ``train_data`` (epochs count over it) and the labelled source
data is cycled alongside as its ``target_data`` stream, so every step sees
``batch = (target_batch, source_batch)``::

    fit(data="digits", shots=10, backbone="runs/printed", strategy="full",
        joint_source="printed-digits", source_weight=0.5)

When source and target have the same class names the source batch goes through the
target head (labels re-indexed by name); otherwise the objective holds a second head for
the source classes ("one head per domain"), which trains with the model and is not part of
the saved target model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import ConfigError, DataError

EmbedFn = Callable[[nn.Module, Any], torch.Tensor]


def _model_embed(model: nn.Module, inputs: Any) -> torch.Tensor:  # (B, D')
    return model.features(inputs)  # type: ignore[operator]


class JointObjective(nn.Module):
    """``loss = source_weight * CE(h_s(φ(f(x_s))), y_s) + CE(h_t(φ(f(x_t))), y_t)``.

    Caruana 1997, "Multitask Learning" (https://doi.org/10.1023/A:1007379619641); the
    joint source + target fine-tuning of Ge & Yu 2017, "Borrowing Treasures from the
    Wealthy" (https://arxiv.org/abs/1702.08690). Shapes: embeddings (B, D'), logits
    (B, K_t) and (B, K_s).

    Parameters
    ----------
    feature_dim:
        D', the output size of the model's mapping φ (the head's input).
    source_classes, target_classes:
        Class names of each domain. Equal sets share the target head; otherwise a source
        head ``nn.Linear(feature_dim, K_s)`` is created here.
    source_weight:
        λ >= 0; λ = 0 gives exactly the target-only cross-entropy.
    label_smoothing:
        Label smoothing of both cross-entropies.
    embed:
        ``embed(model, inputs) -> (B, D')``: the mapped features of a batch as the current
        training stage computes them (raw inputs, cached features or cached activations);
        default ``model.features``. :meth:`set_embed` changes it between stages.
    """

    def __init__(self, feature_dim: int, source_classes: Sequence[str], target_classes: Sequence[str],
                 source_weight: float = 1.0, label_smoothing: float = 0.0,
                 embed: EmbedFn | None = None) -> None:
        super().__init__()
        if isinstance(source_weight, bool) or not isinstance(source_weight, (int, float)) \
                or not np.isfinite(source_weight) or source_weight < 0:
            raise ConfigError(f"The 'source_weight' parameter must be a number >= 0. "
                              f"Got {source_weight!r} instead.")
        self.source_weight = float(source_weight)
        self.label_smoothing = float(label_smoothing)
        self.source_classes = [str(c) for c in source_classes]
        self.target_classes = [str(c) for c in target_classes]
        self.shared_head = set(self.source_classes) == set(self.target_classes)
        if self.shared_head:
            # source label index -> target head index, matched by class name
            remap = [self.target_classes.index(c) for c in self.source_classes]
            self.register_buffer("remap", torch.tensor(remap, dtype=torch.long), persistent=False)
            self.source_head: nn.Linear | None = None
        else:
            self.source_head = nn.Linear(int(feature_dim), len(self.source_classes))
        self._embed: EmbedFn = embed or _model_embed

    def set_embed(self, embed: EmbedFn) -> JointObjective:
        """Use ``embed(model, inputs) -> (B, D')`` from now on; returns self."""
        self._embed = embed
        return self

    def logits(self, model: nn.Module, inputs_t: Any, inputs_s: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Target logits (B_t, K_t) and source logits (B_s, K_s or K_t when shared)."""
        f_t = self._embed(model, inputs_t)  # (B_t, D')
        f_s = self._embed(model, inputs_s)  # (B_s, D')
        logits_t = model.head(model.dropout(f_t))  # type: ignore[operator]
        head_s = model.head if self.source_head is None else self.source_head
        logits_s = head_s(model.dropout(f_s))  # type: ignore[operator]
        return logits_t, logits_s

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        try:
            (x_t, y_t), (x_s, y_s) = batch
        except (TypeError, ValueError):
            raise DataError("JointObjective expects batch = ((x_target, y_target), (x_source, y_source)); "
                            "pass the source data as the Trainer's target_data.") from None
        logits_t, logits_s = self.logits(model, x_t, x_s)
        if self.source_head is None:
            y_s = self.remap[y_s]
        loss_t = F.cross_entropy(logits_t, y_t, label_smoothing=self.label_smoothing)
        loss_s = F.cross_entropy(logits_s, y_s, label_smoothing=self.label_smoothing)
        loss = loss_t + self.source_weight * loss_s if self.source_weight else loss_t
        return loss, {"loss": float(loss.detach()), "loss_target": float(loss_t.detach()),
                      "loss_source": float(loss_s.detach())}

    def describe(self) -> dict[str, Any]:
        return {"source_weight": self.source_weight, "shared_head": self.shared_head,
                "source_classes": self.source_classes}


def load_source(name: str, data_cfg: Any) -> Any:
    """The labelled training split of the joint source (same split settings as the target,
    every example: no few-shot sampling)."""
    from transferkit.data import load

    source = load(name, split="train", seed=data_cfg.seed, split_seed=data_cfg.split_seed,
                  val_fraction=data_cfg.val_fraction, test_fraction=data_cfg.test_fraction,
                  skip_bad=data_cfg.skip_bad)
    if not source.labelled:
        raise DataError(f"The joint source '{name}' must be labelled; {int((source.y < 0).sum())} of "
                        f"its {len(source)} training examples have no label.")
    return source
