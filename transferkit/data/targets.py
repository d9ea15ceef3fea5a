"""Numeric targets (regression): label values -> float64 targets, and the strata a split
of them is stratified on. Label sets (multi-label): one column of separated labels, or
several 0/1 columns -> a multi-hot ``(N, L)`` uint8 matrix (:func:`multi_hot_from_text`,
:func:`multi_hot_from_columns`); the file loaders call them when ``label_separator`` or
``label_columns`` is given, and only then (a ``;`` inside a class name never makes a set).

Loaders read labels as values and encode them to classes (``TransferDataset.classes``
holds each distinct label text). A regression fit turns those back into numbers with
:func:`as_values` before splitting, so every loader (tables, text files, ``.npz``,
built-ins) serves regression without a second reading path; the task rule
(:func:`transferkit.tasks.infer_task`) sees the raw label values first.

>>> import numpy as np
>>> from transferkit.data import TransferDataset
>>> ds = TransferDataset("t", "text", ["a", "b", "c"], np.array([1, 0, 1]), ["2.5", "10"])
>>> as_values(ds).y
array([10. ,  2.5, 10. ])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError

#: quantile bins of the target that splits are stratified on
STRATA = 10


def as_values(ds: TransferDataset) -> TransferDataset:
    """The dataset with float64 targets (``classes == []``); a label that is not a finite
    number raises DataError naming the row."""
    if ds.has_values:
        return ds
    where = _where(ds)
    table = np.empty(len(ds.classes), dtype=np.float64)
    bad = {}
    for k, text in enumerate(ds.classes):
        try:
            table[k] = float(text)
        except (TypeError, ValueError):
            bad[k] = "is not a number"
            continue
        if not np.isfinite(table[k]):
            bad[k] = "is not finite"
    if bad:
        row = int(np.flatnonzero(np.isin(ds.y, list(bad)))[0])
        code = int(ds.y[row])
        raise DataError(f"Row {row} of {where} holds the target {ds.classes[code]!r}, which {bad[code]}. "
                        "A regression target must be a finite number: fix or drop the row, or pass "
                        "--task classification to treat the labels as classes.")
    return dataclasses.replace(ds, y=table[ds.y], classes=[], meta=dict(ds.meta),
                               skipped=list(ds.skipped))


def value_strata(y: np.ndarray, bins: int = STRATA) -> np.ndarray:
    """Quantile-bin codes of numeric targets (at most ``bins`` bins of about equal size;
    ties share a bin), so that a split of regression data is stratified like one of classes."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) == 0:
        return np.zeros(0, dtype=np.int64)
    bins = max(1, min(bins, len(y) // 5 or 1))  # at least ~5 examples per bin
    edges = np.unique(np.quantile(y, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, y, side="right").astype(np.int64)


def multi_hot_from_text(values: Any, separator: str, where: str) -> tuple[np.ndarray, list[str]]:
    """A multi-hot ``(N, L)`` uint8 matrix and the sorted label names of one column of label
    sets joined by ``separator`` (an empty or missing cell is the empty set; a JSONL list is
    taken as the set it lists).

    >>> multi_hot_from_text(["a;b", "", "b"], ";", "x")
    (array([[1, 1],
           [0, 0],
           [0, 1]], dtype=uint8), ['a', 'b'])
    """
    if not isinstance(separator, str) or not separator:
        raise DataError(f"The 'label_separator' parameter must be a non-empty string. Got {separator!r} "
                        "instead.")
    sets = []
    for value in values:
        if isinstance(value, (list, tuple, np.ndarray)):  # a JSON list in a .jsonl file
            sets.append({str(t).strip() for t in value if str(t).strip()})
            continue
        missing = value is None or (isinstance(value, float) and np.isnan(value))
        text = "" if missing else str(value)
        sets.append({t.strip() for t in text.split(separator) if t.strip()})
    names = sorted(set().union(*sets)) if sets else []
    if not names:
        raise DataError(f"{where} holds no labels at all (every row's set is empty after splitting "
                        f"on {separator!r}). Check --label-column and --label-separator.")
    lookup = {n: j for j, n in enumerate(names)}
    y = np.zeros((len(sets), len(names)), dtype=np.uint8)
    for i, labels in enumerate(sets):
        y[i, [lookup[t] for t in labels]] = 1
    return y, names


def multi_hot_from_columns(frame: Any, columns: Any, where: str) -> tuple[np.ndarray, list[str]]:
    """The multi-hot ``(N, L)`` uint8 matrix of several 0/1 columns of ``frame`` (True/False and
    "0"/"1" are read too); any other value raises DataError naming the row and the column."""
    names = [str(c) for c in columns]
    present = [str(c) for c in frame.columns]
    missing = [c for c in names if c not in present]
    if missing:
        raise DataError(f"{where} has no label column(s) {missing}. Columns: {', '.join(present)}. "
                        "Pass --label-columns with columns of 0/1 values.")
    if len(set(names)) != len(names):
        raise DataError(f"The 'label_columns' parameter names a column twice: {names}.")
    y = np.zeros((len(frame), len(names)), dtype=np.uint8)
    ok = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "true": 1, "false": 0}
    for j, name in enumerate(names):
        for i, value in enumerate(frame.rename(columns=str)[name].tolist()):
            key = str(value).strip().lower()
            if key not in ok:
                raise DataError(f"Row {i} of {where}, label column '{name}', holds {value!r}; a label "
                                "column holds 0 or 1 (absent or present). Fix the value or drop the row.")
            y[i, j] = ok[key]
    return y, names


def _where(ds: TransferDataset) -> str:
    source, column = ds.meta.get("source"), ds.meta.get("label_column")
    name = f"'{source}'" if source else f"dataset '{ds.name}'"
    return f"{name} (label column '{column}')" if column else name


__all__ = ["STRATA", "as_values", "multi_hot_from_columns", "multi_hot_from_text", "value_strata"]
