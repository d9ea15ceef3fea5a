"""IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or not.

Format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of
dimensions, one big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES = re.compile(r"^(?P<prefix>.*?)[-_.]?images[-_.]idx\d[-_.]ubyte(?:\.gz)?$", re.IGNORECASE)
TEST_PREFIXES = ("t10k", "test")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file into an array (native byte order). Raises DataError naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"IDX file '{path}' does not exist.") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"Cannot read IDX file '{path}': {exc}. The file is corrupt or truncated.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(f"'{path}' is not an IDX file: it must start with two zero bytes and a "
                        f"type code in {sorted(hex(t) for t in _TYPES)}.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file '{path}' is truncated inside its header.")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"IDX file '{path}' is truncated or padded: its header announces shape {shape} "
                        f"({expected} bytes of data) but the file holds {len(raw) - header}.")
    arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # a writable copy in native order


def is_idx_images(path: Path) -> bool:
    return bool(_IMAGES.match(path.name))


def labels_path_for(images: Path) -> Path:
    """``train-images-idx3-ubyte.gz`` -> the sibling ``train-labels-idx1-ubyte.gz``."""
    name = re.sub(r"images([-_.])idx\d", r"labels\g<1>idx1", images.name, flags=re.IGNORECASE)
    for candidate in (name, name[:-3] if name.endswith(".gz") else name + ".gz"):
        if (images.parent / candidate).is_file():
            return images.parent / candidate
    raise DataError(f"No labels file found for IDX images '{images}': expected '{images.parent / name}' "
                    "beside it.")


def load_idx_pair(images: str | Path, name: str | None = None) -> TransferDataset:
    """An images file and its labels file -> one dataset (the labels file is found beside it)."""
    from transferkit.data.arrays import from_arrays

    images = Path(images)
    x = read_idx(images)
    lab_path = labels_path_for(images)
    y = read_idx(lab_path)
    prefix = _IMAGES.match(images.name).group("prefix") if is_idx_images(images) else images.stem
    ds = from_arrays(x, y, name=name or prefix or images.stem, where=f"IDX pair '{images}'")
    ds.ids = [f"{prefix or 'idx'}[{i}]" for i in range(len(ds))]
    ds.meta.update({"source": str(images), "kind": "idx"})
    return ds


def find_idx_parts(folder: Path) -> dict[str, Path]:
    """Prefix -> images file for every IDX images file in ``folder``."""
    parts: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        m = _IMAGES.match(f.name) if f.is_file() else None
        if m:
            parts.setdefault(m.group("prefix").lower(), f)
    return parts
