"""Image files indexed, not loaded: :class:`LazyImages` decodes an item when it is read.

An image folder's dataset holds the paths of its (already checked) files and, per file,
the digest of its decoded pixels; nothing else stays in memory. Indexing, slicing,
``len()`` and iteration work as on the list of arrays that used to be there, and
:meth:`LazyImages.read_many` decodes a batch on a thread pool (Pillow and zlib release
the GIL while they decode).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from typing import Any, overload

import numpy as np

from transferkit.data.decode import DEFAULT_MAX_PIXELS, read_image


class LazyImages(Sequence[np.ndarray]):
    """Image files decoded on access (``uint8`` arrays, as :func:`read_image` returns them).

    ``digests[i]`` is the content digest of file ``i``'s decoded pixels (what
    :meth:`TransferDataset.item_hash` returns for it), computed when the file was checked,
    so hashing a dataset reads no file.

    >>> imgs = LazyImages(["a/1.png", "b/2.png"], ["d1", "d2"])  # doctest: +SKIP
    >>> imgs[0].shape, len(imgs[1:])  # doctest: +SKIP
    ((64, 64, 3), 1)
    """

    def __init__(self, paths: Sequence[str], digests: Sequence[str],
                 max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        if len(paths) != len(digests):
            raise ValueError(f"LazyImages got {len(paths)} paths but {len(digests)} digests.")
        self.paths = [str(p) for p in paths]
        self.digests = list(digests)
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, i: slice) -> LazyImages: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return self.take(range(len(self))[i])
        return read_image(self.paths[i], self.max_pixels)

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield read_image(path, self.max_pixels)

    def __add__(self, other: LazyImages) -> LazyImages:
        if not isinstance(other, LazyImages):
            return NotImplemented
        limits = [m for m in (self.max_pixels, other.max_pixels) if m is not None]
        return LazyImages(self.paths + other.paths, self.digests + other.digests,
                          max(limits) if len(limits) == 2 else None)

    def __repr__(self) -> str:
        return f"LazyImages({len(self)} files)"

    def take(self, indices: Sequence[int] | np.ndarray) -> LazyImages:
        """The files at ``indices`` (nothing is read)."""
        return LazyImages([self.paths[int(i)] for i in indices], [self.digests[int(i)] for i in indices],
                          self.max_pixels)

    def read_many(self, indices: Sequence[int] | np.ndarray, pool: Executor | None = None) -> list[np.ndarray]:
        """The decoded images at ``indices``, in order; on ``pool``'s threads when given."""
        paths = [self.paths[int(i)] for i in indices]
        if pool is None or len(paths) < 2:
            return [read_image(p, self.max_pixels) for p in paths]
        return list(pool.map(read_image, paths, [self.max_pixels] * len(paths)))


__all__ = ["LazyImages"]
