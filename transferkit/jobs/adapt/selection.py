"""Model selection without target labels: a label-free validator, restricted to the
checkpoints (and lambdas) that still solve the source task."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from transferkit.jobs.adapt.objective import AdaptObjective
from transferkit.train import Callback, Trainer

T = TypeVar("T")


@dataclass
class Views:
    """How to run a model on the evaluation sets (``source_val``, ``target_train``), and how
    the task judges it there (``task``: None is classification)."""

    embed_eval: Callable[[nn.Module, str], tuple[np.ndarray, np.ndarray]]  # set -> (f, logits)
    y_source_val: np.ndarray
    task: Any = None
    #: token task: set -> which (sentence, word) positions hold a word; the validators then
    #: score words (features ``(N, W, D)`` -> ``(M, D)``), not sentences
    word_masks: dict[str, np.ndarray] | None = None
    #: the class names, for the task's metrics (the token task names its entity types by them)
    classes: list[str] | None = None

    def words(self, which: str, f: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The word rows of ``which``'s features and logits (unchanged without word masks)."""
        if self.word_masks is None or f.ndim != 3:
            return f, logits
        mask = np.zeros(f.shape[:2], dtype=bool)
        m = self.word_masks[which]
        w = min(mask.shape[1], m.shape[1])
        mask[:, :w] = m[:, :w]
        return f[mask], logits[mask]

    def word_labels(self) -> np.ndarray:
        """The source-validation labels the validators read: per word for the token task."""
        if self.word_masks is None:
            return self.y_source_val
        return np.asarray(self.y_source_val)[self.word_masks["source_val"]]

    @property
    def metric(self) -> str:
        """The source-validation metric a checkpoint must keep (the task's selection metric)."""
        return "accuracy" if self.task is None else self.task.selection_metric

    def source_score(self, logits_s: np.ndarray) -> float:
        """The source-validation metric of raw outputs ``logits_s`` (N, K)."""
        if not len(logits_s):
            return 0.0
        if self.task is None:
            return float(np.mean(np.argmax(logits_s, axis=1) == self.y_source_val))
        out = self.task.postprocess(torch.from_numpy(logits_s)).numpy()
        meta = {"classes": list(self.classes)} if self.classes else {}
        return float(self.task.metrics(self.y_source_val, out, meta)[self.metric])

    def losses(self, logits_s: np.ndarray) -> np.ndarray | None:
        """Per-example source-validation losses of a task without classes (None: classes,
        whose validators take the labels themselves)."""
        if self.task is None or self.task.targets in ("classes", "tags"):
            return None
        with torch.no_grad():
            return self.task.example_loss(torch.from_numpy(logits_s),
                                          torch.from_numpy(np.asarray(self.y_source_val))).numpy()


def make_context(f_s: np.ndarray, logits_s: np.ndarray, y_s: np.ndarray | None, f_t: np.ndarray,
                 logits_t: np.ndarray, losses_s: np.ndarray | None = None) -> Any:
    """A :class:`~transferkit.validation.ValidationContext`: source-val features, logits and
    labels (or, for a task without classes, per-example losses), target features and
    logits (the context has no field for target labels)."""
    from transferkit.validation import ValidationContext

    labels = None if losses_s is not None or y_s is None else np.asarray(y_s, dtype=np.int64)
    return ValidationContext(logits_t=logits_t, features_t=f_t, features_s=f_s, logits_s=logits_s,
                             labels_s=labels, losses_s=losses_s)


def select_eligible(items: Sequence[T], key: Callable[[T], tuple[float, float]], tolerance: float) -> T | None:
    """The item with the best validator score among those whose source-validation accuracy
    is within ``tolerance`` of the best accuracy; ``key(item) = (source accuracy, score)``.
    Ties in score go to the higher source accuracy. None for no items."""
    if not items:
        return None
    top = max(key(i)[0] for i in items)
    eligible = [i for i in items if key(i)[0] >= top - tolerance - 1e-12]
    return max(eligible, key=lambda i: (key(i)[1], key(i)[0]))


class ValidatorSelection(Callback):
    """Keeps the checkpoint with the best label-free validator score (not source-val accuracy).

    At every evaluation: embed source-val and (a fixed subset of) target-train with the
    current model and score them with the validator (higher is better). A checkpoint is
    *eligible* only while its source-validation accuracy is within ``source_tolerance`` of
    the best one seen in this run: an adapted model must still solve the source task, and
    validators such as SND or entropy otherwise reward the soft, under-trained predictions
    of the first evaluations (measured on printed -> handwritten digits: SND alone picked
    the first epoch). The choice is the eligible checkpoint with the best score; only the
    checkpoints that could still become that choice (the Pareto front of source accuracy
    and score) keep a copy of their weights. ``source_tolerance=1`` disables the
    constraint. ``oracle`` (optional) is called on the same model for *reporting only*;
    its values never reach the selection.
    """

    def __init__(self, validator: Callable[[Any], float], views: Views,
                 oracle: Callable[[nn.Module], dict[str, float]] | None = None,
                 objective: AdaptObjective | None = None, source_tolerance: float = 1.0) -> None:
        self.validator = validator
        self.views = views
        self.oracle = oracle
        self.objective = objective
        self.source_tolerance = float(source_tolerance)
        self.history: list[dict[str, Any]] = []
        # (source accuracy, score, history index, weights) of the non-dominated checkpoints
        self._front: list[tuple[float, float, int, dict[str, torch.Tensor]]] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.objective is not None:
            self.objective.total_steps = max(1, trainer.total_steps)

    def _choice(self) -> tuple[float, float, int, dict[str, torch.Tensor]] | None:
        return select_eligible(self._front, lambda c: (c[0], c[1]), self.source_tolerance)

    @property
    def best_score(self) -> float | None:
        c = self._choice()
        return None if c is None else c[1]

    @property
    def best_step(self) -> int | None:
        c = self._choice()
        return None if c is None else self.history[c[2]]["step"]

    @property
    def best_stage(self) -> str | None:
        c = self._choice()
        return None if c is None else self.history[c[2]]["stage"]

    @property
    def best_state(self) -> dict[str, torch.Tensor] | None:
        c = self._choice()
        return None if c is None else c[3]

    @torch.no_grad()
    def on_evaluate(self, trainer: Trainer, record: dict[str, Any]) -> None:
        from transferkit.train.modes import set_train_mode

        model = trainer.model
        was_training = model.training
        model.eval()
        f_s, logits_s = self.views.embed_eval(model, "source_val")
        f_t, logits_t = self.views.embed_eval(model, "target_train")
        words_s, wl_s = self.views.words("source_val", f_s, logits_s)
        words_t, wl_t = self.views.words("target_train", f_t, logits_t)
        score = float(self.validator(make_context(words_s, wl_s, self.views.word_labels(), words_t, wl_t,
                                                  self.views.losses(logits_s))))
        metric = self.views.metric
        src = record.get(f"val_{metric}")
        if src is None:  # the trainer reported none: compute it from the source-val outputs
            src = self.views.source_score(logits_s)
        entry: dict[str, Any] = {"stage": trainer.stage, "step": trainer.step,
                                 "validator": score if np.isfinite(score) else None,
                                 f"source_val_{metric}": float(src)}
        self.history.append(entry)
        if np.isfinite(score) and not any(a >= src and b >= score for a, b, *_ in self._front):
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            self._front = [c for c in self._front if not (src >= c[0] and score >= c[1])]
            self._front.append((float(src), score, len(self.history) - 1, state))
        chosen = self._choice()
        for i, h in enumerate(self.history):
            h["selected"] = chosen is not None and i == chosen[2]
        if self.oracle is not None:
            entry["oracle"] = self.oracle(model)
        if was_training:
            set_train_mode(model)


def choose_candidate(candidates: list[dict[str, Any]], tolerance: float,
                     metric: str = "accuracy") -> dict[str, Any]:
    """The validator's choice among trained candidates (one per lambda) whose source-val
    ``metric`` (accuracy; R² for regression) is within ``tolerance`` of the best: no target
    labels are read."""
    scored = [c for c in candidates if c["validator"] is not None] or candidates
    best = select_eligible(scored, lambda c: (c.get(f"source_val_{metric}") or 0.0,
                                              -np.inf if c["validator"] is None else c["validator"]),
                           tolerance)
    if best is None:
        raise ValueError("choose_candidate needs at least one trained candidate.")
    return best
