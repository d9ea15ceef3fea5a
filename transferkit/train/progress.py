"""What a fit shows while it runs: a progress bar on a terminal and TensorBoard scalars."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


class FitProgress:
    """The progress bar and the TensorBoard writer of one fit; each is off until opened.

    >>> shown = FitProgress()  # doctest: +SKIP
    >>> shown.open_bar("main", total=100, completed=0)  # doctest: +SKIP
    >>> shown.step(1, "main", loss=0.5)  # doctest: +SKIP
    >>> shown.close()  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None
        self.writer: Any = None

    def open_tensorboard(self, log_dir: Path) -> None:
        """Write scalars under ``log_dir``; warns and stays off when tensorboard is missing."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            # stacklevel 3: the warning points at Trainer.fit (this method <- _fit <- fit)
            warnings.warn("TensorBoard logging is on but tensorboard is not installed; skipping it. "
                          "pip install 'transferkit[tensorboard]'.", stacklevel=3)
            return
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def open_bar(self, label: str, total: int, completed: int) -> None:
        """Show a transient rich progress bar of ``total`` steps."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), transient=True)
        self.task = self.bar.add_task(label, total=total, completed=completed)
        self.bar.start()

    def step(self, step: int, stage: str, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, description=f"{stage} loss {loss:.4f}")

    def scalars(self, stage: str, record: dict[str, Any], step: int) -> None:
        """The numbers of an evaluation record, as ``<stage>/<key>`` TensorBoard scalars."""
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step",):
                    self.writer.add_scalar(f"{stage}/{key}", value, step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        if self.writer is not None:
            self.writer.close()


__all__ = ["FitProgress"]
