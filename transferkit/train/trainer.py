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
import os
import random
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError, RunDirError, TrainingError
from transferkit.strategies.base import set_trainable
from transferkit.tasks import Task, get_task
from transferkit.train.checkpoint import (
    cpu_state,
    latest_checkpoint,
    list_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from transferkit.train.modes import set_train_mode
from transferkit.train.regularizers import L2SP
from transferkit.train.rundir import MetricsLog, RunDirLock
from transferkit.train.schedule import lr_factor

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


class _Step(nn.Module):
    """Model + objective in one module, so that DDP sees every forward the objective makes
    (an objective may call ``model.features`` or a discriminator, not only ``model()``)."""

    def __init__(self, model: nn.Module, objective: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        if isinstance(objective, nn.Module):
            self.objective = objective
        else:
            self._objective_fn = objective

    def forward(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        fn = self.objective if "objective" in self._modules else self._objective_fn
        return fn(self.model, batch, step)


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        moved = [_to_device(v, device) for v in obj]
        return type(obj)(moved) if isinstance(obj, tuple) and not hasattr(obj, "_fields") else moved
    if hasattr(obj, "to") and callable(obj.to):  # e.g. transformers BatchEncoding
        return obj.to(device)
    return obj


def _default_collate(items: list[Any]) -> tuple[Any, torch.Tensor]:
    inputs, labels = default_collate(items)
    return inputs, torch.as_tensor(labels, dtype=torch.long)


class _BatchList(torch.utils.data.Sampler):
    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


#: Length grouping sorts windows of this many global batches (as HF's LengthGroupedSampler).
LENGTH_GROUP_WINDOW = 50


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world: int = 1, stream: int = 0,
                  lengths: Sequence[int] | np.ndarray | None = None) -> list[list[int]]:
    """This process's index batches for one epoch, identical however often it is asked.

    The permutation comes from a generator seeded with ``(seed, stream, epoch)``, so a
    resumed run regenerates it. Each global batch of ``batch_size * world`` indices is
    split evenly across processes; a last batch of one example is merged into the one
    before (a batch of one breaks BatchNorm in training mode).

    ``lengths`` (one per example) groups examples of similar length: each window of
    ``LENGTH_GROUP_WINDOW`` global batches of the permutation is sorted by length, cut into
    batches, and the batches are shuffled, so padded texts waste little compute while each
    epoch still sees a new random grouping.
    """
    if n == 0:
        return []
    g = torch.Generator().manual_seed((seed * 1_000_003 + stream * 7_919 + epoch) % (2**63))
    perm = torch.randperm(n, generator=g).tolist()
    size = batch_size * world
    if lengths is not None:
        if len(lengths) != n:
            raise ConfigError(f"The 'lengths' parameter must give one length per example ({n}). "
                              f"Got {len(lengths)} instead.")
        window = size * LENGTH_GROUP_WINDOW
        perm = [i for w in range(0, n, window)
                for i in sorted(perm[w:w + window], key=lambda j: -int(lengths[j]))]
    global_batches = [perm[i:i + size] for i in range(0, n, size)]
    if len(global_batches) > 1 and len(global_batches[-1]) < 2 * world:
        global_batches[-2].extend(global_batches.pop())
    if lengths is not None and len(global_batches) > 1:
        order = torch.randperm(len(global_batches), generator=g).tolist()
        global_batches = [global_batches[i] for i in order]
    out = []
    for gb in global_batches:
        if len(gb) < world:  # pad like DistributedSampler so every process gets a batch
            gb = gb + perm[: world - len(gb)]
        out.append([int(i) for i in np.array_split(np.asarray(gb), world)[rank]])
    return out


class Trainer:
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
        ``objective(model, batch, step) -> (loss, logs)``; default cross-entropy with
        label smoothing, class weights and L2-SP from ``config``. An ``nn.Module``
        objective's own parameters train too (group "objective", lr = config.lr).
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

    Several processes: ``accelerate launch --multi_gpu --num_processes N script.py`` runs
    DDP (gloo on a machine without GPUs; ``torchrun`` works too). Each process gets its
    own share of every global batch of ``batch_size * N`` examples. Note that
    ``accelerate launch --cpu --num_processes N`` starts a single process unless an MPI
    hostfile is given.
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
        if not param_groups or not any(g.get("params") for g in param_groups):
            raise ConfigError("The 'param_groups' parameter of Trainer holds no parameters; the "
                              "strategy left nothing to train.")
        self.model = model
        self.config = config
        self.train_data = train_data
        self.val_data = val_data
        self.target_data = target_data
        self.collate_fn = collate_fn or _default_collate
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
        self.cpu = (not torch.cuda.is_available()) if cpu is None else cpu
        self.find_unused_parameters = find_unused_parameters
        # texts of similar length share batches (train.group_by_length; epoch_batches checks
        # that there is one length per example); None: random batches
        self.lengths = lengths if config.group_by_length else None
        self.should_stop = False
        self.last_lrs: dict[str, float] = {}
        self.device = torch.device("cpu")
        self.world, self.rank, self.is_main = 1, 0, True
        self.num_classes = num_classes or getattr(model, "num_classes", None)

        groups = [dict(g) for g in param_groups if g.get("params")]
        for i, g in enumerate(groups):
            g["params"] = list(g["params"])
            g.setdefault("name", f"group{i}")
            g.setdefault("lr", config.lr)
        model_params = {id(p) for p in model.parameters()}
        stray = [g["name"] for g in groups if any(id(p) not in model_params for p in g["params"])]
        if stray:
            raise ConfigError(f"Parameter groups {stray} hold parameters that are not part of the "
                              "model given to Trainer; pass the module that owns them.")
        set_trainable(model, groups)
        # L2-SP replaces weight decay on the parameters it covers (Li et al. 2018).
        self.l2_sp = L2SP(model, config.l2_sp) if config.l2_sp > 0 else None
        for g in groups:
            g.setdefault("weight_decay", 0.0 if self.l2_sp is not None else config.weight_decay)
        if objective is None:  # the task's loss (cross-entropy for classification)
            objective = self.task.objective(self.forward, config, train_data,
                                            num_outputs=self.num_classes, l2_sp=self.l2_sp)
        self.objective = objective
        if isinstance(objective, nn.Module):
            extra = [p for p in objective.parameters() if p.requires_grad and id(p) not in model_params]
            if extra:
                groups.append({"params": extra, "lr": config.lr, "name": "objective",
                               "weight_decay": config.weight_decay})
        self.param_groups = groups

    # ------------------------------------------------------------------ helpers
    def _say(self, text: str) -> None:
        if self.log is not None and self.is_main:
            self.log(text)

    def _loader(self, data: Dataset, batches: list[list[int]], collate: Callable) -> DataLoader:
        # A private generator: creating an iterator must not draw from the global RNG, or a
        # resumed run (which starts mid-epoch) would see different dropout masks.
        return DataLoader(data, batch_sampler=_BatchList(batches), collate_fn=collate,
                          num_workers=self.config.num_workers,
                          generator=torch.Generator().manual_seed(self.seed))

    def _build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(self.param_groups, lr=cfg.lr, momentum=cfg.momentum)
        return torch.optim.AdamW(self.param_groups, lr=cfg.lr)

    def _autocast(self) -> Any:
        if not self.config.bf16:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    @torch.no_grad()
    def evaluate(self, data: Dataset | None = None) -> dict[str, float]:
        """The task's validation metrics (loss and the selection metric; for classification
        also accuracy and balanced accuracy) of the (unwrapped) model on ``data``."""
        data = self.val_data if data is None else data
        if data is None:
            return {}
        model = self.model
        was_training = model.training
        model.eval()
        n = len(data)  # type: ignore[arg-type]
        batches = [list(range(i, min(n, i + self.config.batch_size))) for i in range(0, n, self.config.batch_size)]
        acc = self.task.accumulator()
        for inputs, y in self._loader(data, batches, self.val_collate_fn):
            inputs, y = _to_device(inputs, self.device), _to_device(y, self.device)
            with self._autocast():
                outputs = self.forward(model, inputs).float()  # (B, K)
            acc.update(outputs, y)
        if was_training:
            set_train_mode(model)
        return acc.compute()

    def _improved(self, value: float) -> bool:
        return self.task.better(value, self.best_metric, self.metric)

    def _state_json(self, position: tuple[int, int], target_position: tuple[int, int],
                    done: bool, result: TrainResult | None = None) -> dict[str, Any]:
        return {
            "stage": self.stage, "step": self.step, "epoch": position[0], "batch": position[1],
            "target_epoch": target_position[0], "target_batch": target_position[1],
            "best_metric": self.best_metric, "best_step": self.best_step,
            "bad_evals": self.bad_evals, "history": self.history, "train_s": self._elapsed(),
            "loss_sum": self.loss_sum, "loss_count": self.loss_count,
            "total_steps": self.total_steps, "done": done,
            "result": asdict(result) if result is not None else None,
            "data": {"n_train": len(self.train_data), "batch_size": self.config.batch_size,  # type: ignore[arg-type]
                     "world_size": self.world, "seed": self.seed},
        }

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.perf_counter() - self._t0)

    def _checkpoint(self, position: tuple[int, int], target_position: tuple[int, int],
                    done: bool = False, result: TrainResult | None = None) -> None:
        if self.ckpt_dir is None or not self.is_main:
            return
        best = self.best_state if self.best_state is not None else None
        path = save_checkpoint(self.ckpt_dir, self.step, model=self.step_module_plain.state_dict(),
                               best=best, optimizer=self.optimizer.state_dict(),
                               scheduler=self.scheduler.state_dict(), rng=rng_state(),
                               state=self._state_json(position, target_position, done, result), final=done)
        self.last_checkpoint = path

    # ------------------------------------------------------------------ fit
    def fit(self) -> TrainResult:
        """Train; returns a :class:`TrainResult`. The model ends with the best weights
        (when there is validation data and ``restore_best``)."""
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        self.accelerator = Accelerator(
            cpu=self.cpu, mixed_precision="no",
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=self.find_unused_parameters)])
        self.device = self.accelerator.device
        self.world = self.accelerator.num_processes
        self.rank = self.accelerator.process_index
        self.is_main = self.accelerator.is_main_process
        lock = RunDirLock(self.run_dir) if self.run_dir is not None and self.is_main else nullcontext()
        with lock:
            return self._fit()

    def _fit(self) -> TrainResult:
        cfg = self.config
        self._t0 = time.perf_counter()
        self._elapsed_before = 0.0
        self.ckpt_dir = self.run_dir / "checkpoints" / self.stage if self.run_dir is not None else None
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl") if self.run_dir is not None else None
        self.last_checkpoint: Path | None = None

        n_train = len(self.train_data)  # type: ignore[arg-type]
        steps_per_epoch = len(epoch_batches(n_train, cfg.batch_size, self.seed, 0, self.rank, self.world))
        full = cfg.epochs * steps_per_epoch
        self.total_steps = min(full, cfg.max_steps) if cfg.max_steps else full
        n_target = len(self.target_data) if self.target_data is not None else 0  # type: ignore[arg-type]

        step_module = _Step(self.model, self.objective)
        self.step_module_plain = step_module
        self.optimizer = self._build_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_factor(cfg.scheduler, self.total_steps, cfg.warmup))
        # Only the module goes through Accelerate: its scheduler wrapper would step the
        # schedule once per process, and our batches are already sharded per process.
        self.step_module = self.accelerator.prepare(step_module)

        self.step = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, Any]] = []
        self.loss_sum, self.loss_count = 0.0, 0
        position, target_position = (0, 0), (0, 0)
        resumed_from = None

        if self.is_main and self.ckpt_dir is not None and self.ckpt_dir.is_dir():
            # Leftovers of a process killed while writing a checkpoint.
            for junk in [*self.ckpt_dir.glob(".tmp-*"), *self.ckpt_dir.glob(".old-*")]:
                shutil.rmtree(junk, ignore_errors=True)
        ckpt = latest_checkpoint(self.ckpt_dir) if (self.resume and self.ckpt_dir is not None) else None
        if ckpt is not None:
            st = ckpt.state
            expected = {"n_train": n_train, "batch_size": cfg.batch_size, "world_size": self.world,
                        "seed": self.seed}
            if st.get("data") != expected:
                raise RunDirError(
                    f"Checkpoint '{ckpt.path}' was written for {st.get('data')} but this run has "
                    f"{expected}; the data position cannot be restored. Resume with the same data, "
                    "batch size, seed and number of processes, or start again without --resume."
                )
            step_module.load_state_dict(ckpt.model)
            if st.get("done"):
                self._say(f"[{self.stage}] already finished (checkpoint {ckpt.path.name}); "
                          "loaded its final weights.")
                result = TrainResult(**st["result"])
                result.resumed_from = st["step"]
                return result
            self.optimizer.load_state_dict(ckpt.optimizer)
            self.scheduler.load_state_dict(ckpt.scheduler)
            self.step = st["step"]
            position = (st["epoch"], st["batch"])
            target_position = (st["target_epoch"], st["target_batch"])
            self.best_metric, self.best_step, self.bad_evals = st["best_metric"], st["best_step"], st["bad_evals"]
            self.best_state = ckpt.best
            self.history = st["history"]
            self.loss_sum, self.loss_count = st["loss_sum"], st["loss_count"]
            self._elapsed_before = st["train_s"]
            if st.get("total_steps") != self.total_steps:
                self._say(f"[{self.stage}] warning: the checkpoint planned {st.get('total_steps')} "
                          f"steps and this run plans {self.total_steps}; the schedule follows the new plan.")
            if self.metrics is not None and self.is_main:
                self.metrics.truncate_after(self.stage, self.step)
            resumed_from = self.step
            self.last_checkpoint = ckpt.path
            set_rng_state(ckpt.rng)
            self._say(f"[{self.stage}] resumed from step {self.step} ({ckpt.path}).")
        else:
            if self.resume:
                self._say(f"[{self.stage}] no checkpoint to resume from in {self.ckpt_dir}; starting fresh.")
            if self.is_main and self.ckpt_dir is not None:
                # A fresh run replaces what an earlier run of this stage left behind, so that
                # a later --resume never picks up a stale checkpoint or duplicate metrics.
                for old in list_checkpoints(self.ckpt_dir):
                    shutil.rmtree(old, ignore_errors=True)
                if self.metrics is not None:
                    self.metrics.truncate_after(self.stage, 0)
            random.seed(self.seed)
            np.random.seed(self.seed % (2**32))
            torch.manual_seed(self.seed)

        writer = self._tensorboard()
        for cb in self.callbacks:
            cb.on_fit_start(self)
        bar, task = self._progress_bar()
        stopped: str | None = None
        try:
            set_train_mode(self.step_module)
            epoch, start = position
            b, batches, broke = start, [], False
            t_epoch, t_batch = target_position
            target_iter = self._target_iter(n_target, t_epoch, t_batch) if n_target else None
            while stopped is None and self.step < self.total_steps and epoch < cfg.epochs:
                batches = epoch_batches(n_train, cfg.batch_size, self.seed, epoch, self.rank, self.world,
                                        lengths=self.lengths)
                b = start
                for batch in self._loader(self.train_data, batches[start:], self.collate_fn):
                    batch = _to_device(batch, self.device)
                    if target_iter is not None:
                        t_batch_data, (t_epoch, t_batch) = next(target_iter)
                        batch = (batch, _to_device(t_batch_data, self.device))
                    logs = self._train_step(batch, (epoch, b))
                    b += 1
                    self.step += 1
                    if bar is not None:
                        bar.update(task, completed=self.step,
                                   description=f"{self.stage} loss {logs['loss']:.4f}")
                    for cb in self.callbacks:
                        cb.on_step_end(self, self.step, logs)
                    end_of_epoch = b == len(batches)
                    last = self.step >= self.total_steps
                    due = (self.step % cfg.eval_every == 0) if cfg.eval_every else end_of_epoch
                    if (due or last) and self._evaluate_and_log(epoch, b, len(batches), writer):
                        stopped = "early_stopping"
                    if self.should_stop and stopped is None:
                        stopped = "callback"
                    if last and stopped is None:
                        stopped = "max_steps" if self.total_steps < full else "completed"
                    pos = (epoch, b) if not end_of_epoch else (epoch + 1, 0)
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and stopped is None:
                        self._checkpoint(pos, (t_epoch, t_batch))
                    if stopped is not None:
                        broke = True
                        break
                if stopped is None:
                    epoch, start = epoch + 1, 0
            if stopped is None:
                stopped = "completed"
        finally:
            if bar is not None:
                bar.stop()
            if writer is not None:
                writer.close()

        if self.restore_best and self.best_state is not None and self.best_step != self.step:
            self.model.load_state_dict(self.best_state)
            self._say(f"[{self.stage}] restored the best weights (step {self.best_step}, "
                      f"val {self.metric} {self.best_metric:.4f}).")
        epochs_run = min(cfg.epochs, epoch + 1 if broke else epoch)
        result = TrainResult(best_metric=self.best_metric, best_step=self.best_step, steps=self.step,
                             epochs_run=epochs_run, stopped=stopped, history=list(self.history),
                             train_s=self._elapsed(), metric=self.metric, resumed_from=resumed_from)
        self._checkpoint((epoch, b), (t_epoch, t_batch), done=True, result=result)
        for cb in self.callbacks:
            cb.on_fit_end(self, result)
        return result

    def _target_iter(self, n: int, t_epoch: int, t_batch: int) -> Iterator[tuple[Any, tuple[int, int]]]:
        """Cycle the unlabelled target data forever; yields (batch, position after it)."""
        while True:
            batches = epoch_batches(n, self.config.batch_size, self.seed, t_epoch, self.rank,
                                    self.world, stream=1)
            for i, batch in enumerate(self._loader(self.target_data, batches[t_batch:],  # type: ignore[arg-type]
                                                   self.target_collate_fn), start=t_batch + 1):
                yield batch, ((t_epoch, i) if i < len(batches) else (t_epoch + 1, 0))
            t_epoch, t_batch = t_epoch + 1, 0

    def _train_step(self, batch: Any, position: tuple[int, int]) -> dict[str, float]:
        cfg = self.config
        with self._autocast():
            loss, logs = self.step_module(batch, self.step)
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0], device=self.device)
        if self.world > 1:
            bad = self.accelerator.reduce(bad, reduction="sum")
        if float(bad.sum()) > 0:
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
        self.optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if cfg.grad_clip is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        self.optimizer.step()
        self.last_lrs = {g["name"]: g["lr"] for g in self.optimizer.param_groups}  # used in this step
        self.scheduler.step()
        value = float(loss.detach())
        self.loss_sum += value
        self.loss_count += 1
        return {"loss": value, **{k: float(v) for k, v in logs.items()}}

    def _evaluate_and_log(self, epoch: int, b: int, n_batches: int, writer: Any) -> bool:
        """Evaluate, append to metrics.jsonl, update early stopping; True means stop."""
        record: dict[str, Any] = {
            "stage": self.stage, "step": self.step, "epoch": round(epoch + b / max(1, n_batches), 4),
            "train_loss": self.loss_sum / max(1, self.loss_count),
            "lr": dict(self.last_lrs),
        }
        self.loss_sum, self.loss_count = 0.0, 0
        stop = False
        if self.world > 1:
            # Each process updated its BatchNorm statistics on its own shard; take the main
            # process's (as DDP does at the next forward) so that every process evaluates the
            # same model and makes the same early-stopping decision.
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer.data, src=0)
        if self.val_data is not None:
            metrics = self.evaluate()
            record.update({f"val_{k}": v for k, v in metrics.items()})
            value = metrics.get(self.metric)
            if value is not None and math.isfinite(value):
                if self._improved(value):
                    self.best_metric, self.best_step, self.bad_evals = value, self.step, 0
                    if self.restore_best:
                        self.best_state = cpu_state(self.model.state_dict())
                    record["best"] = True
                else:
                    self.bad_evals += 1
                    if self.config.patience is not None and self.bad_evals >= self.config.patience:
                        stop = True
        record["time"] = round(self._elapsed(), 3)
        self.history.append(record)
        if self.is_main:
            if self.metrics is not None:
                self.metrics.append(record)
            if writer is not None:
                for key, value in record.items():
                    if isinstance(value, (int, float)) and key not in ("step",):
                        writer.add_scalar(f"{self.stage}/{key}", value, self.step)
        val = f" val_{self.metric} {record[f'val_{self.metric}']:.4f}" if f"val_{self.metric}" in record else ""
        self._say(f"[{self.stage}] epoch {record['epoch']:.2f} step {self.step}: train_loss "
                  f"{record['train_loss']:.4f}{val}{' *' if record.get('best') else ''}")
        for cb in self.callbacks:
            cb.on_evaluate(self, record)
        if stop:
            self._say(f"[{self.stage}] early stopping: no improvement of val_{self.metric} for "
                      f"{self.bad_evals} evaluations.")
        return stop

    def _tensorboard(self) -> Any:
        if not (self.config.tensorboard and self.run_dir is not None and self.is_main):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            warnings.warn("TensorBoard logging is on but tensorboard is not installed; skipping it. "
                          "pip install 'transferkit[tensorboard]'.", stacklevel=3)
            return None
        return SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))

    def _progress_bar(self) -> tuple[Any, Any]:
        show = self.progress if self.progress is not None else (sys.stderr.isatty() and self.log is not None)
        if not show or not self.is_main or os.environ.get("TRANSFERKIT_NO_PROGRESS"):
            return None, None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), transient=True)
        task = bar.add_task(self.stage, total=self.total_steps, completed=self.step)
        bar.start()
        return bar, task
