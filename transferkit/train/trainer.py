"""The one training loop.

Every strategy and every adaptation method trains through :class:`Trainer`: a strategy
gives parameter groups, a method gives an ``objective`` (a loss, possibly an ``nn.Module``
with parameters of its own, e.g. a domain discriminator), and the loop does the rest —
Accelerate (one CPU process by default, DDP under ``accelerate launch``), schedules,
clipping, early stopping with best-weights restore, atomic checkpoints and exact resume,
``metrics.jsonl``, progress bars and TensorBoard.

    >>> trainer = Trainer(model, TrainConfig(epochs=5), param_groups=stage.param_groups,
    ...                   train_data=train, val_data=val, collate_fn=collate)  # doctest: +SKIP
    >>> result = trainer.fit()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from transferkit.config import TrainConfig
from transferkit.devices import resolve_device
from transferkit.errors import ConfigError, TrainingError
from transferkit.progress import progress_wanted
from transferkit.rundir import MetricsLog, RunDirLock
from transferkit.strategies.base import set_trainable
from transferkit.tasks import Task, get_task
from transferkit.trackers import tracker_names
from transferkit.train.batches import (
    batch_loader,
    collate_pairs,
    cycle_batches,
    epoch_batches,
    split_batch,
    to_device,
)
from transferkit.train.callbacks import Callback, TrainResult
from transferkit.train.checkpoint import (
    check_data_position,
    cpu_state,
    latest_checkpoint,
    remove_partial_checkpoints,
)
from transferkit.train.distributed import (
    StepModule,
    broadcast_buffers,
    finite_everywhere,
    make_accelerator,
    optimizer_step,
)
from transferkit.train.evaluation import evaluate_model
from transferkit.train.groups import build_optimizer, named_groups, objective_groups
from transferkit.train.modes import set_train_mode
from transferkit.train.progress import FitProgress
from transferkit.train.regularizers import L2SP
from transferkit.train.resume import ResumableLoop
from transferkit.train.schedule import lr_factor


class Trainer(ResumableLoop):
    """The one training loop (Accelerate; DDP under ``accelerate launch``).

    Parameters
    ----------
    model:
        The module whose weights are trained and checkpointed (a TransferModel).
    config:
        :class:`~transferkit.config.TrainConfig`.
    param_groups:
        Optimizer groups from a strategy stage (``"params"``, ``"lr"``, ``"name"``).
        Exactly these parameters of ``model`` train; the others are frozen.
    train_data, val_data:
        Datasets of ``(input, label)`` items; ``collate_fn(items) -> (inputs, labels)``.
    objective:
        ``objective(model, batch, step) -> (loss, logs)``; default: the task's loss
        (``task.objective``). An ``nn.Module`` objective's parameters train too.
    forward:
        ``forward(model, inputs) -> logits (B, K)`` for the default objective and for
        evaluation; default ``model(inputs)``. Pass ``TransferModel.forward_features``
        style callables to train on cached features.
    target_data:
        Unlabelled target data cycled alongside; the objective then receives
        ``batch = (source_batch, target_batch)``.
    run_dir, stage, resume:
        Write ``metrics.jsonl`` and ``checkpoints/<stage>/`` there; ``resume=True``
        continues from the newest checkpoint of ``stage`` (bitwise-identical on CPU).
    find_unused_parameters:
        For DDP: set it when some trainable parameter does not take part in every step.
    min_steps:
        Early stopping never ends training before this many steps, nor before the
        learning-rate warmup is over (a head still warming up has not been judged yet).
    extend:
        Whether ``resume`` may continue a *finished* checkpoint that planned fewer steps than
        this run (more epochs, a larger ``max_steps``): from its final weights and optimizer
        state, with a new schedule that starts at the rate the finished one ended at
        (:func:`~transferkit.train.schedule.continued_factor`). False refuses it (a stage
        that later stages started from cannot grow).

    Several processes (``accelerate launch``, DDP): see :mod:`transferkit.train.distributed`.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        *,
        param_groups: list[dict[str, Any]],
        train_data: Dataset,
        val_data: Dataset | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        objective: Callable[..., tuple[torch.Tensor, dict[str, float]]] | None = None,
        forward: Callable[[nn.Module, Any], torch.Tensor] | None = None,
        target_data: Dataset | None = None,
        run_dir: str | Path | None = None,
        stage: str = "main",
        resume: bool = False,
        metric: str | None = None,
        seed: int = 0,
        callbacks: Sequence[Callback] = (),
        log: Callable[[str], None] | None = print,
        val_collate_fn: Callable[[list[Any]], Any] | None = None,
        target_collate_fn: Callable[[list[Any]], Any] | None = None,
        num_classes: int | None = None,
        restore_best: bool = True,
        progress: bool | None = None,
        cpu: bool | None = None,
        find_unused_parameters: bool = False,
        lengths: Sequence[int] | np.ndarray | None = None,
        task: Task | None = None,
        min_steps: int = 0,
        extend: bool = True,
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"The 'config' parameter of Trainer must be a TrainConfig. "
                              f"Got {type(config).__name__} instead.")
        self.task = task if task is not None else get_task()
        metric = metric or self.task.selection_metric
        self.task.direction(metric)  # an unknown metric is an error naming the valid ones
        if resume and run_dir is None:
            raise ConfigError("resume=True needs a run directory (run_dir / --out) to resume from.")
        if len(train_data) == 0:  # type: ignore[arg-type]
            raise ConfigError("The training data is empty; there is nothing to train on.")
        self.model = model
        self.config = config
        self.train_data = train_data
        self.val_data = val_data
        self.target_data = target_data
        self.collate_fn = collate_fn or collate_pairs
        self.val_collate_fn = val_collate_fn or self.collate_fn
        self.target_collate_fn = target_collate_fn or self.collate_fn
        self.forward = forward or (lambda m, x: m(x))
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.stage = stage
        self.resume = resume
        self.metric = metric
        self.seed = seed
        self.callbacks = list(callbacks)
        self.log = log
        self.restore_best = restore_best
        self.progress = progress
        #: where the loop runs (``train.device``; ``cpu=True`` forces the CPU)
        self.target_device = self._choose_device(cpu)
        self.cpu = self.target_device.type == "cpu"
        self.find_unused_parameters = find_unused_parameters
        self.min_steps = max(0, int(min_steps))
        self.extend = extend
        # texts of similar length share batches (train.group_by_length; epoch_batches checks
        # that there is one length per example); None: random batches
        self.lengths = lengths if config.group_by_length else None
        self.should_stop = False
        self.last_lrs: dict[str, float] = {}
        self.device = torch.device("cpu")
        self.world, self.rank, self.is_main = 1, 0, True
        self.num_classes = num_classes or getattr(model, "num_classes", None)

        groups = named_groups(model, param_groups, config)
        set_trainable(model, groups)
        self.l2_sp = L2SP(model, config.l2_sp) if config.l2_sp > 0 else None
        if objective is None:  # the task's loss (cross-entropy for classification)
            objective = self.task.objective(self.forward, config, train_data,
                                            num_outputs=self.num_classes, l2_sp=self.l2_sp)
        self.objective = objective
        self.param_groups = groups + objective_groups(objective, model, config)

    # ------------------------------------------------------------------ helpers
    def _choose_device(self, cpu: bool | None) -> torch.device:
        device = torch.device("cpu") if cpu else resolve_device(self.config.device, "train.device")
        if self.config.mixed_precision == "fp16" and device.type != "cuda":
            raise ConfigError(f"--mixed-precision fp16 needs a CUDA GPU (a gradient scaler on fp16 "
                              f"autocast); this run trains on {device}. Use --mixed-precision bf16 "
                              "(or no) here.")
        return device

    def _say(self, text: str) -> None:
        if self.log is not None and self.is_main:
            self.log(text)

    def _loader(self, data: Dataset, batches: list[list[int]], collate: Callable) -> DataLoader:
        return batch_loader(data, batches, collate, self.config.num_workers, self.seed)

    def _target_loader(self, batches: list[list[int]]) -> DataLoader:
        return self._loader(self.target_data, batches, self.target_collate_fn)  # type: ignore[arg-type]

    def _autocast(self) -> Any:
        precision = self.config.mixed_precision
        if precision == "no":
            return nullcontext()
        return torch.autocast(device_type=self.device.type,
                              dtype=torch.bfloat16 if precision == "bf16" else torch.float16)

    def evaluate(self, data: Dataset | None = None) -> dict[str, float]:
        """The task's validation metrics (loss and the selection metric; for classification
        also accuracy and balanced accuracy) of the (unwrapped) model on ``data``."""
        data = self.val_data if data is None else data
        if data is None:
            return {}
        n, size = len(data), self.config.batch_size  # type: ignore[arg-type]
        batches = [list(range(i, min(n, i + size))) for i in range(0, n, size)]
        return evaluate_model(self.model, self._loader(data, batches, self.val_collate_fn), task=self.task,
                              forward=self.forward, device=self.device, autocast=self._autocast)

    def _improved(self, metrics: dict[str, float]) -> bool:
        best = None if self.best_metric is None else {self.metric: self.best_metric,
                                                       **self.best_tiebreak}
        return self.task.improves(metrics, best, self.metric)

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.perf_counter() - self._t0)

    # ------------------------------------------------------------------ fit
    def fit(self) -> TrainResult:
        """Train; returns a :class:`TrainResult`. The model ends with the best weights
        (when there is validation data and ``restore_best``)."""
        if not self.cpu and str(self.config.device).startswith("cuda:"):
            # a named GPU: Accelerate trains on the current CUDA device (under `accelerate
            # launch`, 'auto' leaves each process on the GPU the launcher gave it)
            torch.cuda.set_device(self.target_device)
        self.accelerator = make_accelerator(self.cpu, self.find_unused_parameters, self.config.mixed_precision)
        self.device = self.accelerator.device
        self.world = self.accelerator.num_processes
        self.rank = self.accelerator.process_index
        self.is_main = self.accelerator.is_main_process
        lock = RunDirLock(self.run_dir) if self.run_dir is not None and self.is_main else nullcontext()
        with lock:
            return self._fit()

    def _fit(self) -> TrainResult:
        self._prepare()
        position, target_position = (0, 0), (0, 0)
        resumed_from = None
        if self.is_main and self.ckpt_dir is not None:
            remove_partial_checkpoints(self.ckpt_dir)
        ckpt = latest_checkpoint(self.ckpt_dir) if (self.resume and self.ckpt_dir is not None) else None
        if ckpt is not None:
            check_data_position(ckpt, self._data_position())
            self.step_module_plain.load_state_dict(ckpt.model)
            if ckpt.state.get("done") and ckpt.state.get("total_steps", self.total_steps) >= self.total_steps:
                self.extension = ckpt.state.get("extension")
                self._say(f"[{self.stage}] already finished (checkpoint {ckpt.path.name}); "
                          "loaded its final weights.")
                result = TrainResult(**ckpt.state["result"])
                result.resumed_from = ckpt.state["step"]
                return result
            position, target_position = self._restore(ckpt)
            resumed_from = self.step
        else:
            self._start_fresh()

        self.display = FitProgress()
        trackers = tracker_names(self.config.report_to, self.config.tensorboard)
        if trackers and self.run_dir is not None and self.is_main:
            self.display.open_trackers(trackers, self.run_dir, {"stage": self.stage, **asdict(self.config)})
        for cb in self.callbacks:
            cb.on_fit_start(self)
        if self._show_progress():
            self.display.open_bar(self.stage, self.total_steps, self.step)
        try:
            stopped, epochs_run, position, target_position = self._train_epochs(position, target_position)
        finally:
            self.display.close()

        if self.restore_best and self.best_state is not None and self.best_step != self.step:
            self.model.load_state_dict(self.best_state)
            self._say(f"[{self.stage}] restored the best weights (step {self.best_step}, "
                      f"val {self.metric} {self.best_metric:.4f}).")
        result = TrainResult(best_metric=self.best_metric, best_step=self.best_step, steps=self.step,
                             epochs_run=epochs_run, stopped=stopped, history=list(self.history),
                             train_s=self._elapsed(), metric=self.metric, resumed_from=resumed_from)
        self._checkpoint(position, target_position, done=True, result=result)
        for cb in self.callbacks:
            cb.on_fit_end(self, result)
        return result

    def _prepare(self) -> None:
        """The plan, the optimiser, the schedule and the loop's counters for a fresh start."""
        cfg = self.config
        self._t0 = time.perf_counter()
        self._elapsed_before = 0.0
        self.ckpt_dir = self.run_dir / "checkpoints" / self.stage if self.run_dir is not None else None
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl") if self.run_dir is not None else None
        self.last_checkpoint: Path | None = None
        #: a finished stage continued for more steps: {"from_step", "steps", "start", "lr_start"}
        self.extension: dict[str, Any] | None = None

        n_train = len(self.train_data)  # type: ignore[arg-type]
        steps_per_epoch = len(epoch_batches(n_train, cfg.batch_size, self.seed, 0, self.rank, self.world))
        self._full_steps = cfg.epochs * steps_per_epoch
        self.total_steps = min(self._full_steps, cfg.max_steps) if cfg.max_steps else self._full_steps
        warmup_steps = int(round(cfg.warmup * self.total_steps)) if cfg.warmup > 0 else 0
        #: early stopping may end training only from this step on
        self.stop_floor = max(self.min_steps, warmup_steps)

        step_module = StepModule(self.model, self.objective)
        self.step_module_plain = step_module
        self.optimizer = build_optimizer(self.param_groups, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_factor(cfg.scheduler, self.total_steps, cfg.warmup))
        # Only the module goes through Accelerate: its scheduler wrapper would step the
        # schedule once per process, and our batches are already sharded per process.
        self.step_module = self.accelerator.prepare(step_module)

        self.step = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.best_tiebreak: dict[str, float] = {}
        self.bad_evals = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, Any]] = []
        self.loss_sum, self.loss_count = 0.0, 0

    def _show_progress(self) -> bool:
        if self.progress is None and self.log is not None:  # a caller that prints wants the bar
            return self.is_main and progress_wanted(True)
        return self.is_main and progress_wanted(self.progress)

    def _train_epochs(self, position: tuple[int, int], target_position: tuple[int, int]
                      ) -> tuple[str, int, tuple[int, int], tuple[int, int]]:
        """The epoch loop from ``position``. Returns why it stopped, the epochs run, and the
        data and target positions it reached."""
        cfg = self.config
        n_train = len(self.train_data)  # type: ignore[arg-type]
        n_target = len(self.target_data) if self.target_data is not None else 0  # type: ignore[arg-type]
        stopped: str | None = None
        set_train_mode(self.step_module)
        epoch, start = position
        b, broke = start, False
        t_epoch, t_batch = target_position
        target_iter = (cycle_batches(self._target_loader, n_target, cfg.batch_size, self.seed, t_epoch, t_batch,
                                     self.rank, self.world) if n_target else None)
        while stopped is None and self.step < self.total_steps and epoch < cfg.epochs:
            batches = epoch_batches(n_train, cfg.batch_size, self.seed, epoch, self.rank, self.world,
                                    lengths=self.lengths)
            b = start
            for batch in self._loader(self.train_data, batches[start:], self.collate_fn):
                batch = to_device(batch, self.device)
                if target_iter is not None:
                    t_batch_data, (t_epoch, t_batch) = next(target_iter)
                    batch = (batch, to_device(t_batch_data, self.device))
                logs = self._train_step(batch, (epoch, b))
                b += 1
                self.step += 1
                stopped = self._after_step(logs, epoch, b, len(batches), (t_epoch, t_batch))
                if stopped is not None:
                    broke = True
                    break
            if stopped is None:
                epoch, start = epoch + 1, 0
        epochs_run = min(cfg.epochs, epoch + 1 if broke else epoch)
        return stopped or "completed", epochs_run, (epoch, b), (t_epoch, t_batch)

    def _after_step(self, logs: dict[str, float], epoch: int, b: int, n_batches: int,
                    target_position: tuple[int, int]) -> str | None:
        """Progress, callbacks, the evaluation and the checkpoint due after a step (``b``
        batches of ``n_batches`` done this epoch); why training stops here, or None."""
        cfg = self.config
        self.display.step(self.step, self.stage, logs["loss"])
        for cb in self.callbacks:
            cb.on_step_end(self, self.step, logs)
        end_of_epoch = b == n_batches
        last = self.step >= self.total_steps
        due = (self.step % cfg.eval_every == 0) if cfg.eval_every else end_of_epoch
        stopped: str | None = None
        if (due or last) and self._evaluate_and_log(epoch, b, n_batches):
            stopped = "early_stopping"
        if self.should_stop and stopped is None:
            stopped = "callback"
        if last and stopped is None:
            stopped = "max_steps" if self.total_steps < self._full_steps else "completed"
        pos = (epoch, b) if not end_of_epoch else (epoch + 1, 0)
        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and stopped is None:
            self._checkpoint(pos, target_position)
        return stopped

    def _train_step(self, batch: Any, position: tuple[int, int]) -> dict[str, float]:
        """One optimizer step on ``batch``, computed in ``grad_accum`` slices whose gradients
        add up (DDP synchronises on the last slice only)."""
        self.optimizer.zero_grad(set_to_none=True)
        slices = split_batch(batch, self.config.grad_accum)
        value, logs = 0.0, {}
        for i, (part, share) in enumerate(slices):
            last = i == len(slices) - 1
            with nullcontext() if last else self.accelerator.no_sync(self.step_module):
                with self._autocast():
                    loss, part_logs = self.step_module(part, self.step)
                self._check_finite(loss, position)
                self.accelerator.backward(loss * share if len(slices) > 1 else loss)
            value += float(loss.detach()) * share
            for k, v in part_logs.items():
                logs[k] = logs.get(k, 0.0) + float(v) * share
        optimizer_step(self.accelerator, self.optimizer, self.config.grad_clip)
        self.last_lrs = {g["name"]: g["lr"] for g in self.optimizer.param_groups}  # used in this step
        self.scheduler.step()
        self.loss_sum += value
        self.loss_count += 1
        return {"loss": value, **logs}

    def _check_finite(self, loss: torch.Tensor, position: tuple[int, int]) -> None:
        cfg = self.config
        if not finite_everywhere(loss, self.accelerator):
            if self.ckpt_dir is None:
                where = "no checkpoint is written without a run directory"
            elif self.last_checkpoint is not None:
                where = f"the last good checkpoint is {self.last_checkpoint}"
            else:
                where = f"no checkpoint of this run was written yet in {self.ckpt_dir}"
            raise TrainingError(
                f"The loss became {float(loss.detach())} at step {self.step + 1} (epoch {position[0] + 1}, "
                f"batch {position[1] + 1}) of stage '{self.stage}'; {where}. Try a lower learning "
                f"rate (--lr, now {cfg.lr:g}), enable gradient clipping (train.grad_clip), or check "
                "the inputs for NaN/inf values."
            )

    def _evaluate_and_log(self, epoch: int, b: int, n_batches: int) -> bool:
        """Evaluate, append to metrics.jsonl, update early stopping; True means stop."""
        record: dict[str, Any] = {
            "stage": self.stage, "step": self.step, "epoch": round(epoch + b / max(1, n_batches), 4),
            "train_loss": self.loss_sum / max(1, self.loss_count),
            "lr": dict(self.last_lrs),
        }
        self.loss_sum, self.loss_count = 0.0, 0
        stop = False
        if self.world > 1:
            broadcast_buffers(self.model)
        if self.val_data is not None:
            metrics = self.evaluate()
            record.update({f"val_{k}": v for k, v in metrics.items()})
            value = metrics.get(self.metric)
            if value is not None and math.isfinite(value):
                if self._improved(metrics):
                    self.best_metric, self.best_step, self.bad_evals = value, self.step, 0
                    self.best_tiebreak = {k: float(metrics[k]) for k in self.task.tie_breaks(self.metric)
                                          if k in metrics}
                    if self.restore_best:
                        self.best_state = cpu_state(self.model.state_dict())
                    record["best"] = True
                else:
                    self.bad_evals += 1
                    if (self.config.patience is not None and self.bad_evals >= self.config.patience
                            and self.step >= self.stop_floor):
                        stop = True
        record["time"] = round(self._elapsed(), 3)
        self.history.append(record)
        if self.is_main:
            if self.metrics is not None:
                self.metrics.append(record)
            self.display.scalars(self.stage, record, self.step)
        val = f" val_{self.metric} {record[f'val_{self.metric}']:.4f}" if f"val_{self.metric}" in record else ""
        self._say(f"[{self.stage}] epoch {record['epoch']:.2f} step {self.step}: train_loss "
                  f"{record['train_loss']:.4f}{val}{' *' if record.get('best') else ''}")
        for cb in self.callbacks:
            cb.on_evaluate(self, record)
        if stop:
            self._say(f"[{self.stage}] early stopping: no improvement of val_{self.metric} for "
                      f"{self.bad_evals} evaluations.")
        return stop
