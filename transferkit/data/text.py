"""Text datasets from CSV/TSV/JSONL/Parquet: one text column, one label column.

A CSV/TSV/JSONL file of at least :data:`~transferkit.data.lazy_text.LAZY_TEXT_BYTES` is
indexed, not loaded (:mod:`transferkit.data.lazy_text`): it is read once as a stream and
checked line by line, and its texts are read again when a batch needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from transferkit.data import lazy_text
from transferkit.data.dataset import TransferDataset
from transferkit.data.tables import pick_column, read_frame, read_labels, warn_once
from transferkit.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "review", "content")


def is_lazy_text_file(path: str | Path) -> bool:
    """Whether ``path`` is a CSV/TSV/JSONL file large enough to be indexed, not loaded."""
    path = Path(path)
    return (path.suffix.lower() in lazy_text.LAZY_SUFFIXES and path.is_file()
            and path.stat().st_size >= lazy_text.LAZY_TEXT_BYTES)


def large_text_file(path: str | Path) -> bool:
    """Whether ``path`` is a file to index (:func:`is_lazy_text_file`) with a column named
    ``text``: only its header is read to tell."""
    return is_lazy_text_file(path) and "text" in lazy_text.header(Path(path))


def load_text(path: str | Path, text_column: str | None = None,
              label_column: str | None = None, label_separator: str | None = None,
              label_columns: Sequence[str] | None = None) -> TransferDataset:
    """Texts and labels from a file; non-UTF-8 bytes raise DataError naming the line.

    Empty texts are kept (a backbone encodes them) but produce a warning with their rows.
    A large CSV/TSV/JSONL file is indexed (see the module docstring), with the same checks.
    """
    path = Path(path)
    if is_lazy_text_file(path):
        ds = _indexed_text(path, text_column, label_column, label_separator, label_columns)
    else:
        ds = text_from_frame(read_frame(path, as_text=True), path.stem, f"'{path}'", text_column,
                             label_column, label_separator, label_columns)
    ds.meta["source"] = str(path)
    return ds


def _indexed_text(path: Path, text_column: str | None, label_column: str | None,
                  label_separator: str | None, label_columns: Sequence[str] | None) -> TransferDataset:
    where = f"'{path}'"

    def pick(columns: list[str]) -> str:
        text = pick_column(pd.DataFrame(columns=columns), text_column, TEXT_COLUMNS, "text",
                           "--text-column (text_column)", where)
        if text == label_column or text in (label_columns or ()):
            raise DataError(f"The text column and the label column of {where} are both '{text}'; "
                            "pass different --text-column and --label-column.")
        return text

    frame, texts, blank = lazy_text.index_text_file(path, pick)
    y, classes, used = read_labels(frame, label_column, where, label_separator, label_columns)
    return _text_dataset(path.stem, where, texts, blank, y, classes, used, texts.sources[0][1],
                         label_separator, label_columns)


def text_from_frame(frame: pd.DataFrame, name: str, where: str, text_column: str | None = None,
                    label_column: str | None = None, label_separator: str | None = None,
                    label_columns: Sequence[str] | None = None) -> TransferDataset:
    """Texts and labels of a frame read as text (every cell a string, empty cells empty)."""
    text = pick_column(frame, text_column, TEXT_COLUMNS, "text", "--text-column (text_column)", where)
    y, classes, used = read_labels(frame, label_column, where, label_separator, label_columns)
    if text in used:
        raise DataError(f"The text column and the label column of {where} are both '{text}'; "
                        "pass different --text-column and --label-column.")
    texts = [lazy_text._as_text(value) for value in frame[text].tolist()]
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    return _text_dataset(name, where, texts, blank, y, classes, used, text, label_separator, label_columns)


def _text_dataset(name: str, where: str, texts: Any, blank: list[int], y: Any, classes: list[str],
                  used: Sequence[str], text: str, label_separator: str | None,
                  label_columns: Sequence[str] | None) -> TransferDataset:
    ds = TransferDataset(name=name, modality="text", x=texts, y=y, classes=classes,
                         ids=[f"{name}[{i}]" for i in range(len(texts))],
                         meta={"kind": "text", "text_column": text,
                               "label_column": used[0] if len(used) == 1 else None})
    if label_columns:
        ds.meta["label_columns"] = list(used)
    if label_separator is not None:
        ds.meta["label_separator"] = label_separator
    if blank:
        warn_once(ds, f"{len(blank)} empty text(s) in {where}, column '{text}' (rows {blank[:5]}"
                  f"{' ...' if len(blank) > 5 else ''}); they are kept as empty strings.")
    return ds
