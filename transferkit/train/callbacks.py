"""What the loop tells the outside: :class:`Callback` hooks while it runs, and the
:class:`TrainResult` it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transferkit.train.trainer import Trainer

STOP_REASONS = ("completed", "early_stopping", "max_steps", "callback")


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    best_metric: float | None
    best_step: int | None
    steps: int
    epochs_run: int
    stopped: str
    history: list[dict[str, Any]] = field(default_factory=list)
    train_s: float = 0.0
    metric: str = "accuracy"
    resumed_from: int | None = None


class Callback:
    """Hooks into the loop; subclass and override what you need.

    Set ``trainer.should_stop = True`` to end training after the current step
    (``stopped == "callback"``).
    """

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None: ...

    def on_evaluate(self, trainer: Trainer, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None: ...


__all__ = ["STOP_REASONS", "Callback", "TrainResult"]
