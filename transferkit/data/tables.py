"""Tables (CSV, TSV, JSONL, Parquet): read, detect the schema, check later tables.

Numeric columns (ints, floats, booleans) and categorical columns (anything else) are
detected on the first table and recorded in a :class:`TableSchema`; a later table (a
prediction input, a target domain) is checked against it with :func:`check_table`.
Missing or infinite values are errors that name the row and the column.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels
from transferkit.data.schema import ColumnSchema, TableSchema
from transferkit.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
LABEL_COLUMNS = ("label", "labels", "target", "class", "y")


def decode_utf8(path: Path) -> str:
    """The file's text; non-UTF-8 bytes raise DataError naming the line (= row)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise DataError(f"Data file '{path}' does not exist.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"'{path}' is not UTF-8 text: line {line} (data row {line - 2} counting from 0 after "
            f"a header line) holds the byte {raw[exc.start:exc.start + 1]!r} that is not valid UTF-8. "
            "Re-save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`."
        ) from None


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"Line {n} of '{path}' is not valid JSON ({exc.msg}). A .jsonl file holds "
                            "one JSON object per line.") from None
        except RecursionError:
            raise DataError(f"Line {n} of '{path}' is nested too deeply to read. A .jsonl file holds "
                            "one flat JSON object per line.") from None
        except ValueError:  # the one other error of json.loads: an integer over 4300 digits
            raise DataError(f"Line {n} of '{path}' holds an integer of more than 4300 digits, "
                            "beyond the range of any number a model reads. Fix the value or drop "
                            "the line.") from None
        if not isinstance(record, dict):
            raise DataError(f"Line {n} of '{path}' is a JSON {type(record).__name__}, not an object "
                            "with named fields.")
        records.append(record)
    return pd.DataFrame.from_records(records)


def read_frame(path: str | Path, as_text: bool = False) -> pd.DataFrame:
    """Read a CSV/TSV/JSONL/Parquet file into a DataFrame (read-only).

    ``as_text`` reads every CSV cell as a string and keeps empty cells empty (for
    text datasets); otherwise pandas' type inference and missing-value markers apply.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise DataError(f"Reading '{path}' needs pyarrow: pip install 'transferkit[parquet]'.") from None
        except Exception as exc:  # pyarrow raises its own error types
            raise DataError(f"Cannot read '{path}' as Parquet: {exc}") from None
    text = decode_utf8(path)
    if not text.strip():
        raise DataError(f"Data file '{path}' is empty.")
    if suffix in (".jsonl", ".ndjson"):
        frame = _read_jsonl(path, text)
        return frame.astype(object).where(frame.notna(), "") if as_text else frame
    sep = "\t" if suffix == ".tsv" else ","
    try:
        if as_text:
            return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
        return pd.read_csv(io.StringIO(text), sep=sep)
    except pd.errors.ParserError as exc:
        raise DataError(f"Cannot parse '{path}' as {'TSV' if sep == chr(9) else 'CSV'}: {exc}") from None


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


def infer_schema(frame: pd.DataFrame, label_column: str | None = None) -> TableSchema:
    """Numeric (int, float, bool) vs categorical columns of ``frame``; label column excluded."""
    cols = []
    for name in frame.columns:
        if name == label_column:
            continue
        s = frame[name]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            cols.append(ColumnSchema(str(name), "numeric"))
        else:
            values = s.dropna().astype(str)
            cols.append(ColumnSchema(str(name), "categorical", sorted(values.unique().tolist())))
    return TableSchema(cols, label_column)


def check_table(frame: pd.DataFrame, schema: TableSchema, where: str = "the table") -> pd.DataFrame:
    """Check ``frame`` against ``schema``; return its feature columns, in schema order.

    Numeric columns become float64 and categorical columns strings. Raises DataError for a
    missing column, a non-numeric value in a numeric column, or a missing/NaN/infinite
    value (naming the row, counting from 0, and the column). Categories not seen when the
    schema was recorded are allowed: encoders map them to "unknown".
    """
    schema.check([str(c) for c in frame.columns], where[:1].upper() + where[1:])
    frame = frame.rename(columns=str)[schema.names].reset_index(drop=True)
    out = {}
    for col in schema.columns:
        s = frame[col.name]
        if col.kind == "numeric":
            raw = s.astype(object).where(s.notna(), np.nan)
            try:
                values = pd.to_numeric(raw, errors="coerce")
                bad_type = values.isna() & s.notna()
                if bad_type.any():
                    row = int(np.flatnonzero(bad_type.to_numpy())[0])
                    raise DataError(f"Row {row} of {where}, numeric column '{col.name}', holds "
                                    f"{_short(s.iloc[row])}, which is not a number. Fix the value or "
                                    "drop the row.")
                arr = values.to_numpy(dtype=np.float64)
            except OverflowError:  # an integer of 309+ digits: beyond any float
                row = next((i for i, v in enumerate(raw) if _beyond_float(v)), 0)
                raise DataError(f"Row {row} of {where}, numeric column '{col.name}', holds an integer "
                                f"of {_digits(raw.iloc[row])} digits, beyond the range of a float "
                                "(about 1.8e308). Fix the value or drop the row.") from None
            bad = ~np.isfinite(arr)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                kind = "missing (NaN)" if np.isnan(arr[row]) else "infinite"
                raise DataError(f"Row {row} of {where}, column '{col.name}', is {kind} "
                                f"({int(bad.sum())} such value(s) in that column). Impute the missing "
                                "values (e.g. the column median) or drop those rows first.")
            out[col.name] = arr
        else:
            missing = s.isna().to_numpy()
            if missing.any():
                row = int(np.flatnonzero(missing)[0])
                raise DataError(f"Row {row} of {where}, categorical column '{col.name}', is missing "
                                f"({int(missing.sum())} such value(s) in that column). Fill it with a "
                                "category of its own (e.g. 'unknown') or drop those rows first.")
            out[col.name] = s.astype(str).to_numpy(dtype=object)
    return pd.DataFrame(out, columns=schema.names)


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


def table_dataset(frame: pd.DataFrame, y: np.ndarray, classes: list[str], name: str,
                  where: str, schema: TableSchema | None = None) -> TransferDataset:
    """A table dataset from feature columns (schema inferred unless given, then checked)."""
    schema = schema or infer_schema(frame)
    x = check_table(frame, schema, where)
    return TransferDataset(name=name, modality="table", x=x, y=y, classes=classes, schema=schema,
                           ids=[f"{name}[{i}]" for i in range(len(x))], meta={"kind": "table"})


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
    where = f"'{path}'"
    y, classes, used = read_labels(frame, label_column, where, label_separator, label_columns)
    features = frame.drop(columns=used)
    if features.shape[1] == 0:
        raise DataError(f"{where} has only the label column(s) {used} and no feature columns.")
    schema = infer_schema(features)
    schema.label_column = used[0] if len(used) == 1 else None
    ds = table_dataset(features, y, classes, name=path.stem, where=where, schema=schema)
    ds.meta.update({"source": str(path), "kind": "table", "label_column": used[0] if len(used) == 1 else None})
    if label_columns:
        ds.meta["label_columns"] = list(used)
    if label_separator is not None:
        ds.meta["label_separator"] = label_separator
    return ds


def warn_once(ds: TransferDataset, message: str) -> None:
    """Record a data warning on the dataset and emit it as a Python warning."""
    ds.meta.setdefault("warnings", []).append(message)
    warnings.warn(message, UserWarning, stacklevel=3)

