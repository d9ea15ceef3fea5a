"""The stage runner: a strategy's stages through the one training loop, on the cheapest
exact input (cached features, cached activations or raw inputs), and the one batched
predict loop.

This module is also the one place that decides where models and batches live
(:func:`model_device`, :func:`to_device`): the trainer moves a model to its accelerator,
and every prediction here follows the model to wherever it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._threads import small_dense_step
from transferkit.config import FitConfig
from transferkit.errors import TransferkitError
from transferkit.logs import detail_log
from transferkit.model import TransferModel
from transferkit.pipeline.collate import (
    FeatureDataset,
    augmented_collate,
    augments,
    make_collate,
    target_tensor,
    tensor_collate,
)
from transferkit.pipeline.trends import LossTrend, stage_warnings
from transferkit.progress import progress_bar, progress_wanted
from transferkit.tasks import Task, get_task
from transferkit.train.batches import to_device

# ----------------------------------------------------------------------------- devices


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters live (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block (restored afterwards)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def can_split(backbone: Any, k: int) -> bool:
    """Whether the backbone can be cut below its top ``k`` blocks (cached activations)."""
    try:
        backbone.split_at(k)
    except (TransferkitError, ValueError):
        return False
    return True


# ----------------------------------------------------------------------------- predicting


@torch.no_grad()
def map_batches(model: nn.Module, data: Any, fn: Callable[[nn.Module, Any], Any],
                batch_size: int = 64, rows: np.ndarray | None = None) -> list[Any]:
    """The one batched loop over a model's inputs: ``fn(model, x)`` for each batch, on the
    model's device. ``data`` is an array of (cached) features, a dataset (its raw inputs go
    through the backbone's ``collate``) or a list of raw items; ``rows`` orders the examples
    (default: data order)."""
    device = model_device(model)
    rows = np.arange(len(data)) if rows is None else rows
    out = []
    # a bar (in the CLI, on a terminal) when the pass is long enough to wait for; a small MLP
    # on one intra-op thread (see small_dense_step)
    with progress_bar(progress_wanted() and len(rows) > 8 * batch_size, len(rows), "predicting") as advance, \
            single_thread() if small_dense_step(model, batch_size) else contextlib.nullcontext():
        for start in range(0, len(rows), batch_size):
            sel = rows[start:start + batch_size]
            if isinstance(data, np.ndarray):
                x: Any = torch.from_numpy(np.ascontiguousarray(data[sel]))
            else:
                items = (data.inputs(sel) if hasattr(data, "inputs")  # a dataset: rows read in one slice
                         else [data.input(int(i)) for i in sel] if hasattr(data, "input")
                         else [data[int(i)] for i in sel])
                x = model.backbone.collate(items)
            out.append(fn(model, to_device(x, device)))
            advance(len(sel))
    return out


def concat_outputs(parts: list[np.ndarray]) -> np.ndarray:
    """Batches of outputs in one array; per-word outputs ``(B, W, K)`` of batches padded to
    different widths are padded with zeros to the widest (a padded word's probabilities are
    all zero)."""
    width = max(p.shape[1] for p in parts) if parts[0].ndim == 3 else None
    if width is not None:
        parts = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0))) for p in parts]
    return np.concatenate(parts)


def _postprocessed(task: Task) -> Callable[[nn.Module, Any], np.ndarray]:
    return lambda m, x: task.postprocess(m(x)).float().cpu().numpy()


@torch.inference_mode()
def predict_outputs(model: TransferModel, data: Any, task: Task | None = None,
                    batch_size: int = 64) -> np.ndarray:
    """The task's postprocessed outputs (classification: probabilities ``(N, K)``) of
    ``model`` on a dataset's raw inputs, in data order. Texts run longest first so each
    batch pads little."""
    from transferkit.features import length_order

    model.eval()
    order = length_order(data, np.arange(len(data)), getattr(model, "backbone", None))
    out = map_batches(model, data, _postprocessed(task or get_task()), batch_size, order)
    if not out:
        return np.zeros((0, getattr(model, "num_classes", 0)), dtype=np.float32)
    result = concat_outputs(out)
    return result[np.argsort(order)] if order is not None else result


@torch.inference_mode()
def predict_items(model: TransferModel, items: Sequence[Any], task: Task | None = None,
                  batch_size: int = 64) -> np.ndarray:
    """Postprocessed outputs for a list of raw items (as ``to_raw_items`` returns them)."""
    model.eval()
    out = map_batches(model, list(items), _postprocessed(task or get_task()), batch_size)
    return concat_outputs(out) if out else np.zeros((0, model.num_classes), np.float32)


@torch.inference_mode()
def predict_features(model: TransferModel, feats: np.ndarray, task: Task | None = None) -> np.ndarray:
    """Postprocessed outputs from cached backbone features (a frozen backbone), in one batch."""
    task = task or get_task()
    model.eval()
    x = np.asarray(feats, dtype=np.float32)
    out = map_batches(model, x, lambda m, f: task.postprocess(m.forward_features(f)).float().cpu().numpy(),
                      batch_size=max(1, len(x)))
    return np.concatenate(out) if out else np.zeros((0, model.num_classes), np.float32)


# ----------------------------------------------------------------------------- stages


@dataclasses.dataclass
class _StageInputs:
    train: Any
    val: Any
    collate: Callable
    forward: Callable[[TransferModel, Any], torch.Tensor]
    embed: Callable[[TransferModel, Any], torch.Tensor]
    lengths: np.ndarray | None
    cached: bool
    val_collate: Callable | None = None  # None: the training collate (no augmentation to undo)
    maps: bool = False  # cached multi-scale maps (a dense decoder: convolutions, not a few matmuls)


def stage_min_steps(stage: Any, task: Any) -> int:
    """The steps a stage runs at least (epochs are stretched to reach them and early stopping
    does not end the stage sooner): on cached features, the head stage's ``min_steps`` (its
    strategy's); for a task that trains on raw inputs (a dense decoder), every stage's
    :meth:`~transferkit.tasks.Task.min_train_steps`; 0 otherwise. The stage runner and the
    ``--dry-run`` plan both read it."""
    if task is not None and not task.cached_inputs:
        return int(task.min_train_steps())
    return int(stage.info.get("min_steps", 0)) if stage.trainable_blocks == 0 else 0


class StageRunner:
    """Runs a strategy's stages through the one training loop, choosing per stage the
    cheapest input that is exact: cached features (only the head trains), cached
    activations below the top ``k`` blocks (the top ``k`` train), or raw inputs."""

    def __init__(self, cfg: FitConfig, splits: Any, cache_dir: str | None, run_dir: Any,
                 resume: bool, log: Callable[[str], None], callbacks: Sequence[Any] = (),
                 task: Task | None = None) -> None:
        self.cfg = cfg
        self.task = task or get_task()
        self.callbacks = tuple(callbacks)
        self.splits = splits
        self.cache_dir = cache_dir
        self.run_dir = run_dir
        self.resume = resume
        self.log = log
        self.timings: dict[str, float] = {"features_s": 0.0, "train_s": 0.0}
        self.history: list[dict[str, Any]] = []
        #: joint source training: (JointObjective, labelled source train split)
        self.joint: tuple[Any, Any] | None = None
        #: the evaluated model's outputs on the test split (set by evaluate_splits)
        self.test_outputs: np.ndarray | None = None
        #: summary sections of the task's adjustment of the model (set by evaluate_splits)
        self.adjustments: dict[str, Any] = {}
        #: a finished last stage continued for more steps (resume with more epochs)
        self.extended: dict[str, Any] | None = None
        #: an earlier stage whose weights were kept, its validation metric beating the last's
        self.kept_stage: dict[str, Any] | None = None
        #: the bf16 tip was logged (once per run)
        self._tipped = False

    def features(self, backbone: Any, data: Any, upto_block: int | None = None) -> np.ndarray:
        """Cached features (or activations below block ``upto_block``) of ``data``."""
        from transferkit.features import extract_features

        self._bf16_tip(backbone, data)
        t0 = time.perf_counter()
        feats = extract_features(backbone, data, cache_dir=self.cache_dir, upto_block=upto_block,
                                 bf16=self.cfg.train.bf16, device=self.cfg.train.device)
        self.timings["features_s"] += time.perf_counter() - t0
        return feats

    def _bf16_tip(self, backbone: Any, data: Any) -> None:
        """Once per run: a text backbone extracting many texts in float32 on a CPU with native
        bf16 (AMX) is told that ``--mixed-precision bf16`` does it about twice as fast."""
        from transferkit.devices import cpu_has_native_bf16

        if (self._tipped or self.cfg.train.bf16 or getattr(backbone, "modality", None) != "text"
                or len(data) < 200 or str(self.cfg.train.device) not in ("auto", "cpu")):
            return
        import torch

        if (str(self.cfg.train.device) == "auto" and torch.cuda.is_available()) or not cpu_has_native_bf16():
            return
        self._tipped = True
        self.log("[dim]tip: this CPU has native bf16 (AMX); --mixed-precision bf16 extracts text features "
                 "about 2x faster (MiniLM on 1,000 reviews: 7.3 s -> 3.2 s, cosine >= 0.9999 to float32)[/dim]")

    def outputs(self, model: TransferModel, data: Any, frozen: bool) -> np.ndarray:
        """The task's outputs of a trained model on ``data`` (cached features when frozen)."""
        if frozen and self.task.cached_inputs:
            return predict_features(model, self.features(model.backbone, data), self.task)
        return predict_outputs(model, data, self.task)

    def run(self, model: TransferModel, strategy_name: str, strategy_params: dict[str, Any],
            tag: str = "") -> list[Any]:
        """Train ``model`` with the strategy; returns the strategy's stages."""
        from transferkit.strategies import STRATEGIES

        strategy = STRATEGIES.build(strategy_name, dict(strategy_params))
        if not len(self.splits.train):  # --shots 0: the task built the head without labels
            self.log("[bold]stages[/bold] none: no labelled training examples (--shots 0); the head "
                     "is the one the task built without labels")
            return []
        stages = strategy.stages(model, self.cfg.train)
        best: tuple[float, str, dict[str, torch.Tensor] | None] | None = None
        for i, stage in enumerate(stages):
            # only the last stage may train longer on resume: the others fed the next one
            last = i == len(stages) - 1
            self._run_stage(model, stage, tag, last=last)
            if len(stages) > 1 and len(self.splits.val):
                best = self.keep_better_stage(model, best, last)
        finalize = getattr(strategy, "finalize", None)
        if finalize is not None:
            finalize(model)
        return stages

    def keep_better_stage(self, model: TransferModel,
                           best: tuple[float, str, dict[str, torch.Tensor] | None] | None,
                           last: bool) -> tuple[float, str, dict[str, torch.Tensor] | None] | None:
        """Of a multi-stage strategy's stages, the model keeps the one with the best validation
        metric: after each stage its score is compared with the best earlier stage's (a later
        stage must beat it strictly; a tie keeps the later); after the last stage, a better
        earlier stage's weights are restored. Returns the best (score, stage, weights) so far."""
        entry = self.history[-1]
        score = entry.get("best_metric")
        if score is None:
            return best
        if best is None or self.task.better(float(score), best[0]) or score == best[0]:
            weights = None if last else {k: v.detach().clone() for k, v in model.state_dict().items()}
            if last and best is not None:
                why = "a tie keeps the later stage" if score == best[0] else "the better stage on validation is kept"
                self.log(f"[bold]kept[/bold] stage {entry['stage']}: validation "
                         f"{self.task.selection_metric} {score:.4f} vs {best[1]}'s {best[0]:.4f} ({why})")
            return float(score), str(entry["stage"]), weights
        if last and best[2] is not None:
            model.load_state_dict(best[2])
            entry["kept"] = False
            self.kept_stage = {"stage": best[1], f"val_{self.task.selection_metric}": best[0],
                               "instead_of": entry["stage"],
                               f"instead_of_val_{self.task.selection_metric}": float(score)}
            self.log(f"[bold]kept[/bold] stage {best[1]}'s weights: its validation "
                     f"{self.task.selection_metric} {best[0]:.4f} beats {entry['stage']}'s {score:.4f} "
                     "(the better stage on validation is kept)")
        return best

    def min_steps(self, stage: Any) -> int:
        """The steps ``stage`` runs at least: :func:`stage_min_steps` for this run's task."""
        return stage_min_steps(stage, self.task)

    def _stage_config(self, stage: Any) -> Any:
        train_cfg = self.cfg.train
        stage_cfg = train_cfg
        if stage.epochs is not None and stage.epochs != train_cfg.epochs:
            stage_cfg = dataclasses.replace(train_cfg, epochs=stage.epochs)
        min_steps = self.min_steps(stage)
        if min_steps:  # a fresh head on a frozen backbone: enough steps to converge
            per_epoch = max(1, math.ceil(len(self.splits.train) / stage_cfg.batch_size))
            stage_cfg = dataclasses.replace(
                stage_cfg, epochs=max(stage_cfg.epochs, math.ceil(min_steps / per_epoch)))
        return stage_cfg

    def _inputs(self, backbone: Any, k: int | None) -> _StageInputs:
        train, val = self.splits.train, self.splits.val
        augment = self.cfg.train.augment if augments(backbone, self.cfg.train.augment) else None
        if augment and self.cfg.train.augment_cached:
            k = None  # cached stages are augmented: raw inputs
        if k == 0 and self.task.cached_maps and hasattr(backbone, "packed_maps"):
            packed = backbone.packed_maps()  # the frozen encoder's maps, once per image
            return _StageInputs(FeatureDataset(self.features(packed, train), train.y),
                                FeatureDataset(self.features(packed, val), val.y), tensor_collate,
                                lambda m, x: m.forward_features(packed.unpack(x)),
                                lambda m, x: m.mapping(packed.unpack(x)), None, True, maps=True)
        if not self.task.cached_inputs:
            k = None  # the head reads more than cached vectors
        if k == 0:
            return _StageInputs(
                FeatureDataset(self.features(backbone, train), train.y),
                FeatureDataset(self.features(backbone, val), val.y), tensor_collate,
                lambda m, x: m.forward_features(x), lambda m, x: m.mapping(x), None, True)
        if k is not None and k > 0 and can_split(backbone, k):
            _, top = backbone.split_at(k)
            x_tr = self.features(backbone, train, upto_block=k)
            lengths = None
            if getattr(backbone, "modality", None) == "text":  # last channel: attention mask
                lengths = np.asarray(x_tr[..., -1].sum(axis=1), dtype=np.int64)
            return _StageInputs(
                FeatureDataset(x_tr, train.y),
                FeatureDataset(self.features(backbone, val, upto_block=k), val.y), tensor_collate,
                lambda m, x, top=top: m.forward_features(top(x)),
                lambda m, x, top=top: m.mapping(top(x)), lengths, True)
        lengths = None
        if getattr(train, "modality", None) == "text":
            lengths = np.array([len(str(train.input(i))) for i in range(len(train))])
        plain = make_collate(backbone)
        return _StageInputs(train, val, augmented_collate(backbone, augment, target_tensor) if augment else plain,
                            lambda m, x: m(x), lambda m, x: m.features(x), lengths, False, plain)

    @staticmethod
    @torch.no_grad()
    def _mapped(model: TransferModel, feats: np.ndarray) -> np.ndarray:
        return model.mapping(torch.from_numpy(np.array(feats, dtype=np.float32))).numpy()

    def _solve_stage(self, model: TransferModel, stage: Any, tag: str) -> bool:
        """A head stage on cached features fitted by the task's convex solver (when the stage
        asks for it, the mapping has nothing to train, e.g. the identity, and the task has a
        solver); False otherwise."""
        if not (stage.trainable_blocks == 0 and stage.info.get("convex_head") and self.joint is None
                and self.task.cached_inputs
                and not any(True for _ in model.mapping.parameters())):
            return False
        train, val = self.splits.train, self.splits.val
        x_tr = self._mapped(model, self.features(model.backbone, train))
        f_val = self.features(model.backbone, val) if len(val) else None
        x_val = self._mapped(model, f_val) if f_val is not None else None
        t1 = time.perf_counter()
        solver = stage.info.get("solver", "auto")
        if solver == "auto":  # the probe the backbone's features call for
            solver = getattr(model.backbone, "probe_solver", "lbfgs")
        info = self.task.solve_head(model.head, x_tr, np.asarray(train.y), self.cfg.train,
                                    seed=self.cfg.data.seed,
                                    val=(x_val, np.asarray(val.y)) if x_val is not None else None,
                                    solver=solver, backbone=model.backbone)
        if info is None:
            return False
        record: dict[str, Any] = {"stage": f"{tag}{stage.name}", "step": info.get("n_iter", 0),
                                  "epoch": 1.0, "solver": info.get("solver"), "c": info.get("c")}
        if f_val is not None:
            outputs = predict_features(model, f_val, self.task)
            metrics = self.task.metrics(val.y, outputs, self.task.describe_targets(train))
            record.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)})
        best = record.get(f"val_{self.task.selection_metric}")
        seconds = time.perf_counter() - t1
        self.timings["train_s"] += seconds
        if self.run_dir is not None:  # the same log as a trained stage: one record
            from transferkit.rundir import MetricsLog

            log = MetricsLog(Path(self.run_dir) / "metrics.jsonl")
            log.truncate_after(record["stage"], 0)
            log.append({**record, "time": round(seconds, 3)})
        strength = (f"C {info.get('c')}" if "alpha" not in info else f"alpha {info['alpha']:g}"
                    if info.get("alpha_chosen_on") else f"alpha {info['alpha']:g} per row")
        chosen_on = (f"; C from {info['c_chosen_on']}" if info.get("c_chosen_on") else
                     f"; alpha by {info['alpha_chosen_on']}" if info.get("alpha_chosen_on") else "")
        self.log(f"[bold]stage[/bold] {tag}{stage.name}: head on cached features, solved by "
                 f"{info.get('solver')} ({strength}{chosen_on})")
        self.history.append({"stage": f"{tag}{stage.name}", "best_metric": best,
                             "steps": info.get("n_iter", 0), "stopped": "converged",
                             "seconds": round(seconds, 3), "solver": info})
        return True

    def _run_stage(self, model: TransferModel, stage: Any, tag: str, last: bool = True) -> None:
        if self._solve_stage(model, stage, tag):
            return
        k = stage.trainable_blocks
        inputs = self._inputs(model.backbone, k)
        joint_kwargs: dict[str, Any] = {}
        if self.joint is not None:  # the source stream, in this stage's input form
            objective, source = self.joint
            source_bb = model.backbone.packed_maps() if inputs.maps else model.backbone
            src_data = FeatureDataset(self.features(source_bb, source, upto_block=k or None),
                                      source.y) if inputs.cached else source
            joint_kwargs = {"objective": objective.set_embed(inputs.embed), "target_data": src_data}
        cached = inputs.cached
        self.log(f"[bold]stage[/bold] {tag}{stage.name}: "
                 + (f"{k} top block(s) on cached activations" if k and cached else
                    "head on the encoder's cached multi-scale maps (not augmented)" if inputs.maps else
                    "head on cached features" if k == 0 and cached else
                    f"{'head' if k == 0 else f'{k} top block(s) and head' if k else 'end to end'} on raw inputs"))
        t0 = time.perf_counter()
        runs = self._lr_runs(stage, tag, inputs)
        result, trainer, trend, tried = self._fit_runs(model, stage, runs, inputs, last, joint_kwargs)
        seconds = time.perf_counter() - t0
        self.timings["train_s"] += seconds
        entry = {"stage": f"{tag}{stage.name}", "best_metric": result.best_metric,
                 "steps": result.steps, "stopped": result.stopped, "seconds": round(seconds, 3)}
        if len(self.task.head_lr_grid()) > 1 and inputs.maps and len(self.splits.val):
            entry.update({"lr": trainer.config.lr, "lr_grid": tried})
        entry.update(trend.ends())
        if trainer.extension is not None:
            self._extended(f"{tag}{stage.name}", trainer.extension, result.steps)
        self.history.append(entry)
        for warning in stage_warnings([entry]):
            self.log(f"[yellow]warning:[/yellow] {warning}")

    def _lr_runs(self, stage: Any, tag: str, inputs: _StageInputs) -> list[tuple[str, Any, list[dict[str, Any]]]]:
        """(name, config, parameter groups) of each run of ``stage``: one, or on cached maps with a
        validation split one per learning rate of the task's :meth:`~Task.head_lr_grid` (the
        groups' rates scaled alike, each run logged as ``<stage>@lr<lr>``); a grid of one rate
        is that rate, with or without validation."""
        cfg = self._stage_config(stage)
        grid = self.task.head_lr_grid() if inputs.maps else ()
        if len(grid) > 1 and not len(self.splits.val):  # nothing to choose on: train.lr
            grid = ()
        if not grid:
            return [(f"{tag}{stage.name}", cfg, stage.param_groups)]
        return [(f"{tag}{stage.name}" + (f"@lr{lr:g}" if len(grid) > 1 else ""), dataclasses.replace(cfg, lr=lr),
                 [{**g, "lr": g.get("lr", cfg.lr) * lr / cfg.lr} for g in stage.param_groups]) for lr in grid]

    def _fit_runs(self, model: TransferModel, stage: Any, runs: list[tuple[str, Any, list[dict[str, Any]]]],
                  inputs: _StageInputs, last: bool, joint_kwargs: dict[str, Any]
                  ) -> tuple[Any, Any, LossTrend, dict[str, float | None]]:
        """Train each run from the same start through the one loop; the model keeps the run with
        the best validation selection metric (the first on a tie). Returns its result, trainer and
        loss trend, and each learning rate's best validation metric."""
        from transferkit.train import Trainer

        start = {n: v.detach().clone() for n, v in model.state_dict().items()} if len(runs) > 1 else None
        best: tuple[Any, ...] | None = None
        tried: dict[str, float | None] = {}
        k = stage.trainable_blocks
        for name, cfg, groups in runs:
            if start is not None:
                model.load_state_dict(start)
            trend = LossTrend()
            trainer = Trainer(
                model, cfg, param_groups=groups, train_data=inputs.train,
                val_data=inputs.val if len(self.splits.val) else None, collate_fn=inputs.collate,
                val_collate_fn=inputs.val_collate, forward=inputs.forward, run_dir=self.run_dir,
                stage=name, resume=self.resume, seed=self.cfg.data.seed,
                callbacks=(*self.callbacks, trend), log=detail_log, progress=progress_wanted(),
                lengths=inputs.lengths, task=self.task,
                min_steps=self.min_steps(stage), extend=last, **joint_kwargs,
            )
            # A head on cached features, or a small MLP end to end (the tabular backbone), is a
            # few tiny matmuls per step: a second thread only adds synchronisation (10x slower
            # on a busy 2-core machine, measured in V1; 100x for the tabular MLP at load 10).
            # A decoder on cached maps is convolutions: it keeps the threads.
            small = (k == 0 and inputs.cached and not inputs.maps) or small_dense_step(model, cfg.batch_size)
            with single_thread() if small else contextlib.nullcontext():
                result = trainer.fit()
            tried[f"{cfg.lr:g}"] = result.best_metric
            if best is None or (result.best_metric is not None
                                and self.task.better(result.best_metric, best[0].best_metric)):
                best = (result, trainer, trend, None if start is None else
                        {n: v.detach().clone() for n, v in model.state_dict().items()})
        result, trainer, trend, weights = best  # type: ignore[misc]
        if weights is not None:
            model.load_state_dict(weights)
            self.log(f"[bold]learning rate[/bold] {trainer.stage}: validation {self.task.selection_metric} "
                     + ", ".join(f"lr {lr} {v:.4f}" if v is not None else f"lr {lr} -" for lr, v in tried.items())
                     + f"; kept lr {trainer.config.lr:g}, its best step {result.best_step} (chosen on validation)")
        return result, trainer, trend, tried

    #: below this fraction of the peak rate an extension is said to train little
    SMALL_RATE = 0.05

    def _extended(self, stage: str, extension: dict[str, Any], steps: int) -> None:
        """Record (and say) that ``stage`` continued a finished run for more steps."""
        start = float(extension["start"])
        lrs = ", ".join(f"{k} {v:.3g}" for k, v in extension["lr_start"].items())
        self.extended = {"stage": stage, "from_step": extension["from_step"], "to_step": steps,
                         "schedule": self.cfg.train.scheduler, "lr_start": extension["lr_start"],
                         "lr_start_fraction": round(start, 6)}
        self.log(f"[bold]extended[/bold] stage {stage}: steps {extension['from_step']} -> {steps} from "
                 f"the finished run's final weights and optimizer state, a new "
                 f"{self.cfg.train.scheduler} schedule from the rate the finished one ended at "
                 f"({start:.3g} x the peak: {lrs})")
        if start < self.SMALL_RATE:
            self.extended["warning"] = (
                f"the finished schedule had decayed to {start:.2%} of the peak learning rate, so the "
                "extension trains at a small rate; for a full schedule over all epochs start a new "
                "run (--overwrite) with the new --epochs.")
            self.log(f"[yellow]warning:[/yellow] {self.extended['warning']}")


def frozen_stages(stages: Sequence[Any]) -> bool:
    """True when no stage trained anything below the mapping."""
    return all(s.trainable_blocks == 0 for s in stages)


__all__ = ["FeatureDataset", "LossTrend", "StageRunner", "can_split", "concat_outputs", "frozen_stages", "make_collate", "map_batches",
           "model_device", "predict_features", "predict_items", "predict_outputs",
           "single_thread", "stage_warnings", "target_tensor", "tensor_collate", "to_device"]
