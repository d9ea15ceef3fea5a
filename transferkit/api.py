"""The main job: ``fit`` a transferred model, ``evaluate`` it, ``load`` it for prediction.

``fit`` follows the flow of DESIGN.md: load and split the target data, build the
backbone, let the strategy say what trains in which stage, run every stage through the
one training loop (stages that train only the head run on cached frozen features, stages
that train the top blocks run on cached activations), evaluate on the test split (never
used before), optionally train the same architecture from scratch with the same budget,
and write a run directory.

>>> run = fit(data="digits", backbone="efficientnet_lite0", strategy="linear-probe",
...           shots=10)  # doctest: +SKIP
>>> run.summary["metrics"]["test"]["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from transferkit import __version__
from transferkit.config import FitConfig, from_dict, load_config, to_dict
from transferkit.errors import (
    ConfigError,
    DataError,
    NotFittedError,
    RunDirError,
    TransferkitError,
)
from transferkit.model import TransferModel
from transferkit.rundir import (
    CONFIG,
    FORMAT_VERSION,
    MANIFEST,
    SUMMARY,
    WEIGHTS,
    check_weights_file,
    read_manifest,
    versions,
    write_json,
)
from transferkit.tasks.classification import (
    classification_metrics,
    majority_baseline,
    negative_transfer_warning,
    transfer_gain,
)

# keys of fit(**kwargs) that are shortcuts for nested config keys
_SHORTCUTS = {
    "data": "data.data", "shots": "data.shots", "seed": "data.seed", "domain": "data.domain",
    "text_column": "data.text_column", "label_column": "data.label_column",
    "max_test": "data.max_test", "max_val": "data.max_val", "skip_bad": "data.skip_bad",
    "backbone": "backbone.name", "backbone_weights": "backbone.weights",
    "pretrained": "backbone.pretrained", "image_size": "backbone.image_size",
    "pool_stages": "backbone.pool_stages", "max_length": "backbone.max_length",
    "epochs": "train.epochs", "max_steps": "train.max_steps", "lr": "train.lr",
    "batch_size": "train.batch_size", "checkpoint_every": "train.checkpoint_every",
    "patience": "train.patience",
}


@dataclass
class RunResult:
    """What ``fit`` returns: the run directory, its summary and the trained model."""

    run_dir: Path
    summary: dict[str, Any]
    model: TransferModel

    def __repr__(self) -> str:
        test = self.summary.get("metrics", {}).get("test", {})
        return f"RunResult(run_dir='{self.run_dir}', test_accuracy={test.get('accuracy')})"


class ArrayDataset(torch.utils.data.Dataset):
    """(features, label) pairs over an in-memory or memory-mapped array."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = x
        self.y = np.asarray(y, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self.x[i], dtype=np.float32)), int(self.y[i])


def _tensor_collate(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.long)


def make_collate(backbone: Any) -> Callable[[list], tuple[Any, torch.Tensor]]:
    """Collate raw (input, label) items through the backbone's preprocessing."""

    def collate(items: list) -> tuple[Any, torch.Tensor]:
        return backbone.collate([x for x, _ in items]), torch.tensor([y for _, y in items],
                                                                      dtype=torch.long)

    return collate


def resolve_config(config: FitConfig | str | Path | None = None,
                   overrides: Sequence[str] = (), **kwargs: Any) -> FitConfig:
    """A FitConfig from a config object or YAML path, keyword shortcuts and overrides."""
    values: dict[str, Any] = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        values[_SHORTCUTS.get(key, key)] = value
    if isinstance(config, FitConfig):
        base = to_dict(config)
        for key, value in values.items():
            node = base
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        cfg = from_dict(FitConfig, base)
        return load_config(FitConfig, None, overrides, to_flat(to_dict(cfg))) if overrides else cfg
    return load_config(FitConfig, config, overrides, values)


def to_flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "strategy_params":
            out.update(to_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _run_name(cfg: FitConfig) -> str:
    data = Path(str(cfg.data.data)).name or "data"
    backbone = Path(cfg.backbone.name).name.replace(":", "-")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{data}-{backbone}-{cfg.strategy}-{stamp}")


def _log(msg: str) -> None:
    if not is_main_process():
        return
    from rich.console import Console

    Console(stderr=True, highlight=False).print(msg)


# ----------------------------------------------------------------------------- training


class _Stager:
    """Runs a strategy's stages through the one training loop, choosing per stage the
    cheapest input that is exact: cached features, cached activations or raw inputs."""

    def __init__(self, cfg: FitConfig, splits: Any, cache_dir: str | None, run_dir: Path | None,
                 resume: bool, log: Callable[[str], None], callbacks: Sequence[Any] = ()) -> None:
        self.cfg = cfg
        self.callbacks = tuple(callbacks)
        self.splits = splits
        self.cache_dir = cache_dir
        self.run_dir = run_dir
        self.resume = resume
        self.log = log
        self.timings: dict[str, float] = {"features_s": 0.0, "train_s": 0.0}
        self.history: list[dict[str, Any]] = []
        # joint source training (issue 5): (JointObjective, labelled source train split)
        self.joint: tuple[Any, Any] | None = None

    def features(self, backbone: Any, data: Any, upto_block: int | None = None) -> np.ndarray:
        from transferkit.features import extract_features

        t0 = time.perf_counter()
        feats = extract_features(backbone, data, cache_dir=self.cache_dir, upto_block=upto_block,
                                 bf16=self.cfg.train.bf16, progress=False)
        self.timings["features_s"] += time.perf_counter() - t0
        return feats

    def run(self, model: TransferModel, strategy_name: str, strategy_params: dict[str, Any],
            tag: str = "") -> list[Any]:
        """Train ``model`` with the strategy; returns the strategy's stages."""
        from transferkit.strategies import STRATEGIES
        from transferkit.train import Trainer

        entry = STRATEGIES.entry(strategy_name)
        params = dict(strategy_params)
        strategy_cfg = from_dict(entry.config, params, f"strategy_params ({strategy_name})") \
            if entry.config else None
        strategy = entry.obj(strategy_cfg)
        train_cfg = self.cfg.train
        stages = strategy.stages(model, train_cfg)
        train, val = self.splits.train, self.splits.val
        backbone = model.backbone
        for stage in stages:
            stage_cfg = train_cfg
            if stage.epochs is not None and stage.epochs != train_cfg.epochs:
                stage_cfg = dataclasses.replace(train_cfg, epochs=stage.epochs)
            k = stage.trainable_blocks
            min_steps = int(stage.info.get("min_steps", 0)) if k == 0 else 0
            if min_steps:  # heads on cached features: enough steps to converge (cheap)
                per_epoch = max(1, math.ceil(len(train) / stage_cfg.batch_size))
                stage_cfg = dataclasses.replace(
                    stage_cfg, epochs=max(stage_cfg.epochs, math.ceil(min_steps / per_epoch)))
            lengths: np.ndarray | None = None  # texts: grouped by length (train.group_by_length)
            if k == 0:
                x_tr, x_va = self.features(backbone, train), self.features(backbone, val)
                train_data, val_data = ArrayDataset(x_tr, train.y), ArrayDataset(x_va, val.y)
                collate: Callable = _tensor_collate

                def forward(m: TransferModel, x: torch.Tensor) -> torch.Tensor:
                    return m.forward_features(x)

                def embed(m: TransferModel, x: Any) -> torch.Tensor:
                    return m.mapping(x)
            elif k is not None and k > 0 and _can_split(backbone, k):
                bottom, top = backbone.split_at(k)
                x_tr = self.features(backbone, train, upto_block=k)
                x_va = self.features(backbone, val, upto_block=k)
                train_data, val_data = ArrayDataset(x_tr, train.y), ArrayDataset(x_va, val.y)
                collate = _tensor_collate
                if getattr(backbone, "modality", None) == "text":  # last channel: attention mask
                    lengths = np.asarray(x_tr[..., -1].sum(axis=1), dtype=np.int64)

                def forward(m: TransferModel, x: torch.Tensor, top: nn.Module = top) -> torch.Tensor:
                    return m.forward_features(top(x))

                def embed(m: TransferModel, x: Any, top: nn.Module = top) -> torch.Tensor:
                    return m.mapping(top(x))
            else:
                train_data, val_data = train, val
                collate = make_collate(backbone)
                if getattr(train, "modality", None) == "text":
                    lengths = np.array([len(str(train.input(i))) for i in range(len(train))])

                def forward(m: TransferModel, x: Any) -> torch.Tensor:
                    return m(x)

                def embed(m: TransferModel, x: Any) -> torch.Tensor:
                    return m.features(x)
            joint_kwargs: dict[str, Any] = {}
            if self.joint is not None:  # the source stream, in this stage's input form
                objective, source = self.joint
                src_data = source if collate is not _tensor_collate else ArrayDataset(
                    self.features(backbone, source, upto_block=k or None), source.y)
                joint_kwargs = {"objective": objective.set_embed(embed), "target_data": src_data}
            self.log(f"[bold]stage[/bold] {tag}{stage.name}: "
                     + (f"{k} top block(s) on cached activations" if k else
                        "head on cached features" if k == 0 else "end to end"))
            t0 = time.perf_counter()
            trainer = Trainer(
                model, stage_cfg, param_groups=stage.param_groups, train_data=train_data,
                val_data=val_data if len(val) else None, collate_fn=collate, forward=forward,
                run_dir=self.run_dir, stage=f"{tag}{stage.name}", resume=self.resume,
                seed=self.cfg.data.seed, callbacks=self.callbacks, log=None, lengths=lengths,
                **joint_kwargs,
            )
            # A head on cached features is a few tiny matmuls per step: a second thread only
            # adds synchronisation (10x slower on a busy 2-core machine, measured in V1).
            with _single_thread() if k == 0 else contextlib.nullcontext():
                result = trainer.fit()
            self.timings["train_s"] += time.perf_counter() - t0
            self.history.append({"stage": f"{tag}{stage.name}", "best_metric": result.best_metric,
                                 "steps": result.steps, "stopped": result.stopped,
                                 "seconds": round(time.perf_counter() - t0, 3)})
        finalize = getattr(strategy, "finalize", None)
        if finalize is not None:
            finalize(model)
        return stages


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block (restored afterwards)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _can_split(backbone: Any, k: int) -> bool:
    try:
        backbone.split_at(k)
    except (TransferkitError, ValueError):
        return False
    return True


@torch.inference_mode()
def predict_proba_dataset(model: TransferModel, data: Any, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (N, K) of ``model`` on a TransferDataset."""
    from transferkit.features import length_order

    model.eval()
    out = []
    backbone = model.backbone
    # texts run longest first, so each batch pads little; rows come back in data order
    order = length_order(data, np.arange(len(data)))
    rows = order if order is not None else np.arange(len(data))
    for start in range(0, len(data), batch_size):
        items = [data.input(int(i)) for i in rows[start:start + batch_size]]
        logits = model(backbone.collate(items))
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    if not out:
        return np.zeros((0, model.num_classes), dtype=np.float32)
    probs = np.concatenate(out)
    return probs[np.argsort(order)] if order is not None else probs


def _frozen_backbone(history_stages: list[Any]) -> bool:
    return all(s.trainable_blocks == 0 for s in history_stages)


def evaluate_splits(model: TransferModel, stager: _Stager, splits: Any, frozen: bool,
                    log: Callable[[str], None]) -> dict[str, Any]:
    """Validation and test metrics of a trained model; the test split is read here, once,
    after every choice has been made."""
    val = splits.val
    metrics: dict[str, Any] = {
        "val": classification_metrics(val.y, _evaluate_model(model, stager, val, frozen))
        if len(val) else {},
    }
    test_probs = _evaluate_model(model, stager, splits.test, frozen)
    metrics["test"] = classification_metrics(splits.test.y, test_probs, list(splits.train.classes),
                                             detailed=True)
    log(f"[bold]test[/bold] accuracy {metrics['test']['accuracy']:.4f}, balanced "
        f"{metrics['test']['balanced_accuracy']:.4f}")
    return metrics


def _evaluate_model(model: TransferModel, stager: _Stager, data: Any, frozen: bool) -> np.ndarray:
    if frozen:
        feats = stager.features(model.backbone, data)
        model.eval()
        with torch.inference_mode():
            logits = model.forward_features(torch.from_numpy(np.array(feats, dtype=np.float32)))
        return torch.softmax(logits, dim=1).numpy()
    return predict_proba_dataset(model, data)


def apply_pool_stages(backbone: Any, pool_stages: int | None, strategy: str) -> int:
    """Set ``backbone.pool_stages`` (multi-scale features); ``None`` picks the default: the
    backbone family's ``default_pool_stages`` (timm: the last 4 stages; text: the 2 layers
    below the last) for the linear probe, where nothing below the head trains, else 0.
    Returns the value set."""
    limit = backbone.max_pool_stages() if callable(getattr(backbone, "max_pool_stages", None)) else 0
    if pool_stages is None:
        if strategy != "linear-probe":
            return 0
        pool_stages = min(int(getattr(backbone, "default_pool_stages", 0)), limit)
    elif pool_stages and not limit:
        raise ConfigError(f"The 'backbone.pool_stages' parameter needs an image or text backbone with a "
                          f"known stage layout; {getattr(backbone, 'name', type(backbone).__name__)} has "
                          "none. Set it to 0 (or leave it unset).")
    if pool_stages or getattr(backbone, "pool_stages", 0):
        backbone.set_pool_stages(int(pool_stages))
    return int(pool_stages)


def build_model(cfg: FitConfig, num_classes: int, train_data: Any,
                pretrained: bool | None = None) -> TransferModel:
    """Backbone (with its data-fitted preprocessing), mapping phi and a fresh head."""
    from transferkit.backbones import create_backbone
    from transferkit.hetero import adapt_backbone
    from transferkit.mapping import MAPPINGS

    backbone = create_backbone(
        cfg.backbone.name, weights=cfg.backbone.weights if pretrained is not False else None,
        pretrained=cfg.backbone.pretrained if pretrained is None else pretrained,
        image_size=cfg.backbone.image_size, max_length=cfg.backbone.max_length,
    )
    backbone = adapt_backbone(backbone, train_data)  # input adapter for other table columns
    backbone.adapt_to(train_data)
    apply_pool_stages(backbone, cfg.backbone.pool_stages, cfg.strategy)
    mapping = MAPPINGS.create("identity" if cfg.mapping == "auto" else cfg.mapping,
                              in_dim=backbone.feature_dim)
    return TransferModel(backbone, num_classes, mapping=mapping, head_dropout=cfg.train.head_dropout)


def fit(config: FitConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
        resume: bool = False, log: Callable[[str], None] | None = _log, **kwargs: Any) -> RunResult:
    """Fit a transferred model on the target data and write a run directory.

    ``config`` is a :class:`~transferkit.config.FitConfig` or a YAML path; keyword
    shortcuts (``data``, ``backbone``, ``strategy``, ``shots``, ``epochs``, ``compare``,
    ``out`` ...) and ``overrides`` (``["train.lr=0.01"]``) take precedence.
    """
    t_start = time.perf_counter()
    cfg = resolve_config(config, overrides, **kwargs)
    if not cfg.data.data:
        raise ConfigError("The 'data' parameter of fit is required: a built-in dataset name "
                          "(see `transferkit datasets`) or a path.")
    if cfg.strategy == "auto":
        from transferkit.auto import fit_auto

        return fit_auto(cfg, resume=resume, log=log or (lambda _m: None))
    log = log or (lambda _m: None)
    from transferkit.strategies import STRATEGIES

    STRATEGIES.entry(cfg.strategy)  # fail fast on an unknown strategy name
    for name in cfg.compare:
        if name not in ("scratch",):
            raise ConfigError(f"Unknown baseline '{name}' in compare. Available: scratch.")
    run_dir = Path(cfg.out or Path("runs") / (cfg.name or _run_name(cfg)))
    from transferkit.train import RunDirLock

    # one writer per run directory: a second fit on the same --out is refused
    # (under `accelerate launch` only the main process holds the lock and writes files)
    with RunDirLock(run_dir) if is_main_process() else contextlib.nullcontext():
        return _fit(cfg, run_dir, resume, log, t_start)


def _fit(cfg: FitConfig, run_dir: Path, resume: bool, log: Callable[[str], None],
         t_start: float) -> RunResult:
    from transferkit.data import load_splits

    torch.manual_seed(cfg.data.seed)
    splits = load_splits(cfg.data)
    train = splits.train
    classes = list(train.classes)
    log(f"[bold]data[/bold] {cfg.data.data}: {len(train)} train / {len(splits.val)} val / "
        f"{len(splits.test)} test, {len(classes)} classes")
    if is_main_process():
        (run_dir / CONFIG).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")

    model = build_model(cfg, len(classes), train)
    stager = _Stager(cfg, splits, cfg.cache_dir, run_dir, resume, log)
    log(f"[bold]backbone[/bold] {cfg.backbone.name} ({model.backbone.feature_dim}-d features), "
        f"strategy {cfg.strategy}")
    if hasattr(model.backbone, "describe_adapter"):
        log(model.backbone.describe_adapter())
    mapping_selection = None
    if cfg.mapping == "auto":
        model, mapping_selection = _select_mapping(cfg, model, splits, stager, log)
        cfg = dataclasses.replace(cfg, mapping=mapping_selection["chosen"])
    joint = None
    if cfg.joint_source:
        joint = _joint_source(cfg, model, classes, log)
        stager.joint = joint
    frozen = _frozen_backbone(stager.run(model, cfg.strategy, cfg.strategy_params))

    metrics = evaluate_splits(model, stager, splits, frozen, log)

    baselines: dict[str, Any] = {"scratch": None, "source_only": None, "oracle": None,
                                 "majority": majority_baseline(train.y, splits.test.y)}
    warnings = list(splits.leakage)
    if splits.skipped:
        warnings.append(f"skipped {len(splits.skipped)} unreadable file(s): "
                        + ", ".join(s.get("file", "?") for s in splits.skipped[:5]))
    if "scratch" in cfg.compare:
        log("[bold]baseline[/bold] same architecture from scratch, same budget")
        scratch = build_model(cfg, len(classes), train, pretrained=False)
        scratch_stager = _Stager(cfg, splits, cfg.cache_dir, run_dir, resume, log)
        scratch_stager.run(scratch, "full", {}, tag="scratch-")
        probs = predict_proba_dataset(scratch, splits.test)
        baselines["scratch"] = {"test": classification_metrics(splits.test.y, probs),
                                "train_s": round(scratch_stager.timings["train_s"], 3)}
        log(f"[bold]scratch[/bold] test accuracy {baselines['scratch']['test']['accuracy']:.4f}")
    gain = transfer_gain(metrics, baselines["scratch"])
    warn = negative_transfer_warning(gain)
    if warn:
        warnings.append(warn)
        log(f"[bold red]{warn}[/bold red]")
    for w in splits.leakage:
        log(f"[yellow]warning: {w}[/yellow]")

    save_run(run_dir, model, cfg, train, classes)
    summary = {
        "transferkit_version": __version__,
        "task": "classification",
        "command": "fit",
        "data": {**splits.describe(), "source": cfg.joint_source},
        "backbone": cfg.backbone.name,
        "strategy": cfg.strategy,
        "choice": f"strategy '{cfg.strategy}' and backbone '{cfg.backbone.name}' were given "
                  "explicitly",
        "metrics": metrics,
        "baselines": baselines,
        "transfer_gain": gain,
        "selection": {"split": "val", "validator": None},
        "stages": stager.history,
        "timings": {"total_s": round(time.perf_counter() - t_start, 3),
                    "features_s": round(stager.timings["features_s"], 3),
                    "train_s": round(stager.timings["train_s"], 3)},
        "warnings": warnings,
    }
    if mapping_selection is not None:
        summary["mapping_selection"] = mapping_selection
    if joint is not None:
        summary["joint"] = {"source": cfg.joint_source, "n_source": len(joint[1]),
                            **joint[0].describe()}
    finish_run(run_dir, summary)
    return RunResult(run_dir, summary, model)


# ----------------------------------------------------------------------------- issue 5 hooks


def _select_mapping(cfg: FitConfig, model: TransferModel, splits: Any, stager: _Stager,
                    log: Callable[[str], None]) -> tuple[TransferModel, dict[str, Any]]:
    """``--mapping auto``: train every mapping of MAPPINGS with a fresh head on the cached
    features (through the one Trainer), keep the best by validation accuracy."""
    from transferkit.mapping import MAPPINGS, compare_mappings
    from transferkit.train import Trainer

    if not len(splits.val):
        raise ConfigError("--mapping auto chooses the mapping on validation data, and this dataset "
                          "has no validation split; set data.val_fraction > 0 or name a mapping.")
    x_tr, x_va = stager.features(model.backbone, splits.train), stager.features(model.backbone, splits.val)
    brief = dataclasses.replace(cfg.train, patience=None, checkpoint_every=None, tensorboard=False)

    def train_fn(mapping: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
        net = nn.Sequential(mapping, head)
        params = [p for p in net.parameters() if p.requires_grad]
        return Trainer(net, brief, param_groups=[{"params": params, "name": "mapping+head"}],
                       train_data=ArrayDataset(x.numpy(), y.numpy()), collate_fn=_tensor_collate,
                       seed=cfg.data.seed, log=None, progress=False).fit()

    t0 = time.perf_counter()
    results = compare_mappings(x_tr, splits.train.y, x_va, splits.val.y, seed=cfg.data.seed,
                               train_fn=train_fn)
    stager.timings["train_s"] += time.perf_counter() - t0
    chosen = results[0]["name"]
    log("[bold]mapping auto[/bold] (validation accuracy, head trained on cached features):")
    for r in results:
        log(f"  {'*' if r['name'] == chosen else ' '} {r['name']:<11} val {r['val_accuracy']:.4f}  "
            f"train {r['train_accuracy']:.4f}  {r['params']:>8} params  {r['seconds']:.2f}s")
    if chosen != "identity":
        model = TransferModel(model.backbone, model.num_classes,
                              mapping=MAPPINGS.create(chosen, in_dim=model.backbone.feature_dim),
                              head_dropout=cfg.train.head_dropout)
    rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in results]
    return model, {"chosen": chosen, "split": "val", "metric": "accuracy", "results": rows}


def _joint_source(cfg: FitConfig, model: TransferModel, classes: list[str],
                  log: Callable[[str], None]) -> tuple[Any, Any]:
    """``--joint-source``: the labelled source split and the JointObjective."""
    from transferkit.joint import JointObjective, load_source

    source = load_source(str(cfg.joint_source), cfg.data)
    if source.modality != model.backbone.modality:
        raise ConfigError(f"The joint source '{cfg.joint_source}' holds {source.modality} data but the "
                          f"backbone reads {model.backbone.modality}; use a source of the target's kind.")
    objective = JointObjective(model.head.in_features, source.classes, classes,
                               source_weight=cfg.source_weight,
                               label_smoothing=cfg.train.label_smoothing)
    log(f"[bold]joint[/bold] source {cfg.joint_source}: {len(source)} labelled examples, loss = "
        f"{cfg.source_weight:g} * L_source + L_target, "
        + ("shared head" if objective.shared_head else "separate source head"))
    return objective, source


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a distributed (``accelerate launch``) job."""
    return int(os.environ.get("RANK", "0")) == 0


def finish_run(run_dir: Path, summary: dict[str, Any]) -> None:
    """Write summary.json, then the report and the runs index (best effort for both).
    Only the main process of a distributed job writes."""
    if not is_main_process():
        return
    write_json(run_dir / SUMMARY, summary)
    for step in ("transferkit.report:write_report", "transferkit.runs:record_run"):
        module, func = step.split(":")
        try:
            mod = __import__(module, fromlist=[func])
        except ImportError:
            continue
        getattr(mod, func)(run_dir)


def save_run(run_dir: Path, model: TransferModel, cfg: FitConfig | None, train: Any,
             classes: list[str], extra: dict[str, Any] | None = None) -> None:
    """Write model.safetensors and transferkit.json (what predict and serve need)."""
    if not is_main_process():
        return
    from safetensors.torch import save_file

    from transferkit.rundir import atomic_write_bytes

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = run_dir / f".{WEIGHTS}.tmp"
    save_file(state, str(tmp))
    atomic_write_bytes(run_dir / WEIGHTS, tmp.read_bytes())
    tmp.unlink(missing_ok=True)
    mapping = model.mapping
    manifest = {
        "format_version": FORMAT_VERSION,
        "task": "classification",
        "modality": train.modality,
        "classes": list(classes),
        "backbone": model.backbone.describe(),
        "mapping": {"name": getattr(mapping, "registry_name", cfg.mapping if cfg else "identity"),
                    "in_dim": model.backbone.feature_dim,
                    "out_dim": getattr(mapping, "out_dim", model.backbone.feature_dim)},
        "head": {"in_dim": model.head.in_features, "num_classes": model.num_classes,
                 "dropout": float(model.dropout.p)},
        "data": {"name": train.name, "text_column": cfg.data.text_column if cfg else None,
                 "label_column": cfg.data.label_column if cfg else None,
                 "schema": train.schema.to_dict() if getattr(train, "schema", None) else None},
        "versions": versions(),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        **(extra or {}),
    }
    write_json(run_dir / MANIFEST, manifest)


# ----------------------------------------------------------------------------- loading


class Predictor:
    """A trained run, ready to predict: ``transferkit.load(run_dir)``.

    ``predict(inputs)`` returns class names, ``predict_proba(inputs)`` an (N, K) array.
    Inputs are image paths or arrays, texts, or table rows (a DataFrame or dicts).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = read_manifest(self.run_dir)
        self.classes: list[str] = list(self.manifest["classes"])
        self.modality: str = self.manifest["modality"]
        self.model = _rebuild_model(self.manifest, self.run_dir)
        self.model.eval()

    def _items(self, inputs: Any) -> list[Any]:
        from transferkit.data.inputs import to_raw_items

        return to_raw_items(inputs, self.modality, self.manifest.get("data", {}))

    def predict_proba(self, inputs: Any, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, K) for user inputs (paths, arrays, texts, rows)."""
        return self.predict_proba_items(self._items(inputs), batch_size)

    @torch.inference_mode()
    def predict_proba_items(self, items: list[Any], batch_size: int = 64) -> np.ndarray:
        """Class probabilities for raw items (as ``collect_inputs`` returns them)."""
        out = []
        for start in range(0, len(items), batch_size):
            batch = self.model.backbone.collate(items[start:start + batch_size])
            out.append(torch.softmax(self.model(batch).float(), dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def predict(self, inputs: Any) -> list[str]:
        return [self.classes[i] for i in self.predict_proba(inputs).argmax(axis=1)]

    def __repr__(self) -> str:
        return f"Predictor('{self.run_dir}', {self.modality}, classes={self.classes})"


def _rebuild_model(manifest: dict[str, Any], run_dir: Path) -> TransferModel:
    from safetensors.torch import load_file

    import transferkit.hetero  # noqa: F401 - registers the 'adapted-table' backbone family
    from transferkit.backbones import from_description
    from transferkit.mapping import MAPPINGS

    weights = check_weights_file(run_dir / WEIGHTS)
    backbone = from_description(manifest["backbone"])
    m = manifest.get("mapping") or {"name": "identity"}
    mapping = MAPPINGS.create(m["name"], in_dim=m.get("in_dim", backbone.feature_dim),
                              out_dim=m.get("out_dim"))
    head = manifest["head"]
    model = TransferModel(backbone, head["num_classes"], mapping=mapping,
                          head_dropout=head.get("dropout", 0.0))
    state = load_file(str(weights))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise TransferkitError(
            f"The weights in '{weights}' do not fit the model described in {MANIFEST}: "
            f"missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}. The run "
            "directory is inconsistent; re-run the fit that wrote it."
        )
    return model


def load(run_dir: str | Path) -> Predictor:
    """Load a run directory for prediction (never unpickles anything)."""
    return Predictor(run_dir)


def evaluate(run_dir: str | Path, data: str | None = None, split: str = "test",
             **data_kwargs: Any) -> dict[str, Any]:
    """Metrics of a saved run on a dataset split (default: the run's own test split)."""
    from transferkit.data import load as load_data

    predictor = load(run_dir)
    if data is None:
        if not (Path(run_dir) / CONFIG).is_file():
            raise RunDirError(f"'{run_dir}' has no {CONFIG}, so the data it was fitted on is unknown; "
                              "pass the evaluation data (--data / data=...).")
        cfg = yaml.safe_load((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
        data_cfg = cfg.get("data", {})
        data = data_cfg.get("data")
        for key in ("text_column", "label_column", "domain", "split_seed", "max_test"):
            if data_cfg.get(key) is not None and key not in data_kwargs:
                data_kwargs[key] = data_cfg[key]
    if data is None:
        raise NotFittedError(f"Run '{run_dir}' records no dataset; pass data=... to evaluate.")
    ds = load_data(data, split=split, **data_kwargs)
    if list(ds.classes) != predictor.classes:
        unseen = sorted(set(ds.classes) - set(predictor.classes))
        if unseen:
            raise DataError(
                f"The evaluation data has classes the model never saw: {unseen}. The model "
                f"knows {predictor.classes}. Evaluate on data with only those classes, or refit "
                "with data that includes the new ones."
            )
        remap = np.array([predictor.classes.index(c) for c in ds.classes])
        ds.y = remap[ds.y]
    probs = predict_proba_dataset(predictor.model, ds)
    return classification_metrics(ds.y, probs, predictor.classes, detailed=True)
