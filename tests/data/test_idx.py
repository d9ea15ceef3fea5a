from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from transferkit.data import load, load_splits
from transferkit.data.idx import read_idx
from transferkit.errors import DataError


def write_idx(path: Path, arr: np.ndarray, compress: bool = False) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _pair(folder: Path, prefix: str, n: int, seed: int, compress: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (n, 6, 6)).astype(np.uint8)
    y = (np.arange(n) % 3).astype(np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x, compress)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y, compress)
    return x, y


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_roundtrip(tmp_path: Path, compress: bool) -> None:
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a-idx3-ubyte", arr, compress)), arr)
    f = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f", f, compress)), f)


def test_idx_pair_by_images_path(tmp_path: Path) -> None:
    x, y = _pair(tmp_path, "train", 30, 0, compress=True)
    ds = load(tmp_path / "train-images-idx3-ubyte.gz")
    assert ds.modality == "image" and ds.x.shape == (30, 6, 6) and ds.x.dtype == np.uint8
    np.testing.assert_array_equal(ds.x, x)
    assert ds.classes == ["0", "1", "2"]
    np.testing.assert_array_equal(ds.y, y)


def test_idx_folder_uses_t10k_as_official_test(tmp_path: Path) -> None:
    _pair(tmp_path, "train", 60, 0, compress=False)
    xt, _ = _pair(tmp_path, "t10k", 15, 1, compress=False)
    splits = load_splits(str(tmp_path), val_fraction=0.2)
    assert len(splits.test) == 15 and len(splits.train) == 48 and len(splits.val) == 12
    np.testing.assert_array_equal(splits.test.x, xt)
    assert len(load(tmp_path)) == 75  # split="all" includes the test part


def test_truncated_idx_names_the_file(tmp_path: Path) -> None:
    _pair(tmp_path, "train", 10, 0, compress=False)
    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*truncated"):
        load(f)


def test_idx_without_labels_file(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(DataError, match="No labels file"):
        load(tmp_path / "train-images-idx3-ubyte")


def test_not_an_idx_file(tmp_path: Path) -> None:
    f = tmp_path / "x-images-idx3-ubyte"
    f.write_bytes(b"\x89PNG not idx")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(f)
