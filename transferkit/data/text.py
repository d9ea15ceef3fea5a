"""Text datasets from CSV/TSV/JSONL/Parquet: one text column, one label column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from transferkit.data.dataset import TransferDataset
from transferkit.data.tables import pick_column, read_frame, read_labels, warn_once
from transferkit.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "review", "content")


def load_text(path: str | Path, text_column: str | None = None,
              label_column: str | None = None, label_separator: str | None = None,
              label_columns: Sequence[str] | None = None) -> TransferDataset:
    """Texts and labels from a file; non-UTF-8 bytes raise DataError naming the line.

    Empty texts are kept (a backbone encodes them) but produce a warning with their rows.
    """
    path = Path(path)
    ds = text_from_frame(read_frame(path, as_text=True), path.stem, f"'{path}'", text_column,
                         label_column, label_separator, label_columns)
    ds.meta["source"] = str(path)
    return ds


def text_from_frame(frame: pd.DataFrame, name: str, where: str, text_column: str | None = None,
                    label_column: str | None = None, label_separator: str | None = None,
                    label_columns: Sequence[str] | None = None) -> TransferDataset:
    """Texts and labels of a frame read as text (every cell a string, empty cells empty)."""
    text = pick_column(frame, text_column, TEXT_COLUMNS, "text", "--text-column (text_column)", where)
    y, classes, used = read_labels(frame, label_column, where, label_separator, label_columns)
    label = used[0] if len(used) == 1 else None
    if text in used:
        raise DataError(f"The text column and the label column of {where} are both '{text}'; "
                        "pass different --text-column and --label-column.")
    texts = []
    for value in frame[text].tolist():
        if value is None or (isinstance(value, float) and value != value):
            value = ""
        elif not isinstance(value, str):
            value = str(value)
        texts.append(value)
    ds = TransferDataset(name=name, modality="text", x=texts, y=y, classes=classes,
                         ids=[f"{name}[{i}]" for i in range(len(texts))],
                         meta={"kind": "text", "text_column": text,
                               "label_column": label})
    if label_columns:
        ds.meta["label_columns"] = list(used)
    if label_separator is not None:
        ds.meta["label_separator"] = label_separator
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        warn_once(ds, f"{len(empty)} empty text(s) in {where}, column '{text}' (rows {empty[:5]}"
                  f"{' ...' if len(empty) > 5 else ''}); they are kept as empty strings.")
    return ds
