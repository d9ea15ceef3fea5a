"""Inputs at prediction time: files, folders, texts and table rows -> raw items.

``predict``, ``serve`` and ``TransferClassifier`` accept what a user has at hand and turn
it into the raw items a backbone's ``collate`` expects (see dataset.py), with the same
checks as training data: an unreadable image names its file, a table is checked against
the schema recorded at training time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _expand_image_paths(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"Folder '{p}' contains no images ({', '.join(IMAGE_SUFFIXES)}).")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"Input '{p}' does not exist.")
    return out


def collect_inputs(inputs: Any, modality: str, meta: dict[str, Any] | None = None
                   ) -> tuple[list[str], list[Any]]:
    """(ids, raw items) for ``inputs`` of the given modality.

    ``meta`` is the ``data`` section of a run's transferkit.json (text column, schema).
    """
    meta = meta or {}
    if modality == "image":
        return _collect_images(inputs)
    if modality == "text":
        return _collect_texts(inputs, meta.get("text_column"))
    if modality == "table":
        return _collect_rows(inputs, meta.get("schema"))
    if modality == "sequence":
        arr = np.asarray(inputs, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        return [str(i) for i in range(len(arr))], list(arr)
    raise DataError(f"Unknown modality '{modality}'.")


def to_raw_items(inputs: Any, modality: str, meta: dict[str, Any] | None = None) -> list[Any]:
    """Raw items only (see :func:`collect_inputs`)."""
    return collect_inputs(inputs, modality, meta)[1]


def _collect_images(inputs: Any) -> tuple[list[str], list[Any]]:
    from transferkit.data.images import read_image

    if isinstance(inputs, np.ndarray) and inputs.dtype != object:
        # one image is (H, W) or (H, W, C); anything else is a batch of them
        single = inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[-1] in (1, 3, 4))
        arr = inputs[None] if single else inputs
        return [str(i) for i in range(len(arr))], [np.asarray(a) for a in arr]
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    ids: list[str] = []
    items: list[Any] = []
    pending: list[Path] = []
    for obj in inputs:
        if isinstance(obj, (str, Path)):
            pending.append(Path(obj))
            continue
        if pending:
            for p in _expand_image_paths(pending):
                ids.append(str(p))
                items.append(read_image(p))
            pending = []
        if isinstance(obj, bytes):
            ids.append(f"bytes[{len(items)}]")
            items.append(read_image(obj))
        elif hasattr(obj, "convert"):  # a PIL image
            ids.append(f"image[{len(items)}]")
            items.append(np.asarray(obj.convert("RGB")))
        else:
            ids.append(f"array[{len(items)}]")
            items.append(np.asarray(obj))
    for p in _expand_image_paths(pending):
        ids.append(str(p))
        items.append(read_image(p))
    return ids, items


def _read_table_file(path: Path, as_text: bool = False) -> Any:
    """The same reader as training data: non-UTF-8 bytes and bad JSON lines name their line."""
    from transferkit.data.tables import read_frame

    return read_frame(path, as_text=as_text)


def _collect_texts(inputs: Any, text_column: str | None) -> tuple[list[str], list[Any]]:
    if isinstance(inputs, str) and not Path(inputs).is_file():
        inputs = [inputs]
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    ids: list[str] = []
    items: list[str] = []
    for obj in inputs:
        p = Path(obj) if isinstance(obj, (str, Path)) and len(str(obj)) < 4096 else None
        if p is not None and p.suffix.lower() in (".csv", ".jsonl", ".ndjson", ".parquet") and p.is_file():
            frame = _read_table_file(p, as_text=True)
            column = text_column if text_column in frame.columns else (
                "text" if "text" in frame.columns else None)
            if column is None:
                raise DataError(f"'{p}' has no text column '{text_column or 'text'}'. "
                                f"Columns: {list(frame.columns)}.")
            for i, value in enumerate(frame[column].tolist()):
                ids.append(f"{p}:{i + 1}")
                items.append("" if value is None or value != value else str(value))
        elif isinstance(obj, str):
            ids.append(str(len(items)))
            items.append(obj)
        else:
            raise DataError(f"A text input must be a string or a CSV/JSONL file; got {type(obj).__name__}.")
    return ids, items


def _collect_rows(inputs: Any, schema: dict[str, Any] | None) -> tuple[list[str], list[Any]]:
    import pandas as pd

    from transferkit.data.schema import TableSchema
    from transferkit.data.tables import check_table

    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, (str, Path)) for i in inputs):
        frame = pd.concat([_read_table_file(Path(p)) for p in inputs], ignore_index=True)
    elif isinstance(inputs, pd.DataFrame):
        frame = inputs
    elif isinstance(inputs, dict):
        frame = pd.DataFrame([inputs])
    else:
        frame = pd.DataFrame(list(inputs))
    if schema is None:
        return [str(i) for i in range(len(frame))], [row for row in frame.to_numpy()]
    table_schema = TableSchema.from_dict(schema)
    checked = check_table(frame, table_schema, "the input table")
    filled = checked.attrs.get("filled") or {}
    if filled:  # the fill values learned at fit time (data.impute=auto), as training did
        import warnings

        counts = ", ".join(f"'{k}' {v}" for k, v in filled.items())
        warnings.warn(f"missing values filled with the values learned at fit time: {counts} "
                      "cell(s).", UserWarning, stacklevel=3)
    return [str(i) for i in range(len(checked))], [row for row in checked.to_numpy(dtype=object)]
