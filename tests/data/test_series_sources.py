"""Several series datasets as one source (``--data a,b@L``): resampling, labels, errors, pretrain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transferkit.data import load, load_splits
from transferkit.data.series_sources import parse_list, resample
from transferkit.errors import DataError


def _npz(path: Path, n: int, length: int, channels: int = 1, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, length, channels)).astype(np.float32)
    np.savez(path, x=x, y=np.arange(n) % 2)
    return str(path)


def test_resample_is_linear_interpolation_over_the_span() -> None:
    a = np.array([0.0, 10.0, 20.0], dtype=np.float32)
    assert resample(a, 5)[:, 0].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]  # by hand: steps of 5
    assert resample(a, 2)[:, 0].tolist() == [0.0, 20.0]  # the ends are kept
    two = resample(np.array([[0.0, 1.0], [4.0, 3.0]]), 3)
    assert two.tolist() == [[0.0, 1.0], [2.0, 2.0], [4.0, 3.0]]  # each channel on its own


def test_parse_list_and_its_errors() -> None:
    assert parse_list("a, b ,c@64") == (["a", "b", "c"], 64)
    assert parse_list("a,b") == (["a", "b"], None)
    with pytest.raises(DataError, match="two or more different"):
        parse_list("a,a")
    with pytest.raises(DataError, match="int >= 2"):
        parse_list("a,b@x")


def test_a_list_of_sets_is_one_source_with_set_prefixed_classes(tmp_path: Path) -> None:
    a = _npz(tmp_path / "a.npz", 12, 10)
    b = _npz(tmp_path / "b.npz", 12, 30, seed=1)
    ds = load(f"{a},{b}")
    assert len(ds) == 24 and np.asarray(ds.input(0)).shape == (20, 1)  # median length of 12x10 + 12x30
    assert ds.classes == [f"{a}/0", f"{a}/1", f"{b}/0", f"{b}/1"]
    assert "resampled" in ds.meta["warnings"][0] and "to 20" in ds.meta["warnings"][0]
    s = load_splits(f"{a},{b}@16", shots=3, max_test=None)
    assert np.asarray(s.train.input(0)).shape == (16, 1) and len(s.train) == 12  # 3 per class, 4 classes
    first = np.asarray(load(f"{a},{b}@10").input(0))[:, 0]  # a's series keep their 10 values
    assert np.allclose(first, np.load(a)["x"][0, :, 0])


def test_sets_with_other_channel_counts_are_refused(tmp_path: Path) -> None:
    a = _npz(tmp_path / "a.npz", 6, 10)
    b = _npz(tmp_path / "b.npz", 6, 10, channels=3)
    with pytest.raises(DataError, match=r"different channel counts .*a.npz: 1.*b.npz: 3.*Leave out"):
        load(f"{a},{b}")


def test_pretrain_reads_a_list_supervised_and_masked(tmp_path: Path) -> None:
    import transferkit as tk

    a = _npz(tmp_path / "a.npz", 12, 12)
    b = _npz(tmp_path / "b.npz", 12, 20, seed=1)
    said: list[str] = []
    run = tk.pretrain(f"{a},{b}", "sequence:cnn:8", tmp_path / "ssl", epochs=1, objective="masked",
                      log=said.append)
    assert run.summary["data"]["n_train"] > 0 and any("resampled" in s for s in said)
    sup = tk.pretrain(f"{a},{b}@12", "sequence:cnn:8", tmp_path / "sup", epochs=1, log=None)
    assert len(sup.summary["data"]["classes"]) == 4
    fitted = tk.fit(data=a, backbone=str(run.run_dir), shots=3, epochs=1, log=None, out=tmp_path / "fit")
    assert 0.0 <= fitted.summary["metrics"]["test"]["accuracy"] <= 1.0
