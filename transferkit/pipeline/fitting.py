"""Fitting a configured strategy: the body that ``fit`` and ``pretrain`` share -- data and
task, model, stages, evaluation, baselines, and the run directory written once."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.config import FitConfig
from transferkit.errors import ConfigError
from transferkit.model import TransferModel
from transferkit.pipeline.baselines import evaluate_splits, judge
from transferkit.pipeline.budget import apply_label_budget, labels_line
from transferkit.pipeline.build import build_model, data_resolution
from transferkit.pipeline.run import Run, RunResult, Summary
from transferkit.pipeline.stages import (
    FeatureDataset,
    StageRunner,
    frozen_stages,
    stage_warnings,
    tensor_collate,
)
from transferkit.tasks import Task, get_task, infer_task

logger = logging.getLogger("transferkit.data")


def choose_task(cfg: FitConfig, train: Any, log: Callable[[str], None]) -> Task:
    """The task named by ``--task``, or the one :func:`infer_task` reads from the labels
    (``train``: data whose classes are the raw label values), built with ``task_params``."""
    return pick_task(cfg.task, cfg.task_params, train, log)


def pick_task(name: str | None, params: Any, pool: Any, log: Callable[[str], None]) -> Task:
    """The task ``name`` (built with ``params``), or the one :func:`infer_task` reads from
    the raw label values of ``pool`` when ``name`` is None (and the reason is logged)."""
    if name is not None:
        return get_task(name, dict(params or {}) or None)
    name, why = infer_task(pool)
    log(f"[bold]task[/bold] {name} ({why}; --task chooses another)")
    return get_task(name, dict(params or {}) or None)


def task_splits(cfg: FitConfig, log: Callable[[str], None]) -> tuple[Any, Task]:
    """(splits, task) of a fit: the task is chosen on the unsplit data's raw label values
    (before they are stored as the task's targets), then the data is split for it."""
    return load_task_splits(cfg.data, cfg.task, cfg.task_params, log)


def load_task_splits(data: Any, task: str | None, params: Any,
                     log: Callable[[str], None]) -> tuple[Any, Task]:
    """(splits, task) of the DataConfig ``data``: the task ``task``, or the one the unsplit
    data's raw label values say (:func:`pick_task`), and the data split and stored for it."""
    from pathlib import Path

    from transferkit.data import load_splits
    from transferkit.tasks import TASKS

    d = data
    if (task is not None and TASKS.get(task).targets == "label_sets" and getattr(d, "data", None)
            and d.label_separator is None and not d.label_columns and Path(str(d.data)).expanduser().exists()):
        raise ConfigError(f"The {task} task reads a set of labels per example from '{d.data}': pass "
                          "--label-separator ';' (one column of labels joined by ';') or --label-columns "
                          "a,b,c (several 0/1 columns).")
    if task is not None:  # named: its targets say how the data is read and split
        named = pick_task(task, params, None, log)
        return load_splits(data, targets=named.targets), named
    chosen: list[Task] = []

    def targets(pool: Any) -> str:
        chosen.append(pick_task(task, params, pool, log))
        return chosen[0].targets

    splits = load_splits(data, targets=targets)
    return splits, chosen[0]


def fit_configured(cfg: FitConfig, run: Run, resume: bool, log: Callable[[str], None],
                   t_start: float, section: tuple[str, dict[str, Any]] | None = None,
                   choice: str | None = None) -> RunResult:
    """Train ``cfg``'s strategy on its data and write ``run``: the body of ``fit`` and
    ``pretrain`` (``section`` = (command, summary section) for pretrain; ``choice``: why the
    strategy, when a default chose it)."""
    torch.manual_seed(cfg.data.seed)
    cfg = apply_label_budget(cfg, log)
    splits, task = task_splits(cfg, log)
    log_data(cfg, splits, task, log)
    train = splits.train
    run.write_config(cfg, extendable=True)
    run.fingerprint_splits(splits)
    if run.extension is not None:
        log(f"[bold]extending[/bold] the finished run {run.final}: epochs {run.extension['from_epochs']} -> "
            f"{run.extension['to_epochs']} (written to {run.dir}, renamed into place when complete)")

    model = build_model(cfg, train, task)
    runner = StageRunner(cfg, splits, cfg.cache_dir, run.dir, resume, log, task=task)
    size = getattr(model.backbone, "image_size", None)
    chosen = ""
    if size and cfg.backbone.image_size is None:
        from transferkit.backbones import starts_pretrained

        start = starts_pretrained(cfg.backbone.name, cfg.backbone.pretrained, cfg.backbone.weights)
        if data_resolution(train, start) == size:
            chosen = (f", {size} px chosen for these images (--image-size sets it)" if start else
                      f", {size} px: the images' native size (random init, no pretraining resolution "
                      "to match; --image-size sets it)")
    log(f"[bold]backbone[/bold] {cfg.backbone.name} ({model.backbone.feature_dim}-d features{chosen}), "
        f"strategy {cfg.strategy}")
    tip = model.backbone.advice(train)
    if tip:
        log(tip)
    adapter = model.backbone.describe_adapter() if hasattr(model.backbone, "describe_adapter") else None
    if adapter:  # an input adapter onto a pretrained backbone's inputs: what matched
        log(adapter)
    kept = getattr(model, "source_head", None)
    if kept:
        log(f"  head: {'kept from' if kept['kept'] else 'fresh, not taken from'} the run {kept['run']}"
            + (f" ({kept['tensors']} tensors: same task, same {kept['classes']} classes; "
               "--set backbone.keep_head=false starts it fresh)" if kept["kept"] else f" ({kept['why_not']})"))
    mapping_selection = None
    if cfg.mapping == "auto":
        model, mapping_selection = select_mapping(cfg, model, splits, runner, task, log)
        cfg = dataclasses.replace(cfg, mapping=mapping_selection["chosen"])
    joint = None
    if cfg.joint_source:
        if task.targets != "classes":
            raise ConfigError(f"--joint-source trains a classification objective on the source; the "
                              f"{task.name} task has no classes. Drop --joint-source.")
        joint = joint_source(cfg, model, list(train.classes), log)
        runner.joint = joint
    frozen = frozen_stages(runner.run(model, cfg.strategy, cfg.strategy_params))

    metrics = evaluate_splits(model, runner, splits, frozen, log)
    baselines, gain, warnings = judge(cfg, task, splits, metrics, run.dir, resume, log,
                                      test_outputs=runner.test_outputs, model=model)
    near = near_duplicate_warnings(cfg, model.backbone, splits)
    for w in [*splits.leakage, *near]:
        log(f"[yellow]warning: {w}[/yellow]")

    run.save_model(model, task, train, cfg)
    run.save_test_predictions(task, splits.test.y, runner.test_outputs, splits.test)
    summary = Summary(
        task=task.name, command="fit", data={**splits.describe(), "source": cfg.joint_source},
        backbone=cfg.backbone.name, strategy=cfg.strategy,
        choice=choice or f"strategy '{cfg.strategy}' and backbone '{cfg.backbone.name}' were given explicitly",
        metrics=metrics, labels_used=task.labels_used(splits), baselines=baselines,
        transfer_gain=gain, selection={"split": "val" if len(splits.val) else "none", "validator": None,
                   **({"kept_stage": runner.kept_stage} if runner.kept_stage else {})},
        stages=runner.history, timings=timings(t_start, runner),
        warnings=[*warnings, *near, *stage_warnings(runner.history),
                  *([runner.extended["warning"]] if runner.extended and "warning" in runner.extended else [])],
        mapping_selection=mapping_selection, source_head=getattr(model, "source_head", None),
        extended=extended_section(run, runner),
        joint=None if joint is None else {"source": cfg.joint_source, "n_source": len(joint[1]),
                                          **joint[0].describe()},
        **runner.adjustments,
    )
    if section is not None:  # pretrain: its own command, choice and section, written once
        summary.command = section[0]
        summary.choice = section[1].pop("choice")
        summary.data["source"] = cfg.data.data
        summary.pretrain = {**section[1],
                            "source_accuracy": metrics["test"].get(task.gain_metric)}
    data = run.finish(summary)  # the run is renamed into place here
    return RunResult(run.dir, data, model)


def log_data(cfg: FitConfig, splits: Any, task: Task, log: Callable[[str], None]) -> None:
    """The console lines of a fit's data: its split sizes, any group/time rule, how the
    validation split was made under --shots, and the labels used (train + validation)."""
    train = splits.train
    log(f"[bold]data[/bold] {cfg.data.data}: {len(train)} train / {len(splits.val)} val / "
        f"{len(splits.test)} test, " + ("numeric targets" if train.has_values
                                         else f"{len(train.classes)} labels (label sets)"
                                         if train.multi_label else f"{len(train.classes)} classes"))
    for label, key in (("split", "split_by"), ("shots:", "shots_sampling"),
                       ("validation:", "validation")):  # group/time rules, the label budget
        if key in train.meta:
            log(f"  {label} {train.meta[key]}")
    log(labels_line(task.labels_used(splits)))


def extended_section(run: Run, runner: StageRunner) -> dict[str, Any] | None:
    """summary.json's ``extended``: a finished run resumed with more epochs (from what to
    what, the stage that trained longer, its steps and the rate its new schedule began at)."""
    if run.extension is None:
        return None
    if runner.extended is None:  # e.g. a solved head, or max_steps bound both plans
        return {**run.extension, "stage": None,
                "note": "no stage planned more steps with these settings: the run is what a new "
                        "run with them trains"}
    return {**run.extension, **runner.extended}


def near_duplicate_warnings(cfg: FitConfig, backbone: Any, splits: Any) -> list[str]:
    """Near-duplicate leakage across train/val/test (images and texts), found on the backbone
    features this fit has cached -- nothing is extracted for it: when a split's features are
    not in the cache (the backbone was fine-tuned end to end), the check is skipped."""
    from transferkit.data.near_duplicates import MODALITIES, find_near_duplicates
    from transferkit.features import FeatureCache, cache_key

    threshold = cfg.data.near_duplicate_threshold
    if not threshold or splits.train.modality not in MODALITIES:
        return []
    cache = FeatureCache(cfg.cache_dir)
    parts = {name: getattr(splits, name) for name in ("train", "val", "test")}
    features = {}
    for name, part in parts.items():
        if not len(part):
            continue
        found = cache.get(cache_key(backbone, part, None, cfg.train.bf16))
        if found is None:
            logger.debug("near-duplicate check skipped: the %s split's features of backbone %s are "
                         "not cached (a fine-tuned backbone); it runs on a frozen backbone's features",
                         name, cfg.backbone.name)
            return []
        if found.ndim == 3:  # per-word features (token classification): the sentence's mean word
            words = np.abs(found).sum(-1) > 0  # (N, W): padding is all-zero
            found = found.sum(1) / np.maximum(words.sum(1, keepdims=True), 1)  # (N, D)
        features[name] = found
    return find_near_duplicates(parts, features, threshold)


def timings(t_start: float, runner: StageRunner) -> dict[str, float]:
    """The summary's timings: total wall time, feature extraction and training."""
    return {"total_s": round(time.perf_counter() - t_start, 3),
            "features_s": round(runner.timings["features_s"], 3),
            "train_s": round(runner.timings["train_s"], 3)}


def select_mapping(cfg: FitConfig, model: TransferModel, splits: Any, runner: StageRunner,
                   task: Task, log: Callable[[str], None]) -> tuple[TransferModel, dict[str, Any]]:
    """``--mapping auto``: train every mapping of MAPPINGS with a fresh head on the cached
    features (through the one Trainer), keep the best by validation accuracy."""
    from transferkit.mapping import MAPPINGS, compare_mappings
    from transferkit.pipeline.build import new_model
    from transferkit.train import Trainer

    if task.targets != "classes":
        raise ConfigError(f"--mapping auto compares mappings by validation accuracy, which the {task.name} "
                          "task does not have. Name a mapping (e.g. --mapping identity).")
    x_tr = runner.features(model.backbone, splits.train)
    brief = dataclasses.replace(cfg.train, patience=None, checkpoint_every=None, tensorboard=False,
                                report_to="none")

    def train_fn(mapping: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
        net = nn.Sequential(mapping, head)
        params = [p for p in net.parameters() if p.requires_grad]
        return Trainer(net, brief, param_groups=[{"params": params, "name": "mapping+head"}],
                       train_data=FeatureDataset(x.numpy(), y.numpy()), collate_fn=tensor_collate,
                       seed=cfg.data.seed, log=None, progress=False, task=task).fit()

    t0 = time.perf_counter()
    if len(splits.val):
        x_va = runner.features(model.backbone, splits.val)
        results = compare_mappings(x_tr, splits.train.y, x_va, splits.val.y, seed=cfg.data.seed,
                                   train_fn=train_fn)
        split = "val"
    else:  # no validation split (the label budget of --shots): k-fold CV on the training labels
        results, split = compare_mappings_cv(x_tr, splits.train.y, cfg.data.seed, train_fn)
    runner.timings["train_s"] += time.perf_counter() - t0
    chosen = results[0]["name"]
    log(f"[bold]mapping auto[/bold] ({'validation' if split == 'val' else split} accuracy, head "
        "trained on cached features):")
    for r in results:
        log(f"  {'*' if r['name'] == chosen else ' '} {r['name']:<11} val {r['val_accuracy']:.4f}  "
            f"train {r['train_accuracy']:.4f}  {r['params']:>8} params  {r['seconds']:.2f}s")
    if not isinstance(model.mapping, MAPPINGS.get(chosen)):  # a new mapping and a fresh head
        model = new_model(model.backbone, task, model.num_classes,
                          MAPPINGS.build(chosen, in_dim=model.backbone.feature_dim),
                          cfg.train.head_dropout)
    rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in results]
    return model, {"chosen": chosen, "split": split, "metric": "accuracy", "results": rows}


def compare_mappings_cv(x: Any, y: Any, seed: int, train_fn: Any) -> tuple[list[dict[str, Any]], str]:
    """:func:`~transferkit.mapping.compare_mappings` on k stratified folds of the training
    labels (k = up to 5, at most the rarest class's count): each mapping's ``val_accuracy``
    is its mean over the held-out folds; best first (ties: fewer parameters). Returns the
    rows and how they were scored."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from transferkit.mapping import compare_mappings
    from transferkit.train.convex import MAX_FOLDS

    y = np.asarray(y)
    counts = np.bincount(y[y >= 0])
    folds = min(MAX_FOLDS, int(counts[counts > 0].min()))
    if folds < 2:
        raise ConfigError("--mapping auto chooses the mapping by cross-validation when there is no "
                          "validation split, and a class has a single training example; give --shots "
                          ">= 2, set data.val_fraction > 0, or name a mapping (e.g. --mapping identity).")
    per: dict[str, list[dict[str, Any]]] = {}
    for tr, va in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        for r in compare_mappings(x[tr], y[tr], x[va], y[va], seed=seed, train_fn=train_fn):
            per.setdefault(r["name"], []).append(r)
    rows = [{"name": name, "val_accuracy": float(np.mean([r["val_accuracy"] for r in rs])),
             "train_accuracy": float(np.mean([r["train_accuracy"] for r in rs])),
             "params": rs[0]["params"], "seconds": float(sum(r["seconds"] for r in rs))}
            for name, rs in per.items()]
    rows.sort(key=lambda r: (-r["val_accuracy"], r["params"]))
    return rows, f"{folds}-fold cross-validation"


def joint_source(cfg: FitConfig, model: TransferModel, classes: list[str],
                 log: Callable[[str], None]) -> tuple[Any, Any]:
    """``--joint-source``: the labelled source split and the JointObjective."""
    from transferkit.joint import JointObjective, load_source

    source = load_source(str(cfg.joint_source), cfg.data)
    if source.modality != model.backbone.modality:
        raise ConfigError(f"The joint source '{cfg.joint_source}' holds {source.modality} data but the "
                          f"backbone reads {model.backbone.modality}; use a source of the target's kind.")
    in_dim = int(getattr(model.mapping, "out_dim", model.backbone.feature_dim))
    objective = JointObjective(in_dim, source.classes, classes, source_weight=cfg.source_weight,
                               label_smoothing=cfg.train.label_smoothing)
    log(f"[bold]joint[/bold] source {cfg.joint_source}: {len(source)} labelled examples, loss = "
        f"{cfg.source_weight:g} * L_source + L_target, "
        + ("shared head" if objective.shared_head else "separate source head"))
    return objective, source


__all__ = ["choose_task", "fit_configured", "load_task_splits", "log_data", "pick_task", "task_splits", "joint_source",
           "compare_mappings_cv", "extended_section", "near_duplicate_warnings", "select_mapping",
           "timings"]
