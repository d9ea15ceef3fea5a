"""Reading table files (CSV, TSV, JSONL, Parquet) into a DataFrame without holding the
file's text: the UTF-8 check streams over the file, and pandas parses a CSV a block of rows
at a time, joined column by column (see :func:`read_frame`)."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pandas as pd

from transferkit.errors import DataError

#: rows of a CSV file parsed at a time (see _read_csv)
CSV_CHUNK_ROWS = 1 << 18


def decode_utf8(path: Path) -> str:
    """The file's text; non-UTF-8 bytes raise DataError naming the line (= row)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise DataError(f"Data file '{path}' does not exist.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # exc.object: the bytes after a byte-order mark
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"'{path}' is not UTF-8 text: line {line} (data row {line - 2} counting from 0 after "
            f"a header line) holds the byte {exc.object[exc.start:exc.start + 1]!r} that is not valid UTF-8. "
            "Re-save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`."
        ) from None


def check_utf8(path: Path, block: int = 1 << 24) -> None:
    """:func:`decode_utf8`'s check and error without holding the text: the file is decoded
    block by block (16 MiB) and the text dropped, so a table of gigabytes is read by pandas
    from the file alone (a str of the whole file, and the StringIO pandas read it through,
    held 5x the file's size)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    lines = 0
    try:
        with open(path, "rb") as fh:
            while True:
                raw = fh.read(block)
                try:
                    decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as exc:  # exc.object: the held-back bytes + this block
                    line = lines + exc.object.count(b"\n", 0, exc.start) + 1
                    bad = exc.object[exc.start:exc.start + 1]
                    raise DataError(
                        f"'{path}' is not UTF-8 text: line {line} (data row {line - 2} counting from 0 "
                        f"after a header line) holds the byte {bad!r} that is not valid UTF-8. "
                        "Re-save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`."
                    ) from None
                if not raw:
                    return
                lines += raw.count(b"\n")
    except FileNotFoundError:
        raise DataError(f"Data file '{path}' does not exist.") from None


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
    if suffix in (".jsonl", ".ndjson"):
        text = decode_utf8(path)
        if not text.strip():
            raise DataError(f"Data file '{path}' is empty.")
        frame = _read_jsonl(path, text)
        return frame.astype(object).where(frame.notna(), "") if as_text else frame
    check_utf8(path)
    if _blank(path):
        raise DataError(f"Data file '{path}' is empty.")
    sep = "\t" if suffix == ".tsv" else ","
    _refuse_duplicate_columns(path, sep)
    try:
        if as_text:
            return _read_csv(path, sep=sep, dtype=str, keep_default_na=False)
        return _read_csv(path, sep=sep)
    except pd.errors.ParserError as exc:
        raise DataError(f"Cannot parse '{path}' as {'TSV' if sep == chr(9) else 'CSV'}: {exc}") from None


def _read_csv(path: Path, rows: int | None = None, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv(path)``, ``rows`` rows at a time (CSV_CHUNK_ROWS), joined column by column.

    Each block's columns are copied out of it (the block is dropped) and each column's
    pieces are freed as soon as they are joined, so the peak is about the table plus one
    block; a whole read held the parser's pieces beside the joined table (~2.7x the table
    at 5M rows). Types are inferred per block and joined as pandas' own reader joins its
    internal blocks (numbers in one block and text in another give an object column)."""
    parts: dict[str, list[pd.Series]] = {}
    with pd.read_csv(path, encoding="utf-8-sig", chunksize=rows or CSV_CHUNK_ROWS, **kwargs) as reader:
        for block in reader:
            for name in block.columns:
                parts.setdefault(name, []).append(block[name].copy(deep=True))
            del block
    if not parts:  # a header without rows
        return pd.read_csv(path, encoding="utf-8-sig", **kwargs)
    columns = {name: pd.concat(parts.pop(name), ignore_index=True) for name in list(parts)}
    _give_back_freed_memory()
    return pd.DataFrame(columns, copy=False)


def _give_back_freed_memory() -> None:
    """glibc keeps the freed pieces of a parse in its heap, where the large arrays that come
    next (each in its own mapping) cannot reuse them: 756 MiB of a 5M-row table's read.
    ``malloc_trim`` hands them back to the system; a no-op without glibc."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _blank(path: Path, block: int = 1 << 20) -> bool:
    """Whether the (UTF-8) file holds only whitespace, read until its first other byte."""
    with open(path, "rb") as fh:
        while raw := fh.read(block):
            if raw.removeprefix(codecs.BOM_UTF8).strip():
                return False
    return True


def _refuse_duplicate_columns(path: Path, sep: str) -> None:
    """DataError when two header cells share a name (pandas would rename one 'a.1' silently)."""
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh, delimiter=sep), [])
    first: dict[str, int] = {}
    for j, name in enumerate(header):
        if name in first:
            raise DataError(f"Columns {first[name] + 1} and {j + 1} of the header of '{path}' are both "
                            f"named {name!r}; a column name must be unique. Rename one of them.")
        first[name] = j


__all__ = ["CSV_CHUNK_ROWS", "check_utf8", "decode_utf8", "read_frame"]
