"""Numeric targets (regression): label values -> float64 targets, and the strata a split
of them is stratified on.

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


def _where(ds: TransferDataset) -> str:
    source, column = ds.meta.get("source"), ds.meta.get("label_column")
    name = f"'{source}'" if source else f"dataset '{ds.name}'"
    return f"{name} (label column '{column}')" if column else name


__all__ = ["STRATA", "as_values", "value_strata"]
