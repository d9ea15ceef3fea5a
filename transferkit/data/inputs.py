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


def expand_image_paths(paths: list[Path]) -> list[Path]:
    """Image files of ``paths`` (files as given, folders searched as fit reads them)."""
    from transferkit.data.decode import is_image_file

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            # as fit reads folders: files only (not folders named *.png), no hidden files (._0.png)
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_image_file(f))
            if not found:
                raise DataError(f"Folder '{p}' contains no images ({', '.join(IMAGE_SUFFIXES)}).")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"Input '{p}' does not exist.")
    return out


def collect_inputs(inputs: Any, modality: str, meta: dict[str, Any] | None = None, *,
                   skip_bad: bool = False, max_pixels: int | None = None) -> tuple[list[str], list[Any]]:
    """(ids, raw items) for ``inputs`` of the given modality.

    ``meta`` is the ``data`` section of a run's transferkit.json (text column, schema).
    Image files that cannot be decoded are an error naming them, or with ``skip_bad``
    left out with a warning; ``max_pixels`` is the largest image decoded (default 100 MP).
    """
    meta = meta or {}
    if inputs is None:
        raise DataError("No inputs to predict on (got None). Pass image files or folders, arrays, "
                        "texts or table rows.")
    if modality == "image":
        return _collect_images(inputs, skip_bad, max_pixels)
    if modality == "text":
        return _collect_texts(inputs, meta.get("text_column"))
    if modality == "table":
        return _collect_rows(inputs, meta.get("schema"))
    if modality == "sequence":  # series files (.ts, .npz, long/wide CSV/Parquet) or arrays
        from transferkit.data.series import collect_series

        return collect_series(inputs)
    raise DataError(f"Unknown modality '{modality}'.")


def to_raw_items(inputs: Any, modality: str, meta: dict[str, Any] | None = None) -> list[Any]:
    """Raw items only (see :func:`collect_inputs`)."""
    return collect_inputs(inputs, modality, meta)[1]


def _check_image_array(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
        raise DataError(f"{where} has shape {arr.shape}; an image is (H, W) grey or (H, W, C) with C in "
                        "1, 3 or 4 channels.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{where} is empty (shape {arr.shape}); an image needs at least one pixel.")
    return arr


def _collect_images(inputs: Any, skip_bad: bool = False,
                    max_pixels: int | None = None) -> tuple[list[str], list[Any]]:
    import warnings

    from transferkit.data.decode import DEFAULT_MAX_PIXELS
    from transferkit.data.images import read_image

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if isinstance(inputs, np.ndarray) and inputs.dtype != object:
        # one image is (H, W) or (H, W, C); (N, H, W[, C]) is a batch of them
        single = inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[-1] in (1, 3, 4))
        if inputs.ndim == 3 and not single and inputs.shape[-1] <= 16 and inputs.shape[-1] < inputs.shape[1]:
            raise DataError(f"An array of shape {inputs.shape} is ambiguous: as one image it has "
                            f"{inputs.shape[-1]} channels (an image has 1, 3 or 4), as a batch it is "
                            f"{inputs.shape[0]} grey images of {inputs.shape[1]}x{inputs.shape[2]} pixels. "
                            "Pass one image as (H, W) or (H, W, 1|3|4), or a batch as a list of images.")
        arr = inputs[None] if single else inputs
        return ([str(i) for i in range(len(arr))],
                [_check_image_array(np.asarray(a), f"Image {i}") for i, a in enumerate(arr)])
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    ids: list[str] = []
    items: list[Any] = []
    pending: list[Path] = []
    skipped: list[str] = []
    fix = "raise the limit: --max-megapixels N"

    def read_files() -> None:
        for p in expand_image_paths(pending):
            try:
                item = read_image(p, limit, fix)
            except DataError as exc:
                if not skip_bad:
                    raise DataError(str(exc).replace("--skip-bad (skip_bad=True)", "--skip-bad")) from None
                skipped.append(str(p))
                continue
            ids.append(str(p))
            items.append(item)
        pending.clear()

    for obj in inputs:
        if isinstance(obj, (str, Path)):
            pending.append(Path(obj))
            continue
        if pending:
            read_files()
        if isinstance(obj, bytes):
            ids.append(f"bytes[{len(items)}]")
            items.append(read_image(obj))
        elif hasattr(obj, "convert"):  # a PIL image
            ids.append(f"image[{len(items)}]")
            items.append(np.asarray(obj.convert("RGB")))
        elif obj is None:
            raise DataError(f"Input {len(items)} is None; pass an image file, array or PIL image.")
        else:
            ids.append(f"array[{len(items)}]")
            items.append(_check_image_array(np.asarray(obj), f"Image {len(items)}"))
    read_files()
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image file(s): {', '.join(skipped[:5])}"
                      + (" ..." if len(skipped) > 5 else ""), UserWarning, stacklevel=3)
    if not items and skipped:
        raise DataError(f"None of the {len(skipped)} image files could be decoded (first: {skipped[0]}).")
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
        elif isinstance(obj, str):  # the text itself names its row (a CSV/JSONL row is file:line)
            ids.append(obj)
            items.append(obj)
        elif isinstance(obj, (list, tuple)) and obj and all(isinstance(w, str) for w in obj):
            ids.append(" ".join(obj))  # a pre-tokenised sentence (token classification)
            items.append(list(obj))
        else:
            raise DataError(f"A text input must be a string, a list of words or a CSV/JSONL file; got "
                            f"{type(obj).__name__}.")
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
