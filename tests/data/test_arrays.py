from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transferkit.data import load
from transferkit.data.arrays import from_arrays
from transferkit.errors import DataError, UnsafeFileError


def test_npz_images(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 255, (12, 5, 5)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array(["b", "a", "c"] * 4))
    ds = load(tmp_path / "d.npz")
    assert ds.modality == "image" and ds.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.x, x)
    assert list(ds.y[:3]) == [1, 0, 2]


def test_npz_rgb_and_class_names(tmp_path: Path) -> None:
    x = np.zeros((6, 4, 4, 3), np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1] * 3), classes=np.array(["neg", "pos"]))
    ds = load(tmp_path / "d.npz")
    assert ds.modality == "image" and ds.x.shape == (6, 4, 4, 3) and ds.classes == ["neg", "pos"]


def test_npz_sequence_and_table(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", x=np.ones((8, 10, 2), np.float64), y=np.arange(8) % 2)
    seq = load(tmp_path / "s.npz")
    assert seq.modality == "sequence" and seq.x.dtype == np.float32 and seq.x.shape == (8, 10, 2)
    np.savez(tmp_path / "t.npz", x=np.random.default_rng(0).normal(size=(8, 3)), y=np.arange(8) % 2)
    tab = load(tmp_path / "t.npz")
    assert tab.modality == "table" and list(tab.x.columns) == ["x0", "x1", "x2"]
    assert tab.schema.numeric == ["x0", "x1", "x2"]


def test_numeric_labels_sort_numerically() -> None:
    ds = from_arrays(np.zeros((11, 2, 2), np.uint8), np.arange(11))
    assert ds.classes[-2:] == ["9", "10"]


def test_npz_missing_keys_lists_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 2, 2), np.uint8), y=np.zeros(2))
    with pytest.raises(DataError, match=r"'x'.*Arrays in the file: \['images', 'y'\]"):
        load(tmp_path / "d.npz")


def test_npz_object_arrays_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.zeros(2))
    with pytest.raises(UnsafeFileError, match="unpickling"):
        load(tmp_path / "d.npz")


def test_length_mismatch() -> None:
    with pytest.raises(DataError, match="3 inputs 'x' but 2 labels"):
        from_arrays(np.zeros((3, 2, 2), np.uint8), [0, 1])
