"""Data in the Python objects users hold it in -> (pool, official test part or None).

Accepted (:data:`ACCEPTED`):

- a pandas ``DataFrame``: a table, or texts when it has a ``text`` column (or
  ``text_column`` is given) -- read exactly as the same frame written to CSV would be;
- a tuple ``(X, y)`` of arrays: uint8 ``(N, H, W[, C])`` images, ``(N, T, C)`` series or
  ``(N, D)`` a numeric table with columns ``x0 .. x{D-1}`` (as an ``.npz`` file);
- a ``torch.utils.data.Dataset`` of ``(input, label)`` pairs: image tensors ``(C, H, W)``
  (float in [0, 1] or uint8) or 1-D feature vectors; materialised once;
- a Hugging Face ``datasets.Dataset`` or ``DatasetDict`` (duck-typed: ``column_names`` and
  ``to_pandas()``): an ``image`` column of PIL images -> images, a ``text`` column -> texts,
  otherwise a table; a ``DatasetDict``'s ``train`` split is the pool and its ``test`` split
  the official test part;
- a Hugging Face ``datasets.IterableDataset`` (streaming): read once, batch by batch, to its
  end -- its declared length; bound it with ``.take(n)`` -- into a ``Dataset`` held in memory,
  then as above (it is not re-streamed per epoch);
- a :class:`TransferDataset`.

A configuration never holds the object: :func:`reference` registers it in this process
and returns a description with a content fingerprint, ``"<DataFrame 300x4
sha256:0123456789abcdef>"``, which is what ``config.yaml`` records and what the loaders
resolve (:func:`held`). The feature cache keys on the loaded data's content, as for files.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from transferkit.data.dataset import TransferDataset
from transferkit.errors import ConfigError, DataError

ACCEPTED = ("a built-in dataset name or a path, a pandas DataFrame, a tuple (X, y) of numpy "
            "arrays, a torch.utils.data.Dataset of (input, label) pairs, a Hugging Face "
            "datasets.Dataset, DatasetDict or IterableDataset, or a TransferDataset")
#: objects held for the references of this process (the most recent ones)
MAX_HELD = 8
_HELD: OrderedDict[str, Any] = OrderedDict()
_REFERENCE = re.compile(r"^<[^<>]+ sha256:[0-9a-f]{16}>$")


# --------------------------------------------------------------------------- references


def is_reference(value: Any) -> bool:
    """Whether ``value`` is the description of an in-memory object (:func:`reference`)."""
    return isinstance(value, str) and bool(_REFERENCE.match(value))


def reference(obj: Any) -> str:
    """Register ``obj`` (an accepted data object) and return its description + fingerprint.

    >>> reference(pd.DataFrame({"a": [1, 2], "label": ["x", "y"]}))  # doctest: +ELLIPSIS
    '<DataFrame 2x2 sha256:...>'
    """
    obj = _canonical(obj)
    h = hashlib.sha256()
    kind = _fingerprint(obj, h)
    ref = f"<{kind} sha256:{h.hexdigest()[:16]}>"
    _HELD[ref] = obj
    _HELD.move_to_end(ref)
    while len(_HELD) > MAX_HELD:
        _HELD.popitem(last=False)
    return ref


def held(ref: str) -> Any:
    """The object registered under ``ref``; DataError asking for the data when this process
    does not hold it (e.g. ``transferkit evaluate RUN`` of a run fitted on a DataFrame)."""
    if ref not in _HELD:
        raise DataError(f"The data {ref} was an object in the memory of the Python process that "
                        "used it; this process does not hold it, so it cannot be read again. Pass "
                        "the data explicitly: data=<the same object> in Python (the same content "
                        "rebuilds the run's own splits), or --data with a file holding it.")
    _HELD.move_to_end(ref)
    return _HELD[ref]


def forget() -> None:
    """Drop every held object (their references then ask for the data again)."""
    _HELD.clear()


def _is_hf(obj: Any) -> bool:
    return hasattr(obj, "to_pandas") and hasattr(obj, "column_names")


def _is_hf_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(_is_hf(v) for v in obj.values())


def _is_hf_stream(obj: Any) -> bool:
    datasets = sys.modules.get("datasets")  # an object cannot be one unless datasets is loaded
    return datasets is not None and isinstance(obj, datasets.IterableDataset)


#: examples taken from a streaming dataset at a time
STREAM_BATCH = 1000


def _read_stream(stream: Any) -> Any:
    """A Hugging Face ``IterableDataset`` read to its end, batch by batch, as a ``Dataset``."""
    import datasets

    columns: dict[str, list[Any]] = {}
    for batch in stream.iter(batch_size=STREAM_BATCH):
        for key, values in batch.items():
            columns.setdefault(key, []).extend(values)
    if not columns or not any(columns.values()):
        raise DataError("The IterableDataset given as data yielded no examples; pass one that does "
                        "(e.g. without a .take(0) or a filter that drops every row).")
    return datasets.Dataset.from_dict(columns, features=stream.features)


def _is_torch_dataset(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # an object cannot be a torch Dataset unless torch is loaded
    return torch is not None and isinstance(obj, torch.utils.data.Dataset)


def _canonical(obj: Any) -> Any:
    """``obj`` in the form it is held in; ConfigError naming the accepted kinds otherwise."""
    if _is_hf_stream(obj):  # before the duck-typed Dataset: a stream has column_names too
        return _read_stream(obj)
    if isinstance(obj, (pd.DataFrame, TransferDataset)) or _is_hf(obj) or _is_hf_dict(obj):
        return obj
    if isinstance(obj, tuple) and len(obj) == 2:
        from transferkit.data.arrays import as_array

        x, y = (as_array(obj[0], "the data tuple (X, y)"), np.asarray(obj[1]))
        if x.dtype == object or x.ndim < 2:
            raise ConfigError(f"The X of a data tuple (X, y) must be a numeric array of shape "
                              f"(N, ...). Got {'an object array' if x.dtype == object else x.shape}.")
        return (x, y)
    if _is_torch_dataset(obj):
        return _materialise_torch(obj)
    shown = type(obj).__name__
    raise ConfigError(f"The 'data' parameter must be {ACCEPTED}. Got a {shown} instead.")


def _fingerprint(obj: Any, h: Any) -> str:
    """Feed ``obj``'s content to ``h``; return the description of ``obj``."""
    if isinstance(obj, pd.DataFrame):
        _hash_frame(obj, h)
        return f"DataFrame {obj.shape[0]}x{obj.shape[1]}"
    if isinstance(obj, TransferDataset):
        h.update(obj.content_hash().encode())
        h.update(np.ascontiguousarray(obj.y).tobytes())
        return f"TransferDataset {obj.modality} {len(obj)}"
    if isinstance(obj, tuple):
        for a in obj:
            _hash_array(a, h)
        return f"arrays {'x'.join(map(str, obj[0].shape))} {obj[0].dtype}"
    if _is_hf_dict(obj):
        parts = []
        for key in sorted(obj):
            h.update(str(key).encode())
            _hash_frame(obj[key].to_pandas(), h)
            parts.append(f"{key} {len(obj[key])}")
        return f"DatasetDict {', '.join(parts)}"
    _hash_frame(obj.to_pandas(), h)
    return f"Dataset {len(obj)} rows"


def _hash_array(a: np.ndarray, h: Any) -> None:
    h.update(f"{a.shape}{a.dtype}".encode())
    if a.dtype.kind in "OUS":
        h.update(repr(a.tolist()).encode())
    else:
        h.update(np.ascontiguousarray(a).tobytes())


def _hash_frame(frame: pd.DataFrame, h: Any) -> None:
    for name in frame.columns:
        col = frame[name]
        h.update(f"{name}:{col.dtype}".encode())
        try:
            h.update(pd.util.hash_pandas_object(col, index=False).to_numpy().tobytes())
        except TypeError:  # unhashable cells (images as dicts of bytes, arrays, lists)
            for v in col.tolist():
                h.update(_cell_bytes(v))


def _cell_bytes(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, np.ndarray):
        return f"{v.shape}{v.dtype}".encode() + np.ascontiguousarray(v).tobytes()
    if hasattr(v, "mode") and hasattr(v, "tobytes"):  # a PIL image
        return f"{v.mode}{v.size}".encode() + v.tobytes()
    if isinstance(v, Mapping):
        return b"".join(str(k).encode() + _cell_bytes(v[k]) for k in sorted(v, key=str))
    return repr(v).encode()


# --------------------------------------------------------------------------- loading


def load_object(obj: Any, name: str, text_column: str | None = None, label_column: str | None = None,
                label_separator: str | None = None, label_columns: Sequence[str] | None = None
                ) -> tuple[TransferDataset, TransferDataset | None]:
    """(pool, official test part or None) of an accepted object (see the module doc);
    ``name`` names the datasets (a reference, as config.yaml records it)."""
    obj = _canonical(obj)
    columns = label_separator is not None or bool(label_columns) or text_column is not None
    if isinstance(obj, pd.DataFrame):
        return from_frame(obj, name, text_column, label_column, label_separator, label_columns), None
    if _is_hf_dict(obj) or _is_hf(obj):
        return _from_hf(obj, name, text_column, label_column, label_separator, label_columns)
    if columns or label_column is not None:
        raise ConfigError(f"text_column, label_column, label_separator and label_columns name columns "
                          f"of a table; the data {name} has none. Leave them unset.")
    if isinstance(obj, TransferDataset):
        return obj, None
    from transferkit.data.arrays import from_arrays

    ds = from_arrays(obj[0], obj[1], name=name, where=f"the data {name}")
    ds.meta["source"] = name
    return ds, None


def from_frame(frame: pd.DataFrame, name: str, text_column: str | None = None,
               label_column: str | None = None, label_separator: str | None = None,
               label_columns: Sequence[str] | None = None, schema: Any = None) -> TransferDataset:
    """A DataFrame as a CSV of it is read: texts when ``text_column`` is given or a column
    named ``text`` exists (every cell read as a string), else a table. The frame is not modified."""
    from transferkit.data.tables import table_from_frame
    from transferkit.data.text import text_from_frame

    where = f"the DataFrame {name}"
    names = [str(c) for c in frame.columns]
    dup = next((c for i, c in enumerate(names) if c in names[:i]), None)
    if dup is not None:
        raise DataError(f"Two columns of {where} are both named {dup!r}; a column name must be "
                        "unique. Rename one of them.")
    frame = frame.rename(columns=str).reset_index(drop=True)  # a new frame; CSV has no index
    if text_column is not None or "text" in names:
        as_text = pd.DataFrame({c: [_cell_text(v) for v in frame[c]] for c in frame.columns},
                               columns=frame.columns)
        ds = text_from_frame(as_text, name, where, text_column, label_column, label_separator,
                             label_columns)
    else:
        ds = table_from_frame(frame, name, where, label_column, label_separator, label_columns,
                              schema=schema)
    ds.meta["source"] = name
    return ds


def _cell_text(v: Any) -> str:
    """A cell as a CSV read as text holds it: missing -> '', 3.0 -> '3.0'."""
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return ""
    return str(v)


def _from_hf(obj: Any, name: str, text_column: str | None, label_column: str | None,
             label_separator: str | None, label_columns: Sequence[str] | None
             ) -> tuple[TransferDataset, TransferDataset | None]:
    if _is_hf_dict(obj):
        if "train" not in obj:
            raise DataError(f"The DatasetDict {name} has no 'train' split (splits: {', '.join(obj)}); "
                            "pass the Dataset to train on, e.g. data=dd['<split>'].")
        pool = _hf_one(obj["train"], name, text_column, label_column, label_separator, label_columns)
        test = None
        if "test" in obj:
            test = _hf_one(obj["test"], name, text_column, label_column, label_separator, label_columns,
                           schema=pool.schema)
            if test.classes != pool.classes and not pool.has_values:
                from transferkit.data.loading import _align_classes

                test = _align_classes(test, pool.classes, f"The 'test' split of {name}")
        return pool, test
    return _hf_one(obj, name, text_column, label_column, label_separator, label_columns), None


def _hf_one(d: Any, name: str, text_column: str | None, label_column: str | None,
            label_separator: str | None, label_columns: Sequence[str] | None,
            schema: Any = None) -> TransferDataset:
    """One Hugging Face Dataset: an ``image`` column of PIL images -> images, else its frame."""
    features = getattr(d, "features", None) or {}
    label = label_column or "label"
    names = getattr(features.get(label), "names", None) if isinstance(features, Mapping) else None
    if "image" in d.column_names and text_column is None:
        from transferkit.data.arrays import from_arrays

        if label not in d.column_names:
            raise DataError(f"The Dataset {name} has no label column '{label}'. Columns: "
                            f"{', '.join(d.column_names)}. Pass label_column=.")
        images = []
        for i, img in enumerate(d["image"]):
            if not hasattr(img, "convert"):
                raise DataError(f"Row {i} of the 'image' column of {name} is a {type(img).__name__}, "
                                "not a PIL image.")
            images.append(np.asarray(img.convert("L" if img.mode in ("1", "L", "I;16") else "RGB")))
        if len({a.shape for a in images}) > 1:
            raise DataError(f"The images of {name} differ in size ({images[0].shape} and others); "
                            "resize them to one size first, e.g. with Dataset.map.")
        ds = from_arrays(np.stack(images), np.asarray(d[label]), name=name, classes=names,
                         where=f"the Dataset {name}")
        ds.meta["source"] = name
        return ds
    frame = d.to_pandas()
    if names is not None and label in frame.columns:  # ClassLabel codes -> their names
        frame = frame.assign(**{label: [names[int(c)] for c in frame[label]]})
    return from_frame(frame, name, text_column, label_column, label_separator, label_columns,
                      schema=schema)


def _materialise_torch(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) arrays of a torch Dataset of (input, label) pairs: images (C, H, W) -> uint8
    (H, W[, C]); 1-D vectors -> float rows. Other items are an error naming the index."""
    import torch

    try:
        n = len(ds)
    except TypeError:
        raise ConfigError(f"The torch Dataset {type(ds).__name__} has no len(); pass a map-style "
                          "Dataset of (input, label) pairs.") from None
    xs, ys = [], []
    first: tuple[Any, ...] | None = None
    for i in range(n):
        item = ds[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise DataError(f"Item {i} of the torch Dataset {type(ds).__name__} is a "
                            f"{type(item).__name__}, not an (input, label) pair.")
        x, y = item
        x = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
        y = y.item() if torch.is_tensor(y) or isinstance(y, np.generic) else y
        kind = _item_kind(x)
        if kind is None:
            raise DataError(f"Item {i} of the torch Dataset {type(ds).__name__} has an input of "
                            f"shape {tuple(x.shape)} and dtype {x.dtype}. Accepted: image tensors "
                            "(C, H, W) with C 1 or 3, float in [0, 1] or uint8, and 1-D feature "
                            "vectors.")
        if kind == "image" and x.dtype != np.uint8:
            if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1):
                raise DataError(f"Item {i} of the torch Dataset {type(ds).__name__} is a float image "
                                f"with values in [{float(np.nanmin(x)):.3g}, {float(np.nanmax(x)):.3g}], "
                                "not [0, 1] (normalised already?). Give raw images (ToTensor() "
                                "without Normalize): the backbone applies its own normalisation.")
            x = np.round(x * 255).astype(np.uint8)
        if kind == "image":
            x = x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))  # (H, W[, C])
        else:
            x = x.astype(np.float64)
        if first is None:
            first = (kind, x.shape)
        elif (kind, x.shape) != first:
            raise DataError(f"Item {i} of the torch Dataset {type(ds).__name__} is a {kind} of shape "
                            f"{x.shape}; item 0 is a {first[0]} of shape {first[1]}. Every item "
                            "needs the same kind and shape.")
        xs.append(x)
        ys.append(y)
    if not xs:
        raise DataError(f"The torch Dataset {type(ds).__name__} is empty.")
    return np.stack(xs), np.asarray(ys)


def _item_kind(x: np.ndarray) -> str | None:
    if x.ndim == 1 and x.dtype.kind in "biuf":
        return "table"
    if x.ndim == 3 and x.shape[0] in (1, 3) and (x.dtype == np.uint8 or x.dtype.kind == "f"):
        return "image"
    return None
