"""Group- and time-aware splits of tables and texts (``--group-column``, ``--time-column``).

A random split puts rows of one patient, product or customer into both train and test,
and rows from the future into train: the test metrics then measure memory, not
transfer. Two split rules prevent that:

- **group** (``group_column``): whole groups go to one split, so no group is in two
  splits. Groups are assigned with scikit-learn's ``StratifiedGroupKFold`` (seeded by
  ``split_seed``), which keeps each split's class mix close to the whole as far as whole
  groups allow (best effort: a split is m of k folds, m/k within a point of its fraction
  where the number of groups allows, and whole groups make the row counts approximate).
  ``--shots K`` takes K examples per class from K distinct groups, one from each.
- **time** (``time_column``, dates or numbers): train on the past, validate and test on
  the future. Sorted by time, the latest ``test_fraction`` of the rows are test and the
  ``val_fraction`` before them val; rows that share the timestamp at a boundary all go to
  the later split, so no timestamp is in two splits. ``--shots K`` takes the K most recent
  training examples per class.

Neither column is a feature: it is taken out of the table before the schema is inferred.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transferkit.data.dataset import TransferDataset
from transferkit.errors import ConfigError, DataError

#: where a pool carries its split columns between reading and splitting (popped before splitting)
META_KEY = "split_columns"
MAX_FOLDS = 20


def _round(v: float) -> int:
    return int(np.floor(v + 0.5))


def _class_name(classes: list[str] | None, c: int) -> str:
    return repr(classes[c]) if classes else str(c)


# --------------------------------------------------------------------------- reading


def check_columns(group_column: str | None, time_column: str | None, text_column: str | None,
                  label_column: str | None) -> None:
    """Refuse combinations that cannot split cleanly (both rules at once, a column used twice)."""
    if group_column is not None and time_column is not None:
        raise ConfigError(f"The 'group_column' ({group_column!r}) and 'time_column' ({time_column!r}) "
                          "parameters choose two different split rules; pass one of them. To keep "
                          "groups apart over time, split by time and check the groups yourself.")
    for key, col in (("group_column", group_column), ("time_column", time_column)):
        if col is None:
            continue
        for other_key, other in (("label_column", label_column), ("text_column", text_column)):
            if col == other:
                raise ConfigError(f"The '{key}' and '{other_key}' parameters both name the column "
                                  f"{col!r}; the {key.split('_')[0]} column decides the split and is not "
                                  f"read as a {other_key.split('_')[0]}. Pass different columns.")


def read_with_split_columns(path: Path, text_column: str | None, label_column: str | None,
                            group_column: str | None, time_column: str | None) -> TransferDataset:
    """A table or text dataset from ``path`` without its group/time column, which is parsed
    and kept in ``meta[META_KEY]`` (``{"groups": ...}`` or ``{"times": ...}``) for the split."""
    from transferkit.data import tables, text
    from transferkit.data.tables import pick_column, read_frame

    if path.suffix.lower() not in tables.TABLE_SUFFIXES:
        key = "group_column" if group_column is not None else "time_column"
        raise ConfigError(f"The '{key}' parameter applies to CSV/TSV/JSONL/Parquet files; '{path}' is "
                          "not one. Leave it unset, or convert the data to a table with that column.")
    frame = read_frame(path)
    where = f"'{path}'"
    side: dict[str, Any] = {}
    if group_column is not None:
        col = pick_column(frame, group_column, (), "group", "--group-column (group_column)", where)
        side["groups"] = parse_groups(frame[col], col, where)
        side["column"] = col
    if time_column is not None:
        col = pick_column(frame, time_column, (), "time", "--time-column (time_column)", where)
        side["times"] = parse_times(frame[col], col, where)
        side["column"] = col
    rest = frame.drop(columns=[side["column"]])
    if text_column is None and "text" not in [str(c) for c in rest.columns]:
        ds = tables.load_table(path, label_column, frame=rest)
    else:  # the text loader reads the file itself (every cell as text); it reads no other column
        ds = text.load_text(path, text_column, label_column)
    ds.meta[META_KEY] = side
    return ds


def parse_groups(values: pd.Series, column: str, where: str) -> np.ndarray:
    """Group codes 0..G-1 per row; a missing group is an error naming the row."""
    missing = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"Row {row} of {where}, group column '{column}', is empty ({int(missing.sum())} "
                        "such row(s)). Give every row a group (e.g. its own id), or drop those rows.")
    codes, _ = pd.factorize(values.astype(str))
    return np.asarray(codes, dtype=np.int64)


def parse_times(values: pd.Series, column: str, where: str) -> np.ndarray:
    """Sort keys of a time column: numbers as float64, dates and times as int64 nanoseconds
    (UTC). A cell that is neither is an error naming the row (counting from 0)."""
    text = values.astype(str).str.strip()
    missing = values.isna().to_numpy() | (text == "").to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"Row {row} of {where}, time column '{column}', is empty ({int(missing.sum())} "
                        "such row(s)). Every row needs a time to be placed before or after the others; "
                        "fill it or drop those rows.")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        arr = numbers.to_numpy(dtype=np.float64)
        if not np.isfinite(arr).all():
            row = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise DataError(f"Row {row} of {where}, time column '{column}', holds {values.iloc[row]!r}, "
                            "which is not a finite time. Fix the value or drop the row.")
        return arr
    best = None
    for fmt in (None, "ISO8601"):  # the format of the first cell, or any ISO 8601 form
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                dates = pd.to_datetime(text, errors="coerce", utc=True, format=fmt)
            except (ValueError, TypeError):
                continue
        if best is None or dates.notna().sum() > best.notna().sum():
            best = dates
    if best is not None and best.notna().all():
        return best.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    as_dates = best is not None and best.notna().sum() >= numbers.notna().sum()
    bad = (best.isna() if as_dates and best is not None else numbers.isna()).to_numpy()
    row = int(np.flatnonzero(bad)[0])
    kind = "a date or time" if as_dates else "a number"
    raise DataError(f"Row {row} of {where}, time column '{column}', holds {values.iloc[row]!r}, which "
                    f"does not parse as {kind} like the other rows ({int(bad.sum())} such row(s)). Write "
                    "every time in one format (e.g. ISO 8601: 2024-03-01 or 2024-03-01T12:00), or as "
                    "numbers.")


# --------------------------------------------------------------------------- splitting


def _folds(fraction: float, n_groups: int) -> tuple[int, int]:
    """(k, m): m of k folds hold about ``fraction`` of the rows. The fewest folds within 1
    point of it, since fewer, larger folds let whole groups balance the classes better."""
    best = (1.0, 2, 1)
    for k in range(2, min(MAX_FOLDS, n_groups) + 1):
        m = min(max(1, _round(fraction * k)), k - 1)
        err = abs(m / k - fraction)
        if err <= 0.01:
            return k, m
        best = min(best, (err, k, m))
    return best[1], best[2]


def _take_groups(strata: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions of whole groups holding about ``fraction`` of the rows, class mix kept."""
    from sklearn.model_selection import StratifiedGroupKFold

    if fraction <= 0:
        return np.zeros(0, np.int64)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise DataError(f"Splitting by group needs at least 2 groups to hold out a {fraction:.0%} "
                        f"split and still train; the data has {n_groups}. Add groups, or drop "
                        "--group-column.")
    k, m = _folds(fraction, n_groups)
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed % 2**32)
    with warnings.catch_warnings():  # "the least populated class has fewer members than n_splits"
        warnings.simplefilter("ignore", UserWarning)
        folds = [te for _, te in cv.split(np.zeros(len(strata)), strata, groups)]
    return np.sort(np.concatenate(folds[:m]))


def group_split(strata: np.ndarray, groups: np.ndarray, val_fraction: float, test_fraction: float,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test), each sorted; every group lies in exactly one of them.

    >>> tr, va, te = group_split(np.array([0, 1] * 10), np.repeat(np.arange(10), 2), 0.1, 0.2)
    >>> sorted(set(np.repeat(np.arange(10), 2)[te]) & set(np.repeat(np.arange(10), 2)[tr]))
    []
    """
    strata, groups = np.asarray(strata), np.asarray(groups)
    every = np.arange(len(strata))
    te = _take_groups(strata, groups, test_fraction, seed)
    rest = np.setdiff1d(every, te)
    va = rest[_take_groups(strata[rest], groups[rest], val_fraction / (1.0 - test_fraction), seed)]
    tr = np.setdiff1d(rest, va)
    return tr, np.sort(va), te


def time_split(times: np.ndarray, val_fraction: float, test_fraction: float, column: str = "time"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test), each sorted: the past, then the future.

    Ties at a boundary go to the later split, so every timestamp is in one split only.

    >>> time_split(np.array([7, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 0.2, 0.3)  # both 7s go to test
    (array([1, 2, 3, 4, 5]), array([6]), array([0, 7, 8, 9]))
    """
    times = np.asarray(times)
    n = len(times)
    n_test = max(1, _round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, _round(n * val_fraction)) if val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise DataError(f"Splitting {n} rows by time into train, val ({val_fraction}) and test "
                        f"({test_fraction}) leaves no training rows. Add rows or lower the fractions.")
    ordered = np.sort(times, kind="stable")
    t_test = ordered[n - n_test] if n_test else None
    t_val = ordered[n - n_test - n_val] if n_val else t_test
    is_test = times >= t_test if t_test is not None else np.zeros(n, bool)
    is_val = (times >= t_val) & ~is_test if t_val is not None else np.zeros(n, bool)
    is_train = ~is_test & ~is_val
    if not is_train.any():
        raise DataError(f"Splitting by time column '{column}': every row shares a timestamp with the "
                        "val/test boundary, so none is left to train on (rows of one timestamp stay "
                        "in one split). Lower val_fraction/test_fraction, or use finer times.")
    if n_val and not is_val.any():
        raise DataError(f"Splitting by time column '{column}': the rows meant for validation all share "
                        "the test split's first timestamp, so the val split is empty (rows of one "
                        "timestamp stay in one split). Raise val_fraction, or set data.val_fraction=0.")
    return tuple(np.flatnonzero(m) for m in (is_train, is_val, is_test))  # type: ignore[return-value]


# --------------------------------------------------------------------------- k-shot samples


def group_shots(y: np.ndarray, groups: np.ndarray, shots: int, seed: int = 0,
                classes: list[str] | None = None, column: str = "group") -> np.ndarray:
    """Sorted indices of ``shots`` examples per class, each from a different group (one
    example from each of ``shots`` groups, drawn with ``seed``)."""
    y, groups = np.asarray(y), np.asarray(groups)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        have = np.unique(groups[idx])
        if len(have) < shots:
            what = f"class {_class_name(classes, int(c))}" if classes else "the data"
            raise DataError(f"The 'shots' parameter asks for {shots} training examples per class from "
                            f"{shots} distinct groups ('{column}'), but {what} has examples in only "
                            f"{len(have)} group(s) of the train split. Lower --shots to at most "
                            f"{len(have)}, or lower val_fraction/test_fraction.")
        for g in have[rng.permutation(len(have))[:shots]]:
            members = idx[groups[idx] == g]
            out.append(members[rng.integers(len(members))])
    return np.sort(np.asarray(out, dtype=np.int64))


def recent_shots(y: np.ndarray, times: np.ndarray, shots: int, classes: list[str] | None = None
                 ) -> np.ndarray:
    """Sorted indices of the ``shots`` most recent examples per class (later rows win ties)."""
    y, times = np.asarray(y), np.asarray(times)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < shots:
            what = f"class {_class_name(classes, int(c))}" if classes else "the train split"
            raise DataError(f"The 'shots' parameter asks for the {shots} most recent training examples "
                            f"per class, but {what} has only {len(idx)} in the train split. Lower "
                            f"--shots to at most {len(idx)}, or lower val_fraction/test_fraction.")
        order = np.lexsort((idx, times[idx]))  # by time, then by row
        out.append(idx[order[-shots:]])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


# --------------------------------------------------------------------------- the split rule


class SplitRule:
    """How a pool with a group or time column is split and sampled (see the module doc)."""

    def __init__(self, side: dict[str, Any]) -> None:
        self.column: str = side["column"]
        self.groups: np.ndarray | None = side.get("groups")
        self.times: np.ndarray | None = side.get("times")
        self.train_rows = np.zeros(0, np.int64)

    @classmethod
    def pop(cls, ds: TransferDataset) -> SplitRule | None:
        side = ds.meta.pop(META_KEY, None)
        return cls(side) if side else None

    def split(self, strata: np.ndarray, val_fraction: float, test_fraction: float, seed: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices (train, val, test) of the pool; the train rows are kept for :meth:`shots`."""
        if self.groups is not None:
            parts = group_split(strata, self.groups, val_fraction, test_fraction, seed)
        else:
            parts = time_split(self._times(), val_fraction, test_fraction, self.column)
        self.train_rows = parts[0]
        return parts

    def _times(self) -> np.ndarray:
        if self.times is None:
            raise DataError("This split rule has neither a group nor a time column.")
        return self.times

    def describe(self) -> str:
        """One sentence for the summary and the console."""
        if self.groups is not None:
            return (f"by group '{self.column}' (scikit-learn StratifiedGroupKFold, seeded): no group "
                    "is in two splits; class mix kept as far as whole groups allow")
        return (f"by time '{self.column}': train on the past, validate and test on the future; no "
                "timestamp is in two splits")

    def shots(self, train: TransferDataset, shots: int, seed: int) -> tuple[np.ndarray, str]:
        """(indices into ``train``, the sentence that says how they were chosen); call after
        :meth:`split`. Numeric targets (regression): ``shots`` in total."""
        values = train.has_values
        y = np.zeros(len(train), np.int64) if values else train.y
        classes = None if values else list(train.classes)
        per = "in total" if values else "per class"
        if self.groups is not None:
            idx = group_shots(y, self.groups[self.train_rows], shots, seed, classes, self.column)
            return idx, f"{shots} examples {per}, from {shots} distinct groups of '{self.column}'"
        idx = recent_shots(y, self._times()[self.train_rows], shots, classes)
        return idx, f"the {shots} most recent examples {per} by '{self.column}'"
