"""adapt's data: the labelled source, the target (its training labels dropped), one label
set in both, optionally one image resolution, and the row datasets the loop trains on."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from transferkit.data.images import native_size
from transferkit.errors import ConfigError, DataError
from transferkit.jobs.adapt.config import AdaptConfig

MAX_CONTEXT = 2000  # target examples the validator sees (SND is quadratic in them)


@dataclass
class AdaptData:
    """The splits of one adapt run. ``target_unlabelled`` is the target's train split at
    ``unlabelled_idx`` without its labels; ``shot_idx`` indexes the labelled target shots
    in ``target_train``; ``context_idx`` the target rows the validator sees."""

    classes: list[str]
    source_train: Any
    source_val: Any
    target_train: Any
    target_test: Any
    target_unlabelled: Any = None
    shot_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unlabelled_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    context_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    warnings: list[str] = field(default_factory=list)
    resolution: dict[str, Any] | None = None
    #: the task, chosen on the source labels (``cfg.task``, else inferred as in ``fit``)
    task: Any = None


#: the unlabelled target examples adapt samples by default (``target.max_train``): the
#: alignment losses and validators see a distribution, which 2,000 examples describe
DEFAULT_MAX_TARGET = 2000


def load_data(cfg: AdaptConfig, log: Callable[[str], None]) -> AdaptData:
    """Source and target splits for ``cfg``; the target's training labels are dropped here,
    before anything trains or selects (the labelled shots keep theirs)."""
    from transferkit.data import load_splits
    from transferkit.data.file_check import check_cache_dir
    from transferkit.pipeline.fitting import load_task_splits

    with check_cache_dir(cfg.cache_dir):  # image-file checks cached under --cache-dir
        src, task = load_task_splits(cfg.data_config("source"), cfg.task, cfg.task_params, log)
        per_token = bool(getattr(task, "per_token", False))
        tgt = load_splits(cfg.data_config("target"), targets=task.targets)
    if src.train.modality != tgt.train.modality:
        raise DataError(f"The source '{cfg.source.data}' holds {src.train.modality} data and the "
                        f"target '{cfg.target.data}' {tgt.train.modality} data; adapt needs one "
                        "modality in both domains (see `transferkit fit --mapping` for input "
                        "adapters).")
    data = AdaptData(classes=list(src.train.classes), source_train=src.train, source_val=src.val,
                     target_train=_align_target_classes(src.train, tgt.train, "train"),
                     target_test=_align_target_classes(src.train, tgt.test, "test"), task=task) \
        if not per_token else token_data(cfg, src, tgt, task, log)
    task.fit_targets(src.train)
    if cfg.match_resolution or (cfg.match_resolution is None
                                and resolutions_differ(data.source_train, data.target_train)):
        if cfg.match_resolution is None:
            log("[bold]resolution[/bold] auto: the two image domains have different native sizes, "
                "so the larger is downsampled to the smaller (match_resolution=false keeps both)")
        _match_resolution(cfg, data, log)
    if len(data.source_val) == 0:
        raise DataError(f"The source '{cfg.source.data}' has no validation split; the validators "
                        "need source validation data. Lower the source's val cap or add data.")
    strata = None if per_token else _strata(data.target_train)
    if cfg.target.shots and per_token:  # K sentences in total, every entity type among them
        from transferkit.data.tags import sample_sentences

        data.shot_idx = sample_sentences(data.target_train.y, data.classes, cfg.target.shots, cfg.seed)
    elif cfg.target.shots:
        data.shot_idx = (_stratified_take(strata, cfg.target.shots, cfg.seed) if data.target_train.has_values
                         else _sample_shots(data.target_train.y, cfg.target.shots, cfg.seed, data.classes))
    keep = np.arange(len(data.target_train))
    cap = cfg.target.max_train if cfg.target.max_train is not None else DEFAULT_MAX_TARGET
    if cap < len(keep):
        keep = (np.sort(np.random.default_rng(cfg.split_seed).choice(len(keep), cap, replace=False))
                if per_token else _stratified_take(strata, cap, cfg.split_seed))
        if cfg.target.max_train is None:
            log(f"[bold]target[/bold] a stratified sample of {cap:,} of the {len(data.target_train):,} "
                "unlabelled target examples adapts (the default cap; --max-target N sets it)")
    data.unlabelled_idx = keep
    data.target_unlabelled = data.target_train.subset(keep).without_labels()
    rng = np.random.default_rng(cfg.split_seed)
    n_ctx = min(MAX_CONTEXT, len(data.target_unlabelled))
    data.context_idx = np.sort(rng.choice(len(data.target_unlabelled), n_ctx, replace=False))
    data.warnings = list(src.leakage) + list(tgt.leakage) + data.warnings
    if cfg.source.data == cfg.target.data and cfg.source.domain == cfg.target.domain:
        data.warnings.append("source and target are the same dataset and domain: there is no "
                             "shift to adapt to.")
    log(f"[bold]data[/bold] source {cfg.source.data}: {len(data.source_train)} train / "
        f"{len(data.source_val)} val; target {cfg.target.data}: {len(data.target_unlabelled)} "
        f"unlabelled train"
        + (f" + {len(data.shot_idx)} labelled" if len(data.shot_idx) else "")
        + f" / {len(data.target_test)} test (labels for evaluation only); "
        + ("IOB2 tags per word (sentences counted)" if per_token else "numeric targets" if src.train.has_values else f"{len(data.classes)} labels (label sets)"
           if src.train.multi_label else f"{len(data.classes)} classes"))
    return data


def token_data(cfg: AdaptConfig, src: Any, tgt: Any, task: Any, log: Callable[[str], None]) -> AdaptData:
    """Source and target of the token task in the source's tags: the target's entity types
    the source does not have become ``O`` (the adapted tagger cannot learn them; the target
    figures judge the shared types only), said in a warning."""
    classes = list(src.train.classes)
    extra = sorted({c[2:] for c in tgt.train.classes if c != "O"} - {c[2:] for c in classes if c != "O"})
    data = AdaptData(classes=classes, source_train=src.train, source_val=src.val,
                     target_train=retag(tgt.train, classes), target_test=retag(tgt.test, classes), task=task)
    if extra:
        msg = (f"the target '{cfg.target.data}' has entity types the source '{cfg.source.data}' does not "
               f"({', '.join(extra)}): they are tagged O in the target here, so the target figures judge "
               f"only the {len(classes) // 2} shared types ({', '.join(c[2:] for c in classes[1::2])}).")
        data.warnings.append(msg)
        log(f"[yellow]{msg}[/yellow]")
    return data


def retag(data: Any, classes: list[str]) -> Any:
    """A token dataset's tag codes in ``classes``' order; a tag not in ``classes`` becomes
    ``O`` (its type is unknown to the source), padding stays padding."""
    from transferkit.data.tags import IGNORE

    if list(data.classes) == classes:
        return data
    if "O" not in classes:
        raise DataError(f"The source's tags {classes} have no 'O'; adapt's token task needs IOB2 tags.")
    lookup = np.array([classes.index(c) if c in classes else classes.index("O") for c in data.classes],
                      dtype=np.int64)
    y = np.asarray(data.y)
    y = np.where(y != IGNORE, lookup[np.where(y != IGNORE, y, 0)], IGNORE)
    return dataclasses.replace(data, y=y, classes=list(classes), meta=dict(data.meta),
                               skipped=list(data.skipped))


def _match_resolution(cfg: AdaptConfig, data: AdaptData, log: Callable[[str], None]) -> None:
    """Resample the higher-resolution domain to the other's native size (``match_resolution``)."""
    if data.source_train.modality != "image":
        raise ConfigError(f"The 'match_resolution' parameter of adapt applies to image data; the "
                          f"source '{cfg.source.data}' holds {data.source_train.modality} data. "
                          "Leave it off (false) for this data.")
    size, which = match_resolution(data.source_train, data.target_train)
    data.resolution = {"size": list(size), "resampled": which, "method": "PIL BOX (area)"}
    if which == "source":
        data.source_train = resample_images(data.source_train, size)
        data.source_val = resample_images(data.source_val, size)
    elif which == "target":
        data.target_train = resample_images(data.target_train, size)
        data.target_test = resample_images(data.target_test, size)
        data.warnings.append(f"match_resolution downsampled the TARGET images to {size[0]}x{size[1]} "
                             "(the source's size); resize new target images the same way before "
                             "predicting with this run.")
    log(f"[bold]resolution[/bold] {'both domains already ' if which is None else which + ' resampled to '}"
        f"{size[0]}x{size[1]} (PIL BOX)")


def _stratified_take(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` indices, classes in proportion, fixed by ``seed`` (kept in order)."""
    if n >= len(y):
        return np.arange(len(y))
    from transferkit.data.splits import iterative_cap, stratified_cap

    if np.ndim(y) == 2:  # label sets: every label keeps its share
        return np.sort(np.asarray(iterative_cap(y, n, seed), dtype=np.int64))

    return np.sort(np.asarray(stratified_cap(y, n, seed), dtype=np.int64))


def _strata(data: Any) -> np.ndarray:
    """What the target's caps stratify on: its classes, or quantile bins of numeric targets
    (``target.shots`` of numbers is then a total, as ``--shots`` is for regression)."""
    from transferkit.data.targets import value_strata

    return value_strata(data.y) if data.has_values else data.y


def _sample_shots(y: np.ndarray, k: int, seed: int, classes: list[str]) -> np.ndarray:
    """K labelled examples per class; for label sets, rows until every label has K positives."""
    from transferkit.data.splits import sample_shots, sample_shots_multilabel

    if np.ndim(y) == 2:
        return np.asarray(sample_shots_multilabel(y, k, seed, classes), dtype=np.int64)
    return np.asarray(sample_shots(y, k, seed, classes), dtype=np.int64)


def _align_target_classes(source: Any, target: Any, which: str) -> Any:
    if list(target.classes) == list(source.classes):
        return target
    missing = sorted(set(target.classes) - set(source.classes))
    if missing:
        raise DataError(f"The target's {which} split has classes {missing} that the source does "
                        f"not have ({list(source.classes)}). adapt needs the same label set in "
                        "both domains.")
    if target.multi_label:  # label sets: the source's columns, 0 for a label the target lacks
        y = np.zeros((len(target), len(source.classes)), dtype=np.asarray(target.y).dtype)
        y[:, [list(source.classes).index(c) for c in target.classes]] = target.y
        return dataclasses.replace(target, y=y, classes=list(source.classes), meta=dict(target.meta),
                                   skipped=list(target.skipped))
    lookup = np.array([list(source.classes).index(c) for c in target.classes], dtype=np.int64)
    return dataclasses.replace(target, y=np.where(target.y >= 0, lookup[np.maximum(target.y, 0)], -1),
                               classes=list(source.classes), meta=dict(target.meta),
                               skipped=list(target.skipped))


# ----------------------------------------------------------------------------- resolution


def resample_images(data: Any, size: tuple[int, int]) -> Any:
    """``data`` with every image resampled to ``size = (H, W)`` by area averaging (PIL BOX).

    BOX averages the source pixels each output pixel covers, the anti-aliased way to
    downsample (no new detail is invented). Inputs are uint8 ``(H, W)`` grey or
    ``(H, W, C)`` colour arrays (or image files); the dataset on disk is never changed.
    """
    from PIL import Image

    h, w = size
    out = []
    for i in range(len(data)):
        a = np.asarray(data.input(i))
        if a.dtype != np.uint8:
            from transferkit.data.decode import to_uint8

            a = to_uint8(a)
        if a.shape[:2] == (h, w):
            out.append(a)
            continue
        img = Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a)
        out.append(np.asarray(img.resize((w, h), Image.BOX)))
    x: Any = np.stack(out) if len({a.shape for a in out}) == 1 else out
    meta = {**data.meta, "resampled_to": [h, w]}
    return dataclasses.replace(data, x=x, y=data.y.copy(), meta=meta, skipped=list(data.skipped))


def resolutions_differ(source: Any, target: Any) -> bool:
    """Whether two datasets are both images, of different native sizes (``match_resolution``
    None: auto)."""
    if source.modality != "image" or target.modality != "image" or not len(source) or not len(target):
        return False
    return native_size(source) != native_size(target)


def match_resolution(source: Any, target: Any) -> tuple[tuple[int, int], str | None]:
    """The common size of two image domains and which one to resample (None: already equal).

    The domain whose native images have more pixels is downsampled to the other's size:
    upsampling cannot add the detail the low-resolution domain lacks, downsampling
    removes the detail that only one domain has (the usual MNIST <-> USPS preprocessing).
    """
    hs, ws = native_size(source)
    ht, wt = native_size(target)
    if (hs, ws) == (ht, wt):
        return (hs, ws), None
    return ((ht, wt), "source") if hs * ws > ht * wt else ((hs, ws), "target")


# ----------------------------------------------------------------------------- rows


class ArrayRows(torch.utils.data.Dataset):
    """(features, target, sample weight) rows over arrays: class codes (-1 when unlabelled),
    numbers (regression) or multi-hot rows (label sets; -1 rows when unlabelled)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> None:
        self.x = x
        y = np.asarray(y)
        self.y = y.astype(np.float32) if y.dtype.kind == "f" else y.astype(np.int64)
        self.w = np.ones(len(self.y), np.float32) if w is None else np.asarray(w, np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Any, float]:
        return self.x[i], (self.y[i] if self.y.ndim > 1 else self.y[i].item()), float(self.w[i])


def stack_targets(ys: list[Any]) -> torch.Tensor:
    """A batch of targets: (B,) of class codes or numbers, (B, L) of multi-hot rows."""
    if ys and isinstance(ys[0], np.ndarray):
        return torch.from_numpy(np.stack(ys))
    return torch.tensor(ys)


def collate_arrays(items: list[tuple[Any, int, float]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, y, w)`` batch tensors from :class:`ArrayRows` rows."""
    x = torch.from_numpy(np.stack([np.asarray(a, dtype=np.float32) for a, _, _ in items]))
    return x, stack_targets([y for _, y, _ in items]), torch.tensor([w for _, _, w in items])


def collate_arrays_eval(items: list[tuple[Any, int, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` batch tensors (the trainer's evaluation batches)."""
    x, y, _ = collate_arrays(items)
    return x, y


class WeightedRows(torch.utils.data.Dataset):
    """A raw TransferDataset with a sample weight per example."""

    def __init__(self, data: Any, w: np.ndarray | None = None) -> None:
        self.data = data
        self.w = np.ones(len(data), np.float32) if w is None else np.asarray(w, np.float32)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Any, int, float]:
        x, y = self.data[i]
        return x, y, float(self.w[i])


def raw_collate(backbone: Any) -> Callable[[list], tuple[Any, torch.Tensor, torch.Tensor]]:
    """A collate function of :class:`WeightedRows` rows through the backbone's preprocessing."""
    def collate(items: list) -> tuple[Any, torch.Tensor, torch.Tensor]:
        return (backbone.collate([x for x, _, _ in items]), stack_targets([y for _, y, _ in items]),
                torch.tensor([w for _, _, w in items]))

    return collate


def stack_rows(parts: list[np.ndarray], fill: float = 0) -> np.ndarray:
    """Concatenate along the first axis; arrays with a word axis (token features ``(N, W, D)``,
    tags ``(N, W)``) are padded with ``fill`` to the widest first."""
    parts = [np.asarray(p) for p in parts]
    if not parts or parts[0].ndim < 2 or len({p.shape[1] for p in parts}) == 1:
        return np.concatenate(parts)
    width = max(p.shape[1] for p in parts)
    return np.concatenate([np.pad(p, [(0, 0), (0, width - p.shape[1])] + [(0, 0)] * (p.ndim - 2),
                                  constant_values=fill) for p in parts])


def word_mask(y: np.ndarray, width: int) -> np.ndarray:
    """Which positions of a ``width``-wide word axis hold a word: ``(N, width)`` from tags
    ``(N, W')`` (padding: :data:`~transferkit.data.tags.IGNORE`)."""
    from transferkit.data.tags import IGNORE

    y = np.asarray(y)
    mask = np.zeros((len(y), width), dtype=bool)
    w = min(width, y.shape[1])
    mask[:, :w] = y[:, :w] != IGNORE
    return mask

