"""``load`` and ``load_splits``: a built-in name or a path -> split datasets."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.data.builtin._base import DATASETS, BuiltinDataset
from transferkit.data.dataset import TransferDataset
from transferkit.data.grouping import SplitRule, check_columns, read_with_split_columns
from transferkit.data.splits import (
    Splits,
    carve_per_class,
    concat,
    find_leakage,
    iterative_cap,
    iterative_split,
    sample_shots,
    sample_shots_multilabel,
    stratified_cap,
    stratified_split,
)
from transferkit.data.targets import as_values, value_strata
from transferkit.errors import ConfigError, DataError
from transferkit.registry import did_you_mean

SPLITS = ("train", "val", "test", "all")
#: how targets are stored: class codes, numbers (regression), multi-hot label sets
#: (multi-label), forecasting windows (context -> next values, split by rolling origin),
#: tags per word (token classification) or masks (segmentation); see ``Task.targets``
TARGETS = ("classes", "values", "label_sets", "windows", "tags", "masks", "boxes")
#: DataConfig keys the forecasting windows read (see transferkit/data/forecasting.py)
FORECAST_KEYS = ("horizon", "context", "season", "origins", "stride", "history")


# --------------------------------------------------------------------------- sources


def read_path(path: Path, text_column: str | None = None, label_column: str | None = None,
              skip_bad: bool = False, max_pixels: int | None = None, label_separator: str | None = None,
              label_columns: Sequence[str] | None = None, tag_repair: str = "fix",
              revalidate: bool = False
              ) -> tuple[TransferDataset, TransferDataset | None]:
    """(pool, official test part or None) of a file or folder; the kind is detected from the path.

    - a folder of IDX files: each ``<prefix>-images-idx3-ubyte[.gz]`` with its labels file;
      the ``t10k``/``test`` prefix is the official test part;
    - a folder with ``images/``, ``masks/`` and ``classes.csv|json|yaml``: segmentation
      (:mod:`transferkit.data.masks`);
    - a folder with ``images/`` and a COCO ``annotations.json``, or ``labels/`` (YOLO) and
      ``classes.txt``: detection (:mod:`transferkit.data.boxes`);
    - any other folder: an image folder ``root/<class>/<image>``;
    - ``*-images-idx*-ubyte[.gz]``: one IDX pair;
    - ``.npz``: arrays ``x``, ``y`` (series: optionally ``lengths``);
    - ``.ts``: UCR/UEA series; ``.csv``/``.parquet`` in a series layout (long ``id, time,
      value``; wide ``t0, t1, ...``): series (see :mod:`transferkit.data.series`);
    - ``.csv``/``.tsv``/``.parquet``: text when ``text_column`` is given or a column named
      ``text`` exists, else a table; ``.jsonl``: the same.

    ``label_separator`` / ``label_columns`` read label sets (multi-label) from those files;
    other kinds of data refuse them. Token-classification files (CoNLL-style columns, JSONL
    with ``tokens`` and ``tags``; see :mod:`transferkit.data.conll`) are read with their
    orphan ``I-`` tags repaired or refused as ``tag_repair`` says. ``revalidate`` checks an image
    folder's files again (see :mod:`transferkit.data.file_check`).
    """
    from transferkit.data import conll, idx, tables, text
    from transferkit.data.arrays import load_npz
    from transferkit.data.decode import DEFAULT_MAX_PIXELS
    from transferkit.data.images import load_image_folder
    from transferkit.data.series import load_ts, read_series_frame

    sets = label_separator is not None or bool(label_columns)
    suffix = path.suffix.lower()
    if sets and not (path.is_file() and suffix in tables.TABLE_SUFFIXES):
        raise ConfigError(f"--label-separator and --label-columns read label sets from CSV/TSV/JSONL/"
                          f"Parquet files; '{path}' is not one. Drop them, or pass such a file.")
    annotated = _annotated_folder(path, skip_bad, max_pixels or DEFAULT_MAX_PIXELS)
    if annotated is not None:  # masks (segmentation) or boxes (detection)
        return annotated, None
    if path.is_dir():
        parts = idx.find_idx_parts(path)
        if parts:
            test_key = next((p for p in parts if p in idx.TEST_PREFIXES), None)
            train_keys = [p for p in parts if p != test_key]
            if not train_keys:
                raise DataError(f"IDX folder '{path}' holds only a test part ({parts[test_key].name}).")
            pool = idx.load_idx_pair(parts[train_keys[0]], name=path.name)
            for extra in train_keys[1:]:
                pool = concat(pool, idx.load_idx_pair(parts[extra], name=path.name))
            test = idx.load_idx_pair(parts[test_key], name=path.name) if test_key else None
            if test is not None and test.classes != pool.classes:
                test = _align_classes(test, pool.classes, f"IDX test part '{parts[test_key]}'")
            return pool, test
        kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
        return load_image_folder(path, skip_bad=skip_bad, revalidate=revalidate, **kwargs), None
    if not path.is_file():
        raise DataError(f"Data path '{path}' does not exist.")
    if idx.is_idx_images(path):
        return idx.load_idx_pair(path), None
    if suffix == ".npz":
        return load_npz(path), None
    if suffix == ".ts":
        return load_ts(path), None
    if not sets and conll.is_token_file(path):
        return conll.read_token_file(path, tag_repair), None
    if suffix in tables.TABLE_SUFFIXES:
        if text_column is None and not text.large_text_file(path):  # "text" column: text, else a table
            frame = tables.read_frame(path)
            found = None if sets else read_series_frame(frame, label_column, path.stem, f"'{path}'")
            if found is not None:  # long (id, time, value) or wide (t0, t1, ...) series
                found.meta["source"] = str(path)
                return found, None
            if "text" not in [str(c) for c in frame.columns]:
                return tables.load_table(path, label_column, frame=frame, label_separator=label_separator,
                                         label_columns=label_columns), None
        return text.load_text(path, text_column, label_column, label_separator, label_columns), None
    from transferkit.data.images import is_image_file

    hint = " (a single image: put it in an image folder root/<class>/)" if is_image_file(path) else ""
    raise DataError(f"Cannot tell what kind of data '{path}' is{hint}. Supported: an image folder "
                    "root/<class>/<image>, IDX files (*-images-idx3-ubyte[.gz]), .npz with x and y, .ts series, "
                    f"{', '.join(tables.TABLE_SUFFIXES)} (text or table).")


def _align_classes(ds: TransferDataset, classes: list[str], where: str) -> TransferDataset:
    unknown = sorted(set(ds.classes) - set(classes))
    if unknown:
        raise DataError(f"{where} has classes {unknown} that the training part does not have "
                        f"({classes}).")
    lookup = np.array([classes.index(c) for c in ds.classes], dtype=np.int64)
    return dataclasses.replace(ds, y=lookup[ds.y], classes=list(classes), meta=dict(ds.meta),
                               skipped=list(ds.skipped))


@lru_cache(maxsize=8)
def _builtin_parts(name: str, domain: str | None) -> tuple[TransferDataset, TransferDataset | None]:
    return DATASETS.create(name).parts(domain)


def builtin_info(name: str) -> type[BuiltinDataset]:
    return DATASETS.get(name)


def _source(name_or_path: str | Path, domain: str | None, text_column: str | None,
            label_column: str | None, skip_bad: bool, max_pixels: int | None = None,
            group_column: str | None = None, time_column: str | None = None,
            label_separator: str | None = None, label_columns: Sequence[str] | None = None,
            tag_repair: str = "fix", revalidate: bool = False) -> tuple[TransferDataset, TransferDataset | None]:
    from transferkit.data import objects
    from transferkit.data.series_sources import combined_series, is_series_list

    check_columns(group_column, time_column, text_column, label_column)
    in_memory = not isinstance(name_or_path, (str, Path)) or objects.is_reference(name_or_path)
    if in_memory:  # a Python object, or the reference a config records for one
        for key, value in (("domain", domain), ("group_column", group_column), ("time_column", time_column)):
            if value is not None:
                raise ConfigError(f"The '{key}' parameter applies to built-in datasets and files; the "
                                  f"data is a Python object. Got {key}={value!r}; leave it unset.")
        ref = name_or_path if isinstance(name_or_path, str) else objects.reference(name_or_path)
        return objects.load_object(objects.held(ref), ref, text_column, label_column,
                                   label_separator, label_columns)
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        if domain is not None:
            raise ConfigError(f"The 'domain' parameter applies only to built-in datasets with domains "
                              f"(e.g. fine-foods). Got domain={domain!r} for the path '{path}'; leave it unset.")
        if group_column is not None or time_column is not None:  # split columns: see data/grouping.py
            if label_separator is not None or label_columns:
                raise ConfigError("--group-column and --time-column do not take label sets yet "
                                  "(--label-separator / --label-columns); drop one of them.")
            return read_with_split_columns(path, text_column, label_column, group_column, time_column), None
        return read_path(path, text_column, label_column, skip_bad, max_pixels=max_pixels,
                         label_separator=label_separator, label_columns=label_columns,
                         tag_repair=tag_repair, revalidate=revalidate)
    if is_series_list(text):  # several series datasets as one source (data/series_sources.py)
        return combined_series(text, lambda name: _source(name, domain, text_column, label_column, skip_bad))
    if text in DATASETS:
        cls = DATASETS.get(text)
        for key, value in (("text_column", text_column), ("label_column", label_column),
                           ("group_column", group_column), ("time_column", time_column),
                           ("label_separator", label_separator), ("label_columns", label_columns or None)):
            if value is not None:
                raise ConfigError(f"The '{key}' parameter applies to CSV/JSONL/Parquet files, not to the "
                                  f"built-in dataset '{cls.name}'. Got {value!r}; leave it unset.")
        if not cls.available():
            raise DataError(f"The built-in dataset '{cls.name}' is not installed on this machine. "
                            f"Install it: {cls.install_hint}.")
        cls.check_domain(domain)
        return _builtin_parts(cls.name, domain)
    looks_like_path = any(ch in text for ch in "/\\.") or text.startswith("~")
    if looks_like_path:
        raise DataError(f"Data path '{text}' does not exist. Pass an existing file or folder, or a "
                        f"built-in dataset name ({', '.join(DATASETS.names())}).")
    _refuse_generated_table(text)
    raise DataError(f"Unknown dataset '{text}': neither a built-in dataset nor an existing path."
                    f"{did_you_mean(text, DATASETS.names())} Built-in datasets: "
                    f"{', '.join(DATASETS.names())} (see `transferkit datasets`).")


def _refuse_generated_table(text: str) -> None:
    """A generated multimodal table (listed by `transferkit datasets`) names its own command."""
    from transferkit.multimodal.synthetic import GENERATED

    if text in GENERATED:
        raise DataError(f"'{text}' is a generated multimodal table (an image, a caption, a number and a "
                        "category per row): each column needs its own backbone, and this command's "
                        f"model has one. Run: transferkit multimodal --data {text}")


# --------------------------------------------------------------------------- splitting


def _check_params(split: str, shots: int | None, val_fraction: float, test_fraction: float,
                  max_val: int | None, max_test: int | None) -> None:
    if split not in SPLITS:
        raise ConfigError(f"The 'split' parameter must be one of {', '.join(SPLITS)}."
                          f"{did_you_mean(split, SPLITS)} Got {split!r} instead.")
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 0):
        raise ConfigError(f"The 'shots' parameter must be an int >= 0 or None. Got {shots!r} instead.")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"The '{name}' parameter must be in [0, 1). Got {value!r} instead.")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(f"val_fraction + test_fraction must be < 1 to leave training data. Got "
                          f"{val_fraction} + {test_fraction}.")
    for name, value in (("max_val", max_val), ("max_test", max_test)):
        if value is not None and value < 1:
            raise ConfigError(f"The '{name}' parameter must be an int >= 1 or None. Got {value!r} instead.")


def _check_classes(part: TransferDataset, classes: list[str], hint: str) -> None:
    # tags: the shots sampler covers the types; masks: a class may be absent from a split
    if not len(part) or part.has_values or part.per_token or part.dense or part.boxes:
        return
    if part.multi_label:  # label sets: every label needs positives to learn from
        empty = [classes[j] for j in np.flatnonzero(part.y.sum(axis=0) == 0)]
        if empty and part.split == "train":
            raise DataError(f"After splitting, the train split has no example with the label(s) {empty}. "
                            "Add examples with them, or remove those labels.")
        return
    counts = np.bincount(part.y[part.y >= 0], minlength=len(classes))
    empty = [classes[c] for c in np.flatnonzero(counts == 0)]
    if empty:
        raise DataError(f"After splitting, the {part.split} split has no examples of class(es) "
                        f"{empty}. {hint}")


def _split_all(pool: TransferDataset, official_test: TransferDataset | None, *, split_seed: int,
               val_fraction: float, test_fraction: float, max_val: int | None,
               max_test: int | None, rule: SplitRule | None = None
               ) -> tuple[TransferDataset, TransferDataset, TransferDataset]:
    classes = list(pool.classes)
    strata = _strata(pool)
    split = iterative_split if pool.multi_label else stratified_split
    if rule is not None:  # a group or time column (files only, so no official test part)
        tr, va, te = rule.split(strata, val_fraction, test_fraction, split_seed)
        test = pool.subset(te, split="test")
    elif official_test is not None:
        tr, va, _ = split(strata, val_fraction, 0.0, split_seed, classes or None)
        test = official_test.subset(np.arange(len(official_test)), split="test")
    else:
        tr, va, te = split(strata, val_fraction, test_fraction, split_seed, classes or None)
        test = pool.subset(te, split="test")
    train, val = pool.subset(tr, split="train"), pool.subset(va, split="val")
    if max_val is not None and len(val) > max_val:
        cap = iterative_cap if val.multi_label else stratified_cap
        val = val.subset(cap(_strata(val), max_val, split_seed), split="val")
    if max_test is not None and len(test) > max_test:
        test = test.subset(np.arange(max_test), split="test")  # the first N, in fixed order
    _check_classes(train, classes, "Add examples of those classes or remove them.")
    _check_classes(val, classes, "Raise max_val or val_fraction, or add examples of those classes.")
    _check_classes(test, classes, "Raise max_test or test_fraction, or add examples of those classes.")
    return train, val, test


def _strata(ds: TransferDataset) -> np.ndarray:
    """What a split stratifies on: the classes, or quantile bins of numeric targets (tags
    per word and masks: nothing, a seeded random split)."""
    if ds.per_token or ds.dense or ds.boxes:
        return np.zeros(len(ds), dtype=np.int64)
    return value_strata(ds.y) if ds.has_values else ds.y


def _sample_shots(train: TransferDataset, shots: int, seed: int) -> np.ndarray:
    """``shots`` per class, or -- for numeric targets -- ``shots`` in total, spread over
    the target's quantile bins; for label sets, rows until each label has ``shots`` positives;
    for tags per word, ``shots`` sentences in total covering every entity type."""
    if train.per_token:
        from transferkit.data.tags import sample_sentences

        return sample_sentences(train.y, list(train.classes), shots, seed)
    if train.multi_label:
        return sample_shots_multilabel(train.y, shots, seed, list(train.classes))
    if not train.has_values and not train.dense and not train.boxes:
        return sample_shots(train.y, shots, seed, list(train.classes))
    if shots > len(train):
        raise DataError(f"The 'shots' parameter asks for {shots} training examples, but the train "
                        f"split has only {len(train)}. Lower --shots to at most {len(train)}, or lower "
                        "val_fraction/test_fraction.")
    return stratified_cap(_strata(train), shots, seed)


def _val_from_shots(train: TransferDataset, fraction: float, seed: int
                    ) -> tuple[TransferDataset, TransferDataset, str]:
    """(train, validation, how) with the validation part carved from the few-shot ``train``:
    ``fraction`` of each class's shots (at least one, leaving one; numbers: of all shots,
    over quantile bins; label sets: by iterative stratification). ``fraction`` 0, or a class
    with a single shot, leaves no validation part."""
    n = len(train)
    none = train.subset(np.zeros(0, np.int64), split="val")
    if fraction <= 0 or n < 2:
        return train, none, "none (the shots all train)"
    if train.multi_label:
        val_idx = iterative_cap(train.y, min(n - 1, max(1, round(n * fraction))), seed)
    elif train.boxes or train.dense or train.per_token:  # images, sentences: a seeded random part
        val_idx = stratified_cap(np.zeros(n, np.int64), min(n - 1, max(1, round(n * fraction))), seed)
    elif train.has_values:
        val_idx = stratified_cap(value_strata(train.y), min(n - 1, max(1, round(n * fraction))), seed)
    else:
        counts = np.bincount(train.y[train.y >= 0])
        if counts[counts > 0].min() < 2:
            return train, none, "none (a class has a single shot, nothing to carve)"
        val_idx = carve_per_class(train.y, fraction, seed)
    rest = np.setdiff1d(np.arange(n), val_idx)
    how = (f"{len(val_idx)} of the {n} shots ({fraction:.0%} per class, at least 1), carved from them; "
           f"the other {len(rest)} train")
    return train.subset(rest, split="train"), train.subset(val_idx, split="val"), how


def _with_targets(targets: Any, pool: TransferDataset, official_test: TransferDataset | None
                  ) -> tuple[TransferDataset, TransferDataset | None]:
    """The parts with targets stored as ``targets`` says ("classes", "values" or "label_sets";
    a callable chooses from the pool's raw label values, e.g. by inferring the task)."""
    kind = targets(pool) if callable(targets) else targets
    if kind is None:  # as the data holds them
        kind = "label_sets" if pool.multi_label else "classes"
    if kind not in TARGETS:
        raise ConfigError(f"The 'targets' parameter must be one of {', '.join(TARGETS)}. Got {kind!r} instead.")
    if (kind == "tags") != pool.per_token:
        if kind == "tags":
            raise ConfigError(f"The token-classification task needs tags per word, and '{pool.name}' has "
                              "one label per example. Pass a CoNLL-style file (token and tag per line, "
                              "blank line between sentences), a JSONL file with 'tokens' and 'tags' "
                              "lists, or a built-in NER dataset (wnut16, bbc-news-ner).")
        raise ConfigError(f"'{pool.name}' holds tags per word, which only the token-classification task "
                          "takes; pass --task token-classification.")
    if kind == "tags":
        return pool, official_test
    if kind == "boxes" or pool.boxes:
        return _as_boxes(kind, pool, official_test)
    if (kind == "label_sets") != pool.multi_label:
        if pool.multi_label:
            raise ConfigError(f"--label-separator / --label-columns read label sets, which only the "
                              f"multilabel task takes; this job stores {kind}. Drop --task (it is then "
                              "multilabel), or drop those flags to read single labels.")
        raise ConfigError(f"The multilabel task needs label sets, and '{pool.name}' has one label per "
                          "example. Pass --label-separator ';' (one column of labels joined by ';') or "
                          "--label-columns a,b,c (several 0/1 columns), or use a built-in multi-label "
                          "dataset (see `transferkit datasets`).")
    if (kind == "masks") != pool.dense:
        raise ConfigError(f"The segmentation task needs masks, and '{pool.name}' has one label per example; "
                          "pass a folder with images/, masks/ and classes.csv, or the built-in 'scenes'."
                          if kind == "masks" else f"'{pool.name}' holds masks (a class per pixel); only the "
                          f"segmentation task reads them (this job stores {kind}). Pass --task segmentation.")
    if kind in ("classes", "label_sets", "masks"):
        return pool, official_test
    return as_values(pool), (as_values(official_test) if official_test is not None else None)


def _annotated_folder(path: Path, skip_bad: bool, max_pixels: int) -> TransferDataset | None:
    """An image folder with masks (segmentation) or boxes (COCO JSON / YOLO labels; detection)."""
    from transferkit.data.boxes import is_detection_folder, load_detection_folder
    from transferkit.data.masks import is_segmentation_folder, load_segmentation_folder

    if is_segmentation_folder(path):
        return load_segmentation_folder(path, skip_bad, max_pixels)
    if is_detection_folder(path):
        return load_detection_folder(path, skip_bad, max_pixels)
    return None


def _as_boxes(kind: str, pool: TransferDataset, official_test: TransferDataset | None
              ) -> tuple[TransferDataset, TransferDataset | None]:
    """The parts as boxes for the detection task (a built-in's ``object_boxes``), or the
    error saying which task reads the data."""
    from transferkit.data.boxes import as_boxes

    if kind != "boxes":
        raise ConfigError(f"'{pool.name}' holds boxes (COCO or YOLO annotations); only the detection task "
                          f"reads them (this job stores {kind}). Pass --task detection.")
    if not pool.boxes and "object_boxes" not in pool.meta:
        raise ConfigError(f"The detection task needs boxes, and '{pool.name}' has none; pass a folder with "
                          "images/ and a COCO annotations.json (or YOLO labels/ and classes.txt), or the "
                          "built-in 'scenes'.")
    return as_boxes(pool), (as_boxes(official_test) if official_test is not None else None)


def _finish(ds: TransferDataset, domain: str | None, extra: dict[str, Any]) -> TransferDataset:
    ds.meta.update({"domain": domain, **extra})
    return ds


def _missing_policy(impute: str, *parts: TransferDataset | None) -> None:
    """``impute="none"``: refuse a table with missing cells, naming the first one."""
    from transferkit.data.tables import IMPUTE, refuse_missing

    if impute not in IMPUTE:
        raise ConfigError(f"The 'impute' parameter must be one of {', '.join(IMPUTE)}."
                          f"{did_you_mean(str(impute), IMPUTE)} Got {impute!r} instead.")
    if impute == "none":
        for part in parts:
            if part is not None:
                refuse_missing(part)


def _splits(name_or_path: str | Path, *, domain: str | None, shots: int | None, seed: int,
            split_seed: int, val_fraction: float, test_fraction: float, text_column: str | None,
            label_column: str | None, skip_bad: bool, max_val: int | None, max_test: int | None,
            with_leakage: bool, targets: Any = "classes", impute: str = "auto",
            max_pixels: int | None = None, group_column: str | None = None,
            time_column: str | None = None, schema: Any = None, label_separator: str | None = None,
            label_columns: Sequence[str] | None = None, tag_repair: str = "fix",
            shots_val: float | None = None, revalidate: bool = False) -> Splits:
    from transferkit.data.tables import impute_splits

    _check_params("train", shots, val_fraction, test_fraction, max_val, max_test)
    pool, official_test = _source(name_or_path, domain, text_column, label_column, skip_bad, max_pixels,
                                  group_column, time_column, label_separator=label_separator,
                                  label_columns=label_columns, tag_repair=tag_repair,
                                  revalidate=revalidate)
    rule = SplitRule.pop(pool)
    pool, official_test = _with_targets(targets, pool, official_test)
    _missing_policy(impute, pool, official_test)
    train, val, test = _split_all(pool, official_test, split_seed=split_seed, val_fraction=val_fraction,
                                  test_fraction=test_fraction, max_val=max_val, max_test=max_test,
                                  rule=rule)
    skipped = list(pool.skipped) + (list(official_test.skipped) if official_test is not None else [])
    warnings = list(pool.meta.get("warnings", []))
    if official_test is not None:
        warnings += official_test.meta.get("warnings", [])
    del pool, official_test  # the splits are copies: a table's whole frame is freed here
    # fill values come from the training split alone: nothing of val/test leaks into them
    train, (val, test), imputed = impute_splits(train, [val, test], impute, schema)
    if rule is not None:
        train.meta["split_by"] = rule.describe()
    if shots == 0:  # no labels at all: no training examples, and none to validate on
        train, val = train.subset(np.zeros(0, np.int64), split="train"), val.subset(np.zeros(0, np.int64), split="val")
        train.meta["shots_sampling"] = "none: --shots 0 uses no labels (train and val splits are empty)"
    elif shots is not None:
        # the labelled pool's class counts: the majority baseline's prior (the shots are balanced)
        labels = np.asarray(train.y)
        prior = (np.bincount(labels[labels >= 0], minlength=len(train.classes)).tolist()
                 if np.issubdtype(labels.dtype, np.integer) and labels.ndim == 1 else None)
        if train.multi_label:  # per-label frequency of the pool (the shots over-sample rare labels)
            train.meta["label_prior"] = labels.mean(axis=0).tolist()
        how = None
        if rule is not None:  # K from K distinct groups, or the K most recent
            keep, how = rule.shots(train, shots, seed)
        else:
            keep = _sample_shots(train, shots, seed)
        train = train.subset(keep, split="train")
        if how is not None:
            train.meta["shots_sampling"] = how
        if prior is not None:
            train.meta["class_prior"] = prior
        if max_val is not None:  # the escape hatch: validation drawn outside the shots
            train.meta["validation"] = (f"{len(val)} examples drawn outside the shots (max_val={max_val}), "
                                        "counted in labels_used")
        elif shots_val is not None:  # validation comes out of the same label budget
            train, val, train.meta["validation"] = _val_from_shots(train, shots_val, seed)
            val.meta["validation"] = train.meta["validation"]
    extra = {"shots": shots, "seed": seed, "split_seed": split_seed}
    for part in (train, val, test):
        _finish(part, domain, extra)
    if imputed:
        warnings.append(imputed)
    leakage = find_leakage({"train": train, "val": val, "test": test}) if with_leakage else []
    return Splits(train, val, test, leakage=leakage, skipped=skipped, warnings=warnings)


# --------------------------------------------------------------------------- public API


def load(name_or_path: Any, split: str = "all", domain: str | None = None,
         shots: int | None = None, seed: int = 0, *, split_seed: int = 0, val_fraction: float = 0.1,
         test_fraction: float = 0.2, text_column: str | None = None, label_column: str | None = None,
         skip_bad: bool = False, max_val: int | None = None, max_test: int | None = None,
         targets: str | None = None, impute: str = "auto", group_column: str | None = None,
         time_column: str | None = None, schema: Any = None, label_separator: str | None = None,
         label_columns: Sequence[str] | None = None, forecast: dict[str, Any] | None = None,
         tag_repair: str = "fix", revalidate: bool = False) -> TransferDataset:
    """Load a built-in dataset, a file/folder or a Python object, and return one split of it.

    Python objects: a pandas DataFrame, a tuple ``(X, y)`` of arrays, a torch Dataset of
    ``(input, label)`` pairs, a Hugging Face ``datasets.Dataset``/``DatasetDict`` (see
    :mod:`transferkit.data.objects`).

    ``split`` is ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (everything, official
    test part included, unsplit). The split is stratified and seeded by ``split_seed``
    (keep the default so the test set never changes); ``shots`` keeps that many training
    examples per class, drawn with ``seed``. Datasets with an official test part
    (fashion-mnist's t10k; fine-foods without a domain: other products) use it as test.
    ``max_test`` keeps the first N test examples. ``targets`` None (default) keeps the labels
    as the data holds them (classes, or label sets); ``targets="values"`` reads the labels as
    numbers (regression): splits stratify on quantile bins of the target and ``shots`` is
    the number of training examples in total. ``impute`` ("auto" or "none") says what
    happens to the missing cells of a table (see :func:`transferkit.data.tables.impute_splits`);
    ``schema`` (a fitted run's :class:`~transferkit.data.schema.TableSchema`) fills them with
    the values that run learned instead. ``group_column`` / ``time_column`` (tables and texts)
    split by group or by time instead (see :mod:`transferkit.data.grouping`).
    ``label_separator`` (one column of labels joined by it) or ``label_columns`` (several 0/1
    columns) read label sets, stored with ``targets="label_sets"`` (multi-label): splits use
    iterative stratification and ``shots`` keeps rows until each label has that many positives.
    An image folder is indexed and its files checked (cached; ``revalidate=True`` checks
    them all again), then decoded when read (see :mod:`transferkit.data.images`).

    >>> train = load("digits", split="train", shots=10)  # doctest: +SKIP
    >>> len(train), train.classes[:3]  # doctest: +SKIP
    (100, ['0', '1', '2'])
    """
    _check_params(split, shots, val_fraction, test_fraction, max_val, max_test)
    if targets == "windows":  # forecasting: windows split by rolling origin (``forecast``: H, L, m ...)
        from transferkit.data.forecasting import forecast_splits

        parts = forecast_splits(name_or_path, dict(forecast or {}), impute, shots if split != "all" else None)
        if split == "all":
            return concat(concat(parts.train, parts.val), parts.test)
        return getattr(parts, split)
    if split == "all":
        if shots is not None:
            raise ConfigError("The 'shots' parameter samples from the train split; with split='all' "
                              f"nothing is split. Got shots={shots}; pass split='train' or drop shots.")
        from transferkit.data.tables import impute_splits

        pool, official_test = _source(name_or_path, domain, text_column, label_column, skip_bad,
                                      group_column=group_column, time_column=time_column,
                                      label_separator=label_separator, label_columns=label_columns,
                                      tag_repair=tag_repair, revalidate=revalidate)
        SplitRule.pop(pool)  # the whole data: nothing to split
        pool, official_test = _with_targets(targets, pool, official_test)
        _missing_policy(impute, pool, official_test)
        whole = concat(pool, official_test) if official_test is not None else pool.subset(np.arange(len(pool)))
        whole, _, imputed = impute_splits(whole, [], impute, schema)
        if imputed:
            whole.meta.setdefault("warnings", []).append(imputed)
        return _finish(whole, domain, {"split_seed": split_seed})
    splits = _splits(name_or_path, domain=domain, shots=shots, seed=seed, split_seed=split_seed,
                     val_fraction=val_fraction, test_fraction=test_fraction, text_column=text_column,
                     label_column=label_column, skip_bad=skip_bad, max_val=max_val, max_test=max_test,
                     with_leakage=False, targets=targets, impute=impute, group_column=group_column,
                     time_column=time_column, schema=schema, label_separator=label_separator,
                     label_columns=label_columns, tag_repair=tag_repair, revalidate=revalidate)
    return {"train": splits.train, "val": splits.val, "test": splits.test}[split]


def load_splits(config: Any, targets: Any = "classes", **overrides: Any) -> Splits:
    """Train/val/test of a :class:`~transferkit.config.DataConfig` (or a dataset name/path, or a
    Python object as :func:`load` takes).

    ``overrides`` replace config fields (``shots=10``, ``max_test=2000``). The result
    carries leakage warnings (duplicates across splits) and skipped files. ``targets`` is
    "classes", "values" (numbers, for regression) or a callable that chooses one of them
    from the unsplit data (its raw label values) -- how a fit infers its task.
    """
    from transferkit.config import DataConfig, from_dict, to_dict

    if isinstance(config, DataConfig):
        cfg = from_dict(DataConfig, {**to_dict(config), **overrides}) if overrides else config
    else:  # a name, a path or a Python object (DataConfig.data takes its reference)
        cfg = from_dict(DataConfig, {"data": str(config) if isinstance(config, Path) else config,
                                     **overrides})
    if not cfg.data:
        raise ConfigError("The 'data' parameter is required: a built-in dataset name (see `transferkit "
                          "datasets`) or a path.")
    if targets == "windows":  # forecasting: windows split by rolling origin, not at random
        from transferkit.data.forecasting import forecast_splits

        return forecast_splits(cfg.data, {k: getattr(cfg, k) for k in FORECAST_KEYS}, cfg.impute, cfg.shots)
    splits = _splits(cfg.data, domain=cfg.domain, shots=cfg.shots, seed=cfg.seed, split_seed=cfg.split_seed,
                     val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                     text_column=cfg.text_column, label_column=cfg.label_column, skip_bad=cfg.skip_bad,
                     max_val=cfg.max_val, max_test=cfg.max_test, with_leakage=True, targets=targets,
                     impute=cfg.impute, max_pixels=int(cfg.max_megapixels * 1e6),
                     group_column=cfg.group_column, time_column=cfg.time_column,
                     label_separator=cfg.label_separator, label_columns=cfg.label_columns,
                     tag_repair=cfg.tag_repair, shots_val=cfg.shots_val, revalidate=cfg.revalidate)
    if len(splits.train.classes) == 1 and not splits.train.multi_label:  # a model trained on it scores 100 % and learns nothing
        raise DataError(f"The data '{cfg.data}' holds a single class ('{splits.train.classes[0]}'); a "
                        "classifier needs at least two to tell apart. Add examples of another class "
                        "(for an image folder: a second subfolder).")
    return splits


def list_datasets() -> list[dict[str, Any]]:
    """Metadata of every built-in dataset, with whether it is available here and how to install it."""
    return [DATASETS.get(name).info() for name in DATASETS.names()]
