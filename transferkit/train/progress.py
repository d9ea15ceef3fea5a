"""What a fit shows while it runs: a progress bar on a terminal, and experiment trackers
(TensorBoard, MLflow, Weights & Biases) through Accelerate's tracker classes.

``--report-to tensorboard,mlflow,wandb`` (``train.report_to``; ``--tensorboard`` adds
TensorBoard) logs every evaluation record as ``<stage>/<key>`` scalars. One run directory
is one tracker run: each stage of a fit (and a ``--resume``) reopens the run the first
stage started, whose id is kept in ``<run>/trackers.json``; the training configuration is
stored once, when the tracker run starts. TensorBoard writes under ``<run>/tensorboard``;
MLflow and W&B write where their own settings say (``MLFLOW_TRACKING_URI``,
``MLFLOW_EXPERIMENT_NAME``, ``WANDB_PROJECT`` ..., experiment/project ``transferkit`` by
default). A tracker whose package is missing is a warning naming the install, and
training goes on.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from transferkit.rundir import run_name
from transferkit.trackers import PROJECT, TRACKERS

TRACKER_STATE = "trackers.json"

class FitProgress:
    """The progress bar and the trackers of one training stage; each is off until opened.

    >>> shown = FitProgress()  # doctest: +SKIP
    >>> shown.open_bar("main", total=100, completed=0)  # doctest: +SKIP
    >>> shown.step(1, "main", loss=0.5)  # doctest: +SKIP
    >>> shown.close()  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None
        self.trackers: list[Any] = []

    def open_trackers(self, names: list[str], run_dir: Path, config: dict[str, Any]) -> None:
        """Start (or reopen) the run directory's tracker runs; see the module docstring."""
        state_path = Path(run_dir) / TRACKER_STATE
        state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
        for name in names:
            try:
                tracker = _start(name, Path(run_dir), state.get(name))
            except ImportError:
                # stacklevel 3: the warning points at Trainer.fit (this method <- _fit <- fit)
                warnings.warn(f"--report-to {name}: {name} is not installed; not logging to it. "
                              f"pip install {TRACKERS[name]}.", stacklevel=3)
                continue
            if name not in state:  # a new tracker run: its id for later stages, its config once
                tracker.store_init_configuration(config)
                state[name] = _run_id(name, tracker)
            self.trackers.append(tracker)
        if self.trackers:
            state_path.write_text(json.dumps(state, indent=1), encoding="utf-8")

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
        """The numbers of an evaluation record, as ``<stage>/<key>`` scalars."""
        values = {f"{stage}/{k}": v for k, v in record.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}
        for tracker in self.trackers:
            tracker.log(values, step=step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


def _start(name: str, run_dir: Path, run_id: str | None) -> Any:
    """Accelerate's tracker ``name`` for ``run_dir``, started (``run_id``: reopen that run)."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    cls = LOGGER_TYPE_TO_CLASS[name]
    if name == "tensorboard":
        import torch.utils.tensorboard  # noqa: F401  # ImportError here, not deep inside start()

        tracker = cls(".", run_dir / "tensorboard")  # writes <run>/tensorboard
    elif name == "mlflow":
        import mlflow  # noqa: F401

        tracker = cls(experiment_name=PROJECT, run_id=run_id, run_name=run_name(run_dir))
    else:
        import wandb  # noqa: F401

        kwargs = {"name": run_name(run_dir), "dir": str(run_dir)}
        if run_id:
            kwargs.update(id=run_id, resume="allow")
        tracker = cls(os.environ.get("WANDB_PROJECT", PROJECT), **kwargs)
    tracker.start()
    return tracker


def _run_id(name: str, tracker: Any) -> str | None:
    if name == "mlflow":
        return tracker.active_run.info.run_id
    if name == "wandb":
        return tracker.run.id
    return None


__all__ = ["FitProgress"]
