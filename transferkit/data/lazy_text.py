"""Text files indexed, not loaded: :class:`LazyTexts` reads a text when it is used.

A CSV/TSV/JSONL file of at least :data:`LAZY_TEXT_BYTES` is read once, as a stream, when
it is loaded: every line is decoded (non-UTF-8 bytes and malformed records are errors
naming the line, before training starts, as for a file read whole), the labels and other
columns are kept, and of the text column only, per row, the byte offset of its record,
its length and the digest of the text (its content key). A text is read again from the
file when a batch needs it. The file must not change while the dataset is in use (as for
an image folder's files).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from transferkit.errors import DataError

#: files at least this large (bytes) are indexed rather than read into memory
LAZY_TEXT_BYTES = 64 * 2**20
LAZY_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


def _lines(path: Path) -> Iterator[tuple[int, int, str]]:
    """(line number from 1, byte offset, decoded line) of a UTF-8 file (a BOM dropped)."""
    with open(path, "rb") as fh:
        offset = 0
        for n, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"'{path}' is not UTF-8 text: line {n} (data row {n - 2} counting from 0 after a header "
                    f"line) holds the byte {raw[exc.start:exc.start + 1]!r} that is not valid UTF-8. Re-save "
                    "the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`.") from None
            yield n, offset, line
            offset += len(raw)


def _csv_records(path: Path, sep: str) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, byte offset, cells) of each record; blank lines skipped (as pandas does)."""
    lines = _lines(path)
    where: list[tuple[int, int]] = []

    def feed() -> Iterator[str]:
        for n, offset, line in lines:
            where.append((n, offset))
            yield line

    reader = csv.reader(feed(), delimiter=sep)
    try:
        for cells in reader:
            first = where[0]
            where.clear()
            if cells:
                yield first[0], first[1], cells
    except csv.Error as exc:
        raise DataError(f"Cannot parse '{path}' as {'TSV' if sep == chr(9) else 'CSV'}: {exc} "
                        f"(line {reader.line_num}).") from None


def header(path: Path) -> list[str]:
    """The column names of a CSV/TSV/JSONL file (its header; a JSONL file's first record)."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, _, line in _lines(path):
            if line.strip():
                return list(_json_record(path, n, line))
        return []
    return next((cells for _, _, cells in _csv_records(path, _sep(path))), [])


def _sep(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _json_record(path: Path, n: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise DataError(f"Line {n} of '{path}' is not valid JSON ({exc}). A .jsonl file holds one flat "
                        "JSON object per line.") from None
    if not isinstance(record, dict):
        raise DataError(f"Line {n} of '{path}' is a JSON {type(record).__name__}, not an object with named fields.")
    return record


def _as_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)


def index_text_file(path: Path, pick: Any) -> tuple[pd.DataFrame, LazyTexts, list[int]]:
    """(the other columns as strings, the texts indexed, the rows whose text is blank).

    ``pick(columns)`` names the text column among the header's columns (raising DataError
    as :func:`~transferkit.data.tables.pick_column` does).
    """
    path = Path(path)
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    offsets: list[int] = []
    lengths: list[int] = []
    digests: list[bytes] = []
    blank: list[int] = []
    rest: list[Any] = []
    text, columns, j = "", [], 0
    records = ((n, off, _json_record(path, n, line)) for n, off, line in _lines(path) if line.strip()) \
        if jsonl else _csv_records(path, _sep(path))
    for n, offset, rec in records:
        if not columns:
            columns = list(rec) if jsonl else list(rec)
            text = pick(columns)
            j = columns.index(text)
            if not jsonl:
                continue  # the header line
        if jsonl:
            value = _as_text(rec.pop(text, None))
        else:
            if len(rec) > len(columns):
                raise DataError(f"Cannot parse '{path}' as {'TSV' if _sep(path) == chr(9) else 'CSV'}: line {n} "
                                f"has {len(rec)} fields, the header {len(columns)}.")
            rec = rec + [""] * (len(columns) - len(rec))
            value = rec.pop(j)
        if not value.strip():
            blank.append(len(offsets))
        offsets.append(offset)
        lengths.append(len(value))
        digests.append(hashlib.sha1(value.encode("utf-8", "surrogatepass")).digest())
        rest.append(rec)
    if not columns:
        raise DataError(f"Data file '{path}' is empty.")
    if jsonl:
        frame = pd.DataFrame.from_records(rest)
        frame = frame.astype(object).where(frame.notna(), "")
    else:
        frame = pd.DataFrame(rest, columns=[c for c in columns if c != text], dtype=str)
    digest_rows = np.frombuffer(b"".join(digests), np.uint8).reshape(len(digests), 20)
    texts = LazyTexts([(str(path), text, "" if jsonl else _sep(path), j)], np.zeros(len(offsets), np.int32),
                      np.array(offsets, np.int64), np.array(lengths, np.int64), digest_rows)
    return frame, texts, blank


class LazyTexts(Sequence[str]):
    """Texts read from their file on access.

    ``sources`` are ``(path, column, separator, column position)`` (separator ``""``:
    JSONL); per text, the source, the byte offset of its record, its length in characters
    and the SHA-1 of its UTF-8 bytes (a ``(N, 20)`` uint8 array) (``digest(i)`` is what :func:`~transferkit.data.dataset.item_digest` gives
    for the text, so hashing the dataset reads nothing).
    """

    def __init__(self, sources: Sequence[tuple[str, str, str, int]], source: np.ndarray, offsets: np.ndarray,
                 lengths: np.ndarray, digests: np.ndarray) -> None:
        if not len(source) == len(offsets) == len(lengths) == len(digests):
            raise ValueError("LazyTexts got arrays of different lengths.")
        self.sources = [tuple(s) for s in sources]
        self.source, self.offsets, self.lengths, self.digests = source, offsets, lengths, digests

    def __len__(self) -> int:
        return len(self.offsets)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> LazyTexts: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        return self.read_many([int(i)])[0]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), 1024):
            yield from self.read_many(range(start, min(start + 1024, len(self))))

    def __add__(self, other: LazyTexts) -> LazyTexts:
        if not isinstance(other, LazyTexts):
            return NotImplemented
        sources = list(self.sources)
        remap = np.array([sources.index(s) if s in sources else sources.append(s) or len(sources) - 1
                          for s in other.sources], dtype=np.int32)
        return LazyTexts(sources, np.concatenate([self.source, remap[other.source] if len(other) else other.source]),
                         np.concatenate([self.offsets, other.offsets]), np.concatenate([self.lengths, other.lengths]),
                         np.concatenate([self.digests, other.digests]))

    def __repr__(self) -> str:
        return f"LazyTexts({len(self)} texts of {', '.join(s[0] for s in self.sources)})"

    def digest(self, i: int) -> str:
        return self.digests[int(i)].tobytes().hex()

    def take(self, indices: Sequence[int] | np.ndarray) -> LazyTexts:
        """The texts at ``indices`` (nothing is read)."""
        idx = np.asarray(indices, dtype=np.int64)
        return LazyTexts(self.sources, self.source[idx], self.offsets[idx], self.lengths[idx], self.digests[idx])

    def read_many(self, indices: Sequence[int] | np.ndarray, pool: Executor | None = None) -> list[str]:
        """The texts at ``indices``, in order (each file opened once, read in offset order)."""
        idx = np.asarray(indices, dtype=np.int64)
        out: list[str] = [""] * len(idx)
        for s, (path, column, sep, j) in enumerate(self.sources):
            mine = np.flatnonzero(self.source[idx] == s)
            if not len(mine):
                continue
            with open(path, "rb") as fh:
                for k in mine[np.argsort(self.offsets[idx[mine]], kind="stable")]:
                    out[k] = _read(fh, int(self.offsets[idx[k]]), column, sep, j)
        return out


def _read(fh: Any, offset: int, column: str, sep: str, j: int) -> str:
    """The text of the record at ``offset``: the JSON field ``column``, or CSV cell ``j``."""
    fh.seek(offset)
    if not sep:
        return _as_text(json.loads(fh.readline().decode("utf-8-sig" if offset == 0 else "utf-8")).get(column))
    cells = next(csv.reader((line.decode("utf-8") for line in iter(fh.readline, b"")), delimiter=sep), [])
    return cells[j] if j < len(cells) else ""


__all__ = ["LAZY_SUFFIXES", "LAZY_TEXT_BYTES", "LazyTexts", "header", "index_text_file"]
