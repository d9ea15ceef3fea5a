"""The one dataset type every loader returns.

A :class:`TransferDataset` holds raw examples of one modality with integer labels, the
class names, and where it came from (name, domain, split). Items are *raw*: a backbone's
``collate`` turns a list of them into model inputs, so the same dataset feeds any
backbone and the feature cache can key on the raw content.

Raw item types by modality:

- ``image``: ``numpy.ndarray`` uint8, ``(H, W)`` grey or ``(H, W, C)`` RGB. ``x`` is
  one array ``(N, H, W[, C])``, a list of file paths decoded on access, or (image
  folders) a :class:`~transferkit.data.lazy.LazyImages` of checked files decoded on access.
- ``text``: ``str``; ``x`` is a list of strings, or (large files) a
  :class:`~transferkit.data.lazy_text.LazyTexts` read from the file on access.
- ``table``: ``numpy.ndarray`` of one row's values (object dtype when categorical);
  ``x`` is a ``pandas.DataFrame`` of feature columns and ``schema`` describes them.
- ``sequence``: ``numpy.ndarray`` float32 ``(T, C)``; ``x`` is ``(N, T, C)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.data.decode import read_image
from transferkit.data.lazy import LazyImages
from transferkit.data.lazy_text import LazyTexts
from transferkit.errors import DataError

MODALITIES = ("image", "text", "table", "sequence")
UNLABELLED = -1
TABLE_HASH_ROWS = 20_000  # rows of a table hashed at a time


def _column_arrays(column: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``(values, None)`` for a column NumPy holds as it is (numbers, objects: no copy), or
    ``(distinct values + [NaN], int32 codes)`` for a pandas string or categorical column,
    whose ``to_numpy()`` would make a Python str per cell (a missing cell: code -1 -> NaN)."""
    if isinstance(column.dtype, np.dtype):
        return column.to_numpy(), None
    import pandas as pd

    codes, uniques = pd.factorize(column)
    return np.append(np.asarray(uniques, dtype=object), np.nan), codes.astype(np.int32)


@dataclass
class TransferDataset:
    """Raw examples, integer labels (``-1`` = unlabelled) and provenance.

    A dataset of numeric targets (regression) has no classes: ``classes == []`` and ``y``
    holds the float64 values (see :func:`transferkit.data.targets.as_values`). A dataset of
    label sets (multi-label) holds a multi-hot ``(N, L)`` uint8 matrix in ``y`` and the
    label names in ``classes`` (see :mod:`transferkit.data.targets`). A dataset of masks
    (segmentation) holds int16 ``(N, H, W)`` class positions in ``y`` (see
    :mod:`transferkit.data.masks`). A dataset of boxes (detection, ``meta["boxes"]``) holds
    float32 ``(N, M, 5)`` rows ``[class, x1, y1, x2, y2]`` padded with class -1 (see
    :mod:`transferkit.data.boxes`).
    """

    name: str
    modality: str
    x: Any
    y: np.ndarray
    classes: list[str]
    domain: str = "target"
    split: str = "all"
    schema: Any = None
    ids: list[str] | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise DataError(f"Unknown modality '{self.modality}'. Available: {', '.join(MODALITIES)}.")
        y = np.asarray(self.y)
        values = not self.classes and y.dtype.kind == "f"
        if self.boxes:  # [class, x1, y1, x2, y2] rows per image, padded with class -1 (data/boxes.py)
            self.y = y.astype(np.float32).reshape(len(y), -1, 5) if y.size else np.zeros((len(y), 1, 5), np.float32)
        elif self.per_token:  # tag codes per word (N, W), padded with -100 (data/tags.py)
            self.y = y.astype(np.int64) if y.ndim == 2 else y.astype(np.int64).reshape(len(y), -1)  # (0, W) too
        elif y.ndim == 2 and values:  # several numbers per example (forecasting windows)
            self.y = y.astype(np.float64)
        elif y.ndim == 2:  # label sets: one 0/1 column per label
            if y.shape[1] != len(self.classes):
                raise DataError(f"Dataset '{self.name}' has {y.shape[1]} label columns but "
                                f"{len(self.classes)} label names.")
            self.y = y.astype(np.uint8)
        elif y.ndim == 3:  # masks: one class position per pixel
            self.y = y.astype(np.int16)
        else:
            self.y = y.astype(np.float64 if values else np.int64)
        if len(self.y) != len(self.x):
            raise DataError(f"Dataset '{self.name}' has {len(self.x)} inputs but {len(self.y)} labels.")
        self._hash: str | None = None

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.y)

    def input(self, i: int) -> Any:
        """The raw input of example ``i`` (decoded from disk for image paths)."""
        if self.modality == "table":  # the row a batch read (inputs) gives
            return self.inputs([int(i)])[0]
        item = self.x[int(i)]
        if self.modality == "image" and isinstance(item, (str, Path)):
            return read_image(item)
        return item

    def inputs(self, indices: Sequence[int] | np.ndarray, pool: Executor | None = None) -> list[Any]:
        """The raw inputs at ``indices``, in order, as :meth:`input` gives them: image files
        decoded on ``pool``'s threads, rows of a numeric table read in one slice."""
        if isinstance(self.x, (LazyImages, LazyTexts)):
            return self.x.read_many(indices, pool)
        if self.modality == "table":  # the rows iloc[indices].to_numpy() gives
            return self._table_rows(np.asarray(indices, dtype=np.int64))
        return [self.input(int(i)) for i in indices]

    def _table_rows(self, idx: np.ndarray) -> list[np.ndarray]:
        """A table's rows at ``idx`` as ``x.iloc[idx].to_numpy()`` gives them (the common
        dtype; an object row of Python scalars, NaN where missing, when the frame is mixed),
        gathered from arrays per column kept after the first read: a pandas take over every
        block per batch cost ~6 ms, most of a tabular MLP's step. A text column is kept as
        int32 codes into its distinct values, not a Python str per cell."""
        if all(isinstance(t, np.dtype) and t.kind in "iuf" for t in self.x.dtypes):  # one block
            return list(self.x.iloc[idx].to_numpy())
        columns = self.__dict__.get("_columns")
        if columns is None:
            columns = self._columns = [_column_arrays(self.x.iloc[:, j]) for j in range(self.x.shape[1])]
        out = np.empty((len(idx), len(columns)), dtype=object)
        for j, (values, codes) in enumerate(columns):
            out[:, j] = values[idx] if codes is None else values[codes[idx]]
        return list(out)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.input(i), self._target(int(i))

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, Any]]:
        """The examples at ``indices`` (what a DataLoader asks for a batch): the inputs read
        together (:meth:`inputs`: a file's texts in one pass, a numeric table in one slice)."""
        return [(x, self._target(int(i))) for x, i in zip(self.inputs(indices), indices, strict=True)]

    def _target(self, i: int) -> Any:
        target = self.y[i]
        if self.per_token or self.dense or self.boxes:  # tags per word, a mask, or boxes
            return target
        return target.astype(np.float32) if self.y.ndim == 2 else target.item()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_values(self) -> bool:
        """True when the targets are numbers (regression), not class codes."""
        return self.y.dtype.kind == "f" and not self.boxes

    @property
    def multi_label(self) -> bool:
        """True when the targets are label sets (a multi-hot ``(N, L)`` matrix)."""
        return self.y.ndim == 2 and self.y.dtype.kind != "f" and not self.per_token

    @property
    def per_token(self) -> bool:
        """True when the targets are tags per word (token classification: int64 ``(N, W)``
        codes padded with -100, inputs are lists of words; see :mod:`transferkit.data.conll`)."""
        return bool(self.meta.get("per_token"))

    @property
    def dense(self) -> bool:
        """True when the targets are masks (a class per pixel, ``(N, H, W)``)."""
        return self.y.ndim == 3 and not self.boxes

    @property
    def boxes(self) -> bool:
        """True when the targets are boxes (detection: ``(N, M, 5)`` rows per image)."""
        return bool(self.meta.get("boxes"))

    @property
    def labelled(self) -> bool:
        if self.boxes:  # an image without boxes is labelled: it has no objects
            return bool(len(self.y))
        if self.has_values:
            return bool(len(self.y)) and bool(np.isfinite(self.y).all())
        if self.per_token:  # every sentence has a tag on its first word
            return bool(len(self.y)) and bool((self.y[:, 0] >= 0).all())
        return bool(len(self.y)) and bool((self.y >= 0).all())

    def subset(self, indices: Sequence[int] | np.ndarray, split: str | None = None) -> TransferDataset:
        """A new dataset with the examples at ``indices`` (input data is never copied on disk)."""
        idx = np.asarray(indices, dtype=np.int64)
        if self.modality == "table":
            x = self.x.iloc[idx].reset_index(drop=True)
        elif isinstance(self.x, (np.ndarray, LazyImages, LazyTexts)):
            x = self.x[idx] if isinstance(self.x, np.ndarray) else self.x.take(idx)
        else:
            x = [self.x[i] for i in idx]
        ids = [self.ids[i] for i in idx] if self.ids is not None else None
        return replace(self, x=x, y=self.y[idx], ids=ids, split=split or self.split,
                       skipped=list(self.skipped), meta=dict(self.meta))

    def without_labels(self) -> TransferDataset:
        """The same inputs with every label set to unlabelled (for adaptation targets); tags
        per word keep their word axis: unlabelled at each word, padding where none is."""
        if self.per_token:
            from transferkit.data.tags import IGNORE

            y = np.where(np.asarray(self.y) != IGNORE, UNLABELLED, IGNORE).astype(np.int64)
            return replace(self, y=y, skipped=list(self.skipped), meta=dict(self.meta))
        return replace(self, y=np.full(len(self), UNLABELLED, dtype=np.int64),
                       skipped=list(self.skipped), meta=dict(self.meta))

    # ------------------------------------------------------------------ hashing
    def item_hash(self, i: int) -> str:
        """Content hash of example ``i``'s input (for leakage checks and cache keys)."""
        if isinstance(self.x, LazyImages):  # the digest of its pixels, taken when it was checked
            return self.x.digests[int(i)]
        if isinstance(self.x, LazyTexts):  # the digest of its text, taken when the file was indexed
            return self.x.digest(i)
        return item_digest(self._raw_for_hash(i))

    def _raw_for_hash(self, i: int) -> Any:
        if self.modality == "image" and not isinstance(self.x, np.ndarray):
            item = self.x[int(i)]
            if isinstance(item, (str, Path)):
                return Path(item).read_bytes()
            return item
        if self.modality == "table":
            return self.x.iloc[int(i)].to_numpy()
        return self.x[int(i)]

    def csv_content_hash(self) -> str:
        """A table's content hash as runs recorded it before the row hashes of
        :meth:`content_hash` (the CSV text, a block of rows at a time): what their recorded
        split fingerprints are checked against when the current one differs."""
        h = hashlib.sha256(f"{self.modality}:{len(self)}".encode())
        h.update(",".join(map(str, self.x.columns)).encode())
        for start in range(0, max(len(self.x), 1), TABLE_HASH_ROWS):
            block = self.x.iloc[start:start + TABLE_HASH_ROWS]
            h.update(block.to_csv(index=False, header=start == 0).encode())
        return h.hexdigest()

    def content_hash(self) -> str:
        """Hash of all inputs in order (labels excluded): the feature cache's data key."""
        if self._hash is None:
            h = hashlib.sha256(f"{self.modality}:{len(self)}".encode())
            if isinstance(self.x, np.ndarray):
                h.update(str(self.x.shape).encode() + str(self.x.dtype).encode())
                h.update(np.ascontiguousarray(self.x).tobytes())
            elif self.modality == "table":
                h.update(("v2:" + ",".join(f"{c}:{t}" for c, t in self.x.dtypes.items())).encode())
                # pandas' vectorised 64-bit hash of each row (every cell's value), a block of
                # rows at a time: the CSV text hashed before took ~90 s per million rows
                import pandas as pd

                for start in range(0, len(self.x), TABLE_HASH_ROWS):
                    block = self.x.iloc[start:start + TABLE_HASH_ROWS]
                    h.update(pd.util.hash_pandas_object(block, index=False).to_numpy().tobytes())
            else:
                for i in range(len(self)):
                    h.update(self.item_hash(i).encode())
            self._hash = h.hexdigest()
        return self._hash

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (what summary.json records)."""
        if self.boxes:  # boxes per class
            classes = self.y[..., 0].ravel()
            counts = np.bincount(classes[classes >= 0].astype(np.int64), minlength=self.num_classes)
        elif self.per_token:  # tags over all words
            counts = np.bincount(self.y[self.y >= 0], minlength=self.num_classes)
        elif self.multi_label:
            counts = self.y.sum(axis=0)  # positives per label
        else:
            counts = np.bincount(self.y[self.y >= 0], minlength=self.num_classes) \
                if len(self) and not self.has_values else []
        return {
            "name": self.name,
            "modality": self.modality,
            "domain": self.domain,
            "split": self.split,
            "n": len(self),
            "classes": list(self.classes),
            "class_counts": [int(c) for c in counts],
            "skipped": list(self.skipped),
        }


def item_digest(item: Any) -> str:
    """SHA-1 of one raw input: bytes and strings as they are, arrays with their shape and dtype."""
    h = hashlib.sha1()
    if isinstance(item, bytes):
        h.update(item)
    elif isinstance(item, str):
        h.update(item.encode("utf-8", "surrogatepass"))
    elif isinstance(item, np.ndarray) and item.dtype != object:
        h.update(str(item.shape).encode() + str(item.dtype).encode())
        h.update(np.ascontiguousarray(item).tobytes())
    else:
        h.update(repr(np.asarray(item, dtype=object).tolist()).encode())
    return h.hexdigest()
