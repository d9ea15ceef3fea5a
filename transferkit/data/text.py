"""Text datasets from CSV/TSV/JSONL/Parquet: one text column, one label column."""

from __future__ import annotations

from pathlib import Path

from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels
from transferkit.data.tables import LABEL_COLUMNS, pick_column, read_frame, warn_once
from transferkit.errors import DataError

TEXT_COLUMNS = ("text", "sentence", "review", "content")


def load_text(path: str | Path, text_column: str | None = None,
              label_column: str | None = None) -> TransferDataset:
    """Texts and labels from a file; non-UTF-8 bytes raise DataError naming the line.

    Empty texts are kept (a backbone encodes them) but produce a warning with their rows.
    """
    path = Path(path)
    where = f"'{path}'"
    frame = read_frame(path, as_text=True)
    text = pick_column(frame, text_column, TEXT_COLUMNS, "text", "--text-column (text_column)", where)
    label = pick_column(frame, label_column, LABEL_COLUMNS, "label", "--label-column (label_column)", where)
    if text == label:
        raise DataError(f"The text column and the label column of {where} are both '{text}'; "
                        "pass different --text-column and --label-column.")
    texts = []
    for value in frame[text].tolist():
        if value is None or (isinstance(value, float) and value != value):
            value = ""
        elif not isinstance(value, str):
            value = str(value)
        texts.append(value)
    y, classes = encode_labels(frame[label].tolist(), f"{where} (label column '{label}')")
    ds = TransferDataset(name=path.stem, modality="text", x=texts, y=y, classes=classes,
                         ids=[f"{path.stem}[{i}]" for i in range(len(texts))],
                         meta={"source": str(path), "kind": "text", "text_column": text,
                               "label_column": label})
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        warn_once(ds, f"{len(empty)} empty text(s) in {where}, column '{text}' (rows {empty[:5]}"
                  f"{' ...' if len(empty) > 5 else ''}); they are kept as empty strings.")
    return ds
