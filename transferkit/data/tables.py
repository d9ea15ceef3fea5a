"""Tables (CSV, TSV, JSONL, Parquet): read, detect the schema, check later tables.

Numeric columns (ints, floats, booleans) and categorical columns (anything else) are
detected on the first table and recorded in a :class:`TableSchema`; a later table (a
prediction input, a target domain) is checked against it with :func:`check_table`.
Infinite values, and text in a column that is otherwise numbers (a typo), are errors that
name the row and the column. Missing values are imputed by default (``data.impute=auto``,
:func:`impute_splits`): a numeric column takes the median of the training split plus a
``<column>__missing`` indicator column, a categorical one the category ``"missing"``; the
fill values live in the schema, so prediction applies the ones learned at fit time.
``data.impute=none`` makes a missing value an error that names its row.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels
from transferkit.data.schema import ColumnSchema, TableSchema
from transferkit.data.table_files import read_frame
from transferkit.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
LABEL_COLUMNS = ("label", "labels", "target", "class", "y")
#: how missing cells of a table are treated (``data.impute``)
IMPUTE = ("auto", "none")
MISSING_CATEGORY = "missing"
INDICATOR_SUFFIX = "__missing"
#: a text column whose cells are numbers except at most this many (or this share) is a typo
TYPO_CELLS, TYPO_SHARE = 5, 0.05


def pick_column(frame: pd.DataFrame, column: str | None, defaults: Sequence[str], what: str,
                flag: str, where: str) -> str:
    """The name of the label/text column; errors list the columns that exist."""
    columns = [str(c) for c in frame.columns]
    if column is not None:
        if column not in columns:
            from transferkit.registry import did_you_mean

            raise DataError(f"{where} has no {what} column '{column}'.{did_you_mean(column, columns)} "
                            f"Columns: {', '.join(columns)}. Pass {flag} with one of them.")
        return column
    for name in defaults:
        if name in columns:
            return name
    raise DataError(f"{where} has no {what} column named {' or '.join(repr(d) for d in defaults[:3])}. "
                    f"Columns: {', '.join(columns)}. Pass {flag} with the one that holds the {what}.")


def infer_schema(frame: pd.DataFrame, label_column: str | None = None,
                 where: str = "the table") -> TableSchema:
    """Numeric (int, float, bool) vs categorical columns of ``frame``; label column excluded.

    A column of numbers with a few text cells (``"abc"`` among 90 numbers) is refused with
    an error naming those cells, rather than read as a column of 90 categories.
    """
    cols = []
    for name in frame.columns:
        if name == label_column:
            continue
        s = frame[name]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            cols.append(ColumnSchema(str(name), "numeric"))
        else:
            _refuse_typos(s, str(name), where)
            values = s.dropna().astype(str)
            cols.append(ColumnSchema(str(name), "categorical", sorted(values.unique().tolist())))
    return TableSchema(cols, label_column)


def _refuse_typos(s: pd.Series, name: str, where: str) -> None:
    """DataError when ``s`` is numbers except a few cells (at most TYPO_CELLS or TYPO_SHARE)."""
    codes, uniques = pd.factorize(s)  # each distinct value parsed once (-1: missing)
    present = codes >= 0
    n = int(present.sum())
    if n < 2:
        return
    parsed = pd.to_numeric(pd.Series(np.asarray(uniques, dtype=object)), errors="coerce").to_numpy()
    text = present & np.append(np.isnan(parsed.astype(np.float64)), False)[codes]
    n_text = int(text.sum())
    if n_text == 0 or n_text >= n - n_text or n_text > max(TYPO_CELLS, TYPO_SHARE * n):
        return
    rows = np.flatnonzero(text)
    cells = ", ".join(f"row {int(r)}: {_short(s.iloc[int(r)], 30)}" for r in rows[:5])
    more = f" and {n_text - 5} more" if n_text > 5 else ""
    raise DataError(f"Column '{name}' of {where} holds numbers except in {n_text} of its {n} cells "
                    f"({cells}{more}; rows count from 0 after the header). A typo there would turn "
                    "the column into categories. Fix those cells, or leave them empty to mark them "
                    "missing (missing values are imputed: data.impute=auto).")


def check_table(frame: pd.DataFrame, schema: TableSchema, where: str = "the table",
                missing: str = "error") -> pd.DataFrame:
    """Check ``frame`` against ``schema``; return its feature columns, in schema order.

    Numeric columns become float64 and categorical columns strings. Raises DataError for a
    missing column, a non-numeric value in a numeric column or an infinite value (naming the
    row, counting from 0, and the column). A missing cell takes its column's ``fill`` when
    the schema records one; otherwise ``missing="error"`` refuses it (naming the row) and
    ``missing="keep"`` keeps it (NaN, or None in a categorical column) for
    :func:`impute_splits` to fill. Derived indicator columns are computed here. The number
    of cells filled per column is in ``result.attrs["filled"]``. Categories not seen when
    the schema was recorded are allowed: encoders map them to "unknown".
    """
    schema.check([str(c) for c in frame.columns], where[:1].upper() + where[1:])
    frame = frame.rename(columns=str)[schema.inputs].reset_index(drop=True)
    out: dict[str, Any] = {}
    masks: dict[str, np.ndarray] = {}
    filled: dict[str, int] = {}
    for col in schema.columns:
        if col.indicator_of is not None:
            continue
        s = frame[col.name]
        if col.kind == "numeric":
            arr = _numbers(s, col.name, where)
            if np.isinf(arr).any():
                bad = np.isinf(arr)
                row = int(np.flatnonzero(bad)[0])
                raise DataError(f"Row {row} of {where}, column '{col.name}', is infinite "
                                f"({int(bad.sum())} such value(s) in that column). Replace those "
                                "values or drop those rows first.")
            gaps = np.isnan(arr)
        else:
            codes, uniques = pd.factorize(s)  # one str per distinct value, shared by its cells
            gaps = codes < 0
            arr = np.full(len(s), None, dtype=object)
            arr[~gaps] = np.array([str(v) for v in uniques], dtype=object)[codes[~gaps]]
        if gaps.any():
            masks[col.name] = gaps
            if col.fill is not None:
                arr = arr.copy()  # a numeric column may be the input's own array
                arr[gaps] = col.fill
                filled[col.name] = int(gaps.sum())
            elif missing != "keep":
                row = int(np.flatnonzero(gaps)[0])
                what = "missing (NaN)" if col.kind == "numeric" else "missing"
                raise DataError(f"Row {row} of {where}, {col.kind} column '{col.name}', is {what} "
                                f"({int(gaps.sum())} such value(s) in that column). For training "
                                "data, data.impute=auto (--impute auto, the default) fills missing "
                                "values from the training split; otherwise fill them (e.g. the column "
                                "median, or a category of its own) or drop those rows first.")
        out[col.name] = arr
    for col in schema.columns:
        if col.indicator_of is not None:
            out[col.name] = masks.get(col.indicator_of, np.zeros(len(frame), bool)).astype(np.float64)
    result = pd.DataFrame(out, columns=schema.names, copy=False)  # the arrays above are its own
    result.attrs["filled"] = filled
    return result


def _numbers(s: pd.Series, name: str, where: str) -> np.ndarray:
    """float64 values of a numeric column (NaN where missing); text and huge ints are errors."""
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iuf":  # already numbers: no object copy
        return s.to_numpy(dtype=np.float64)  # float64: the input's own (read-only) array, no copy
    raw = s.astype(object).where(s.notna(), np.nan)
    try:
        values = pd.to_numeric(raw, errors="coerce")
        bad_type = values.isna() & s.notna()
        if bad_type.any():
            row = int(np.flatnonzero(bad_type.to_numpy())[0])
            raise DataError(f"Row {row} of {where}, numeric column '{name}', holds "
                            f"{_short(s.iloc[row])}, which is not a number. Fix the value, leave the "
                            "cell empty to mark it missing, or drop the row.")
        return values.to_numpy(dtype=np.float64, copy=True)
    except OverflowError:  # an integer of 309+ digits: beyond any float
        row = next((i for i, v in enumerate(raw) if _beyond_float(v)), 0)
        raise DataError(f"Row {row} of {where}, numeric column '{name}', holds an integer "
                        f"of {_digits(raw.iloc[row])} digits, beyond the range of a float "
                        "(about 1.8e308). Fix the value or drop the row.") from None


def impute_schema(schema: TableSchema, train: pd.DataFrame, missing_columns: Sequence[str]) -> TableSchema:
    """``schema`` with fill values learned on ``train`` (a checked frame, NaN/None where missing).

    Every numeric column takes the median of its training values; every categorical one the
    category ``"missing"`` (added to its categories when ``missing_columns`` names it). Each
    numeric column of ``missing_columns`` gets an indicator column ``<name>__missing``.
    """
    cols, indicators = [], []
    taken = set(schema.inputs)
    for c in schema.columns:
        if c.indicator_of is not None:
            continue
        if c.kind == "numeric":
            values = train[c.name].to_numpy(dtype=np.float64)
            values = values[~np.isnan(values)]
            cols.append(replace(c, fill=float(np.median(values)) if len(values) else 0.0))
            if c.name in missing_columns:
                name = c.name + INDICATOR_SUFFIX
                while name in taken:
                    name += "_"
                taken.add(name)
                indicators.append(ColumnSchema(name, "numeric", indicator_of=c.name))
        else:
            cats = list(c.categories)
            if c.name in missing_columns and MISSING_CATEGORY not in cats:
                cats = sorted([*cats, MISSING_CATEGORY])
            cols.append(replace(c, categories=cats, fill=MISSING_CATEGORY))
    return TableSchema(cols + indicators, schema.label_column)


def _with_schema(part: TransferDataset, schema: TableSchema) -> TransferDataset:
    x = check_table(part.x, schema, f"the {part.split} split")
    return replace(part, x=x, schema=schema, skipped=list(part.skipped), meta=dict(part.meta))


def impute_splits(train: TransferDataset, others: Sequence[TransferDataset], impute: str = "auto",
                  schema: TableSchema | None = None
                  ) -> tuple[TransferDataset, list[TransferDataset], str | None]:
    """Fill the missing cells of table splits with values learned on ``train`` alone.

    With ``schema`` (a fitted run's, holding its fill values) every part, ``train``
    included, is filled with those values instead: new data judged by a model is
    preprocessed as the model's training data was.

    Returns (train, others, warning): the parts with filled frames and the fitted schema
    (:func:`impute_schema`), and a warning counting the filled cells per column (None when
    nothing was missing). ``impute="none"`` returns the parts unchanged (the loaders have
    already refused missing values then). Leaves non-table data alone.
    """
    if impute not in IMPUTE:
        raise DataError(f"The 'impute' parameter must be one of {', '.join(IMPUTE)}. Got {impute!r} instead.")
    if impute == "none":
        return train, list(others), None
    if train.modality == "table" and schema is not None:  # a run's recorded fill values
        return _with_schema(train, schema), [_with_schema(p, schema) for p in others], None
    if train.modality == "sequence":
        return train, list(others), _series_gaps([train, *others])
    if train.modality != "table" or train.schema is None:
        return train, list(others), None
    parts = [train, *others]
    counts = train.x.isna().sum()
    for p in others:
        counts = counts.add(p.x.isna().sum(), fill_value=0)
    gaps = {str(k): int(v) for k, v in counts.items() if v > 0}
    schema = impute_schema(train.schema, train.x, list(gaps))
    out = []
    for p in parts:
        x = check_table(p.x, schema, f"the {p.split} split")
        out.append(replace(p, x=x, schema=schema, skipped=list(p.skipped), meta=dict(p.meta)))
    if not gaps:
        return out[0], out[1:], None
    by_name = {c.name: c for c in schema.columns}
    flags = {c.indicator_of: c.name for c in schema.columns if c.indicator_of is not None}
    said = []
    for name, n in gaps.items():
        col = by_name[name]
        if col.kind == "numeric":
            said.append(f"'{name}' {n} -> {col.fill:.6g} (training median; indicator '{flags[name]}')")
        else:
            said.append(f"'{name}' {n} -> category '{MISSING_CATEGORY}'")
    warning = (f"missing values imputed in {len(gaps)} column(s) (data.impute=auto; fill values "
               f"learned on the training split and saved with the model): {'; '.join(said)}. "
               "Pass --impute none to refuse missing values instead.")
    return out[0], out[1:], warning


def _short(value: object, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value).bit_length() < 1000 else "a huge int"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return int(value)
    except ValueError:  # not an integer, or over Python's 4300-digit conversion limit
        return None


def _beyond_float(value: object) -> bool:
    n = _as_int(value)
    if n is None:
        return False
    try:
        float(n)
    except OverflowError:
        return True
    return False


def _digits(value: object) -> str:
    """Decimal digits of a large int, without str() (which refuses over 4300 digits)."""
    n = _as_int(value)
    if n is None:
        return "many"
    try:
        return str(len(str(abs(n))))
    except ValueError:
        return f"about {int(abs(n).bit_length() * 0.30103) + 1}"


def _series_gaps(parts: Sequence[TransferDataset]) -> str | None:
    """The warning counting missing values (NaN) per channel of series data, or None.

    Series keep their NaN: the sequence backbone learns each channel's mean and standard
    deviation on the training split without them and maps a missing value to that mean.
    """
    arrays = [np.asarray(p.x[i]) for p in parts if p.modality == "sequence" for i in range(len(p))]
    arrays = [a[:, None] if a.ndim == 1 else a for a in arrays if a.dtype.kind == "f"]
    if not arrays or len({a.shape[1] for a in arrays}) != 1:
        return None
    counts = np.sum([np.isnan(a).sum(axis=0) for a in arrays], axis=0)
    if not counts.any():
        return None
    said = ", ".join(f"channel {j}: {int(n)}" for j, n in enumerate(counts) if n)
    return (f"missing values (NaN) in series ({said}) take the channel's mean: the series' own "
            "under per-series normalisation (the sequence encoders' default), else the mean over the "
            "training split (data.impute=auto; learned by the backbone and saved with it). Pass "
            "--impute none to refuse them instead.")


def table_dataset(frame: pd.DataFrame, y: np.ndarray, classes: list[str], name: str,
                  where: str, schema: TableSchema | None = None) -> TransferDataset:
    """A table dataset from feature columns (schema inferred unless given, then checked).

    Missing cells are kept (NaN/None): :func:`impute_splits` fills them after the split,
    or :func:`refuse_missing` names the first one (``data.impute=none``).
    """
    schema = schema or infer_schema(frame, where=where)
    x = check_table(frame, schema, where, missing="keep")
    return TransferDataset(name=name, modality="table", x=x, y=y, classes=classes, schema=schema,
                           ids=[f"{name}[{i}]" for i in range(len(x))],
                           meta={"kind": "table", "where": where})


def refuse_missing(ds: TransferDataset) -> None:
    """DataError naming the first missing cell of a table dataset, or the first series
    holding a NaN (``data.impute=none``)."""
    if ds.modality == "sequence":
        gaps = [int(np.isnan(np.asarray(ds.x[i], dtype=np.float32)).sum()) for i in range(len(ds))]
        if any(gaps):
            i = next(k for k, n in enumerate(gaps) if n)
            raise DataError(f"Example {i} of {ds.meta.get('where', f'dataset {ds.name!r}')} holds missing "
                            f"values (NaN; {sum(gaps)} in all). data.impute=auto (--impute auto, "
                            "the default) fills them with the channel's training mean; otherwise "
                            "fill them or drop those series first.")
        return
    if ds.modality == "table" and ds.schema is not None and bool(ds.x.isna().to_numpy().any()):
        bare = TableSchema([replace(c, fill=None) for c in ds.schema.columns if c.indicator_of is None],
                           ds.schema.label_column)
        check_table(ds.x, bare, ds.meta.get("where", f"dataset '{ds.name}'"))


def read_labels(frame: pd.DataFrame, label_column: str | None, where: str,
                label_separator: str | None = None, label_columns: Sequence[str] | None = None
                ) -> tuple[np.ndarray, list[str], list[str]]:
    """(targets, classes, the label columns used) of a frame: class codes of one label
    column, or -- with ``label_separator`` or ``label_columns`` -- a multi-hot matrix of label
    sets (see :mod:`transferkit.data.targets`)."""
    from transferkit.data.targets import multi_hot_from_columns, multi_hot_from_text

    if label_columns:
        if label_column is not None or label_separator is not None:
            raise DataError("Label sets come from one column with --label-separator or from several "
                            "0/1 columns with --label-columns, not both; drop --label-column/"
                            "--label-separator or --label-columns.")
        y, names = multi_hot_from_columns(frame, label_columns, where)
        return y, names, list(names)
    label = pick_column(frame, label_column, LABEL_COLUMNS, "label", "--label-column (label_column)", where)
    if label_separator is not None:
        y, names = multi_hot_from_text(frame[label].tolist(), label_separator,
                                       f"{where} (label column '{label}')")
        return y, names, [label]
    y, classes = encode_labels(frame[label].tolist(), f"{where} (label column '{label}')")
    return y, classes, [label]


def load_table(path: str | Path, label_column: str | None = None,
               frame: pd.DataFrame | None = None, label_separator: str | None = None,
               label_columns: Sequence[str] | None = None) -> TransferDataset:
    """A CSV/TSV/JSONL/Parquet table: ``label_column`` (default 'label', 'target', ...) + features;
    ``label_separator`` / ``label_columns`` read label sets instead (multi-label)."""
    path = Path(path)
    frame = read_frame(path) if frame is None else frame
    ds = table_from_frame(frame, path.stem, f"'{path}'", label_column, label_separator, label_columns)
    ds.meta["source"] = str(path)
    return ds


def table_from_frame(frame: pd.DataFrame, name: str, where: str, label_column: str | None = None,
                     label_separator: str | None = None, label_columns: Sequence[str] | None = None,
                     schema: TableSchema | None = None) -> TransferDataset:
    """A table dataset of ``frame``'s label column(s) and feature columns (as :func:`load_table`);
    ``schema`` (another part's) checks the features against it instead of inferring one."""
    y, classes, used = read_labels(frame, label_column, where, label_separator, label_columns)
    features = frame.drop(columns=used)
    if features.shape[1] == 0:
        raise DataError(f"{where} has only the label column(s) {used} and no feature columns.")
    if schema is None:
        schema = infer_schema(features, where=where)
        schema.label_column = used[0] if len(used) == 1 else None
    ds = table_dataset(features, y, classes, name=name, where=where, schema=schema)
    ds.meta.update({"kind": "table", "label_column": used[0] if len(used) == 1 else None})
    if label_columns:
        ds.meta["label_columns"] = list(used)
    if label_separator is not None:
        ds.meta["label_separator"] = label_separator
    return ds


def warn_once(ds: TransferDataset, message: str) -> None:
    """Record a data warning on the dataset and emit it as a Python warning."""
    ds.meta.setdefault("warnings", []).append(message)
    warnings.warn(message, UserWarning, stacklevel=3)

