"""NumPy arrays and ``.npz`` files (``x``, ``y``) -> a dataset of the right modality.

- ``x`` uint8 ``(N, H, W)`` or ``(N, H, W, C)`` with C in 1, 3, 4: images.
- ``x`` ``(N, T, C)`` of another dtype: sequences (float32); an optional ``lengths`` array
  ``(N,)`` (the mask of series padded at the end) keeps the first ``lengths[i]`` steps of
  series ``i``.
- ``x`` ``(N, D)``: a numeric table with columns ``x0 .. x{D-1}``.

An optional ``classes`` array names the classes when ``y`` holds integer codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels
from transferkit.errors import DataError, UnsafeFileError


def from_arrays(x: np.ndarray, y: Any, name: str = "arrays", classes: Any = None,
                where: str | None = None, lengths: Any = None) -> TransferDataset:
    """A :class:`TransferDataset` from an input array and its labels (see module doc)."""
    where = where or f"'{name}'"
    x = as_array(x, where)
    y_raw = np.asarray(y)
    if y_raw.ndim != 1:
        raise DataError(f"The labels 'y' of {where} must be one-dimensional (N,). Got shape {y_raw.shape}.")
    if x.ndim < 2:
        raise DataError(f"The inputs 'x' of {where} must have one row per example, shape (N, ...). "
                        f"Got shape {x.shape}.")
    if len(x) != len(y_raw):
        raise DataError(f"{where} holds {len(x)} inputs 'x' but {len(y_raw)} labels 'y'; "
                        "they must have the same length.")
    if x.dtype == object or y_raw.dtype == object:
        raise DataError(f"{where} holds object arrays; store 'x' as a numeric array and 'y' as "
                        "numbers or strings.")
    if classes is not None and np.issubdtype(y_raw.dtype, np.integer):
        names = [str(c) for c in np.asarray(classes).tolist()]
        if len(y_raw) and (y_raw.min() < 0 or y_raw.max() >= len(names)):
            raise DataError(f"The labels of {where} must be codes in [0, {len(names)}) to match its "
                            f"{len(names)} classes. Got values from {y_raw.min()} to {y_raw.max()}.")
        y_codes, class_names = y_raw.astype(np.int64), names
    else:
        y_codes, class_names = encode_labels(y_raw.tolist(), where)
    ids = [f"{name}[{i}]" for i in range(len(x))]
    image_like = x.dtype == np.uint8 and (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3, 4)))
    if image_like:
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        elif x.ndim == 4 and x.shape[-1] == 4:
            x = x[..., :3]  # drop alpha: raw items are grey or RGB
        return TransferDataset(name=name, modality="image", x=np.ascontiguousarray(x), y=y_codes,
                               classes=class_names, ids=ids, meta={"kind": "arrays"})
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise DataError(f"The inputs 'x' of {where} must be numeric. Got dtype {x.dtype}.")
    if x.ndim == 2:
        import pandas as pd

        from transferkit.data.tables import table_dataset

        frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(x.shape[1])])
        ds = table_dataset(frame, y_codes, class_names, name=name, where=where)
        ds.ids = ids
        return ds
    if lengths is not None and x.ndim != 3:
        raise DataError(f"{where} holds 'lengths', which only series (x of shape (N, T, C)) take; "
                        f"its x has shape {x.shape}. Drop 'lengths'.")
    if x.ndim == 3:
        x = x.astype(np.float32)
        if np.isinf(x).any():
            i = int(np.argwhere(np.isinf(x))[0][0])
            raise DataError(f"Example {i} of {where} holds infinite values. Replace them or drop it.")
        if lengths is not None:  # padded series: the mask says where each one ends
            from transferkit.data.series import series_dataset

            cut = check_lengths(lengths, x, where)
            ds = series_dataset([x[i, :n] for i, n in enumerate(cut)], [class_names[c] for c in y_codes],
                                name, where, classes=class_names, meta={"kind": "arrays"})
            return ds
        # NaN = missing: filled after the split (data.impute=auto) or refused (none)
        return TransferDataset(name=name, modality="sequence", x=x, y=y_codes, classes=class_names,
                               ids=ids, meta={"kind": "arrays", "where": where})
    raise DataError(f"Cannot tell the modality of {where}: 'x' has shape {x.shape} and dtype {x.dtype}. "
                    "Use uint8 (N, H, W[, C]) for images, (N, T, C) for sequences or (N, D) for a "
                    "numeric table.")


def as_array(x: Any, where: str) -> np.ndarray:
    """``np.asarray(x)``, with a DataError for ragged input (series of different lengths)."""
    try:
        return np.asarray(x)
    except ValueError:
        raise DataError(f"The inputs 'x' of {where} are ragged (items of different shapes, e.g. series "
                        "of different lengths) and carry no mask. Pad them at the end to (N, T, C) and "
                        "pass their lengths (an .npz with arrays x, y and lengths), or build the dataset "
                        "with transferkit.data.series_dataset(list_of_(T, C)_arrays, labels).") from None


def check_lengths(lengths: Any, x: np.ndarray, where: str) -> np.ndarray:
    cut = np.asarray(lengths)
    if cut.shape != (len(x),) or not np.issubdtype(cut.dtype, np.integer):
        raise DataError(f"'lengths' of {where} must hold one integer per series, shape ({len(x)},). "
                        f"Got shape {cut.shape} and dtype {cut.dtype}.")
    bad = np.flatnonzero((cut < 1) | (cut > x.shape[1]))
    if len(bad):
        raise DataError(f"'lengths' of {where} must be in [1, {x.shape[1]}] (the padded length). Series "
                        f"{int(bad[0])} has length {int(cut[bad[0]])}.")
    return cut


def load_npz(path: str | Path) -> TransferDataset:
    """Load a ``.npz`` file holding ``x`` and ``y`` (and optionally ``classes``)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            missing = [k for k in ("x", "y") if k not in keys]
            if missing:
                raise DataError(f"'{path}' has no array {missing}: an .npz dataset needs arrays named "
                                f"'x' (inputs) and 'y' (labels). Arrays in the file: {keys}.")
            x, y = npz["x"], npz["y"]
            classes = npz["classes"] if "classes" in keys else None
            lengths = npz["lengths"] if "lengths" in keys else None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise UnsafeFileError(f"'{path}' holds object arrays, which can only be read by "
                                  "unpickling (that can run arbitrary code). Save plain numeric or "
                                  "string arrays instead.") from None
        raise DataError(f"Cannot read '{path}' as an .npz file: {exc}") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"Cannot read '{path}' as an .npz file: {exc}") from None
    ds = from_arrays(x, y, name=path.stem, classes=classes, where=f"'{path}'", lengths=lengths)
    ds.meta.update({"source": str(path), "kind": "npz"})
    return ds
