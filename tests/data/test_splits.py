from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferkit.data import TransferDataset, load, load_splits
from transferkit.data.splits import find_leakage, sample_shots, stratified_cap, stratified_split
from transferkit.errors import DataError


def _npz(tmp_path: Path, n_per_class: int = 30, classes: int = 3, name: str = "d.npz") -> Path:
    rng = np.random.default_rng(0)
    n = n_per_class * classes
    x = rng.integers(0, 255, (n, 4, 4)).astype(np.uint8)
    x[:, 0, 0] = np.arange(n) % 256  # (with [0, 1]) makes every image unique
    x[:, 0, 1] = np.arange(n) // 256
    np.savez(tmp_path / name, x=x, y=np.arange(n) % classes)
    return tmp_path / name


def test_splits_are_disjoint_stratified_and_cover_the_data(tmp_path: Path) -> None:
    s = load_splits(str(_npz(tmp_path)), val_fraction=0.1, test_fraction=0.2)
    assert (len(s.train), len(s.val), len(s.test)) == (63, 9, 18)
    for part, per_class in ((s.train, 21), (s.val, 3), (s.test, 6)):
        assert list(np.bincount(part.y)) == [per_class] * 3
    ids = [set(p.ids) for p in (s.train, s.val, s.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 90
    assert s.leakage == [] and s.describe()["n_test"] == 18


def test_split_seed_changes_the_split_seed_does_not(tmp_path: Path) -> None:
    f = _npz(tmp_path)
    base = load(f, split="test")
    assert load(f, split="test", seed=5).ids == base.ids  # seed drives few-shot only
    assert load(f, split="test", split_seed=1).ids != base.ids
    assert load(f, split="test").ids == base.ids  # deterministic


def test_shots_per_class_seeded_and_nested(tmp_path: Path) -> None:
    f = _npz(tmp_path)
    a = load(f, split="train", shots=5, seed=0)
    assert list(np.bincount(a.y)) == [5, 5, 5]
    assert load(f, split="train", shots=5, seed=0).ids == a.ids
    assert load(f, split="train", shots=5, seed=1).ids != a.ids
    assert set(load(f, split="train", shots=2, seed=0).ids) <= set(a.ids)
    full_train = set(load(f, split="train").ids)
    assert set(a.ids) <= full_train  # shots come from train only
    assert load(f, split="test", shots=5).ids == load(f, split="test").ids


def test_too_many_shots_names_the_class(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"shots.*100.*class '0' has only 21"):
        load(_npz(tmp_path), split="train", shots=100)


def test_max_test_takes_first_n_and_max_val_stays_stratified(tmp_path: Path) -> None:
    f = _npz(tmp_path, n_per_class=100)
    full = load(f, split="test")
    capped = load(f, split="test", max_test=12)
    assert capped.ids == full.ids[:12]
    val = load(f, split="val", max_val=9)
    assert len(val) == 9 and list(np.bincount(val.y)) == [3, 3, 3]


def test_class_with_zero_examples_after_split(tmp_path: Path) -> None:
    x = np.zeros((22, 2, 2), np.uint8)
    y = np.array(["a"] * 10 + ["b"] * 10 + ["rare"] * 2)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    with pytest.raises(DataError, match="Class 'rare' has 2 example"):
        load(tmp_path / "d.npz", split="train")
    np.savez(tmp_path / "e.npz", x=np.zeros((60, 2, 2), np.uint8), y=np.repeat(["a", "b", "c"], 20))
    with pytest.raises(DataError, match=r"test split has no examples of class\(es\) \['c'\].*max_test"):
        load(tmp_path / "e.npz", split="test", max_test=8)


def test_leakage_duplicates_across_splits(tmp_path: Path) -> None:
    x = np.random.default_rng(1).integers(0, 255, (60, 3, 3)).astype(np.uint8)
    x[40:] = x[:20]  # 20 exact duplicates
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(60) % 2)
    s = load_splits(str(tmp_path / "d.npz"))
    assert s.leakage and all(w.startswith("leakage:") for w in s.leakage)
    total = sum(int(w.split()[1]) for w in s.leakage)
    assert 0 < total <= 20
    assert "e.g." in s.leakage[0] and "d[" in s.leakage[0]


def test_find_leakage_texts_and_tables() -> None:
    a = TransferDataset("t", "text", ["x", "y", "z"], [0, 1, 0], ["p", "q"], ids=["a0", "a1", "a2"])
    b = TransferDataset("t", "text", ["y", "w"], [1, 0], ["p", "q"], ids=["b0", "b1"])
    (msg,) = find_leakage({"train": a, "test": b})
    assert msg.startswith("leakage: 1 of 2 test examples") and "test b0 = train a1" in msg
    fa = pd.DataFrame({"u": [1.0, 2.0], "v": ["r", "s"]})
    fb = pd.DataFrame({"u": [2.0, 3.0], "v": ["s", "s"]})
    ta = TransferDataset("t", "table", fa, [0, 1], ["p", "q"])
    tb = TransferDataset("t", "table", fb, [0, 1], ["p", "q"])
    assert len(find_leakage({"train": ta, "val": tb})) == 1


def test_no_validation_split(tmp_path: Path) -> None:
    """val_fraction=0 (few-shot protocols that use no labels beyond the shots) loads."""
    s = load_splits(str(_npz(tmp_path)), val_fraction=0.0, test_fraction=0.2, shots=2, seed=1)
    assert (len(s.train), len(s.val), len(s.test)) == (6, 0, 18)
    assert s.leakage == []


def test_split_parameter_errors(tmp_path: Path) -> None:
    from transferkit.errors import ConfigError

    f = _npz(tmp_path)
    with pytest.raises(ConfigError, match="Did you mean 'test'"):
        load(f, split="tset")
    with pytest.raises(ConfigError, match="shots.*>= 0"):
        load(f, split="train", shots=-1)
    empty = load(f, split="train", shots=0)  # zero-shot: no labels, the classes kept
    assert len(empty) == 0 and len(empty.classes) > 1 and len(load(f, split="val", shots=0)) == 0
    with pytest.raises(ConfigError, match="split='all'"):
        load(f, shots=3)
    with pytest.raises(ConfigError, match="val_fraction \\+ test_fraction"):
        load(f, split="train", val_fraction=0.5, test_fraction=0.5)


# ----------------------------------------------------------------------------- properties

labels = st.lists(st.integers(0, 4), min_size=1, max_size=200).map(np.array)


@settings(max_examples=60, deadline=None)
@given(y=labels, val=st.sampled_from([0.0, 0.1, 0.25]), test=st.sampled_from([0.0, 0.2, 0.3]),
       seed=st.integers(0, 2**16))
def test_split_partitions_and_stratifies(y: np.ndarray, val: float, test: float, seed: int) -> None:
    try:
        tr, va, te = stratified_split(y, val, test, seed)
    except DataError:
        counts = np.bincount(y)
        assert counts[counts > 0].min() < 1 + (val > 0) + (test > 0)  # only tiny classes fail
        return
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(len(y)))
    for c in np.unique(y):
        n = int((y == c).sum())
        assert (y[tr] == c).sum() >= 1
        for idx, frac in ((va, val), (te, test)):
            k = int((y[idx] == c).sum())
            assert (k >= 1) if frac > 0 else (k == 0)
            # round(n * frac), except raised to 1, or lowered to leave one for train
            assert abs(k - n * frac) <= 0.5 + 1e-9 or k == 1 or (y[tr] == c).sum() == 1


@settings(max_examples=40, deadline=None)
@given(y=labels, shots=st.integers(1, 5), seed=st.integers(0, 100))
def test_shots_property(y: np.ndarray, shots: int, seed: int) -> None:
    counts = np.bincount(y)
    if counts[counts > 0].min() < shots:
        with pytest.raises(DataError):
            sample_shots(y, shots, seed)
        return
    idx = sample_shots(y, shots, seed)
    assert len(set(idx.tolist())) == len(idx)
    assert all(c == shots for c in np.bincount(y[idx])[np.unique(y)])


@settings(max_examples=40, deadline=None)
@given(y=labels, n=st.integers(1, 250))
def test_stratified_cap_property(y: np.ndarray, n: int) -> None:
    idx = stratified_cap(y, n)
    assert len(idx) == min(n, len(y)) and len(set(idx.tolist())) == len(idx)
    for c in np.unique(y):
        share = (y == c).sum() * min(n, len(y)) / len(y)
        assert abs((y[idx] == c).sum() - share) < 1.0 + 1e-9


def test_duplicate_pairs_of_hash_arrays_are_those_of_hash_lists() -> None:
    """A table's row hashes (uint64 arrays) are matched by sorting: the same (first position
    in a, position in b) pairs as the dict over string hashes."""
    from transferkit.data.splits import _duplicate_pairs

    a = np.array([5, 3, 9, 3, 7], dtype=np.uint64)
    b = np.array([3, 1, 7, 3, 9, 2], dtype=np.uint64)
    want = [(1, 0), (4, 2), (1, 3), (2, 4)]
    assert _duplicate_pairs(a, b) == want == _duplicate_pairs([str(h) for h in a], [str(h) for h in b])
    assert _duplicate_pairs(a, np.array([], dtype=np.uint64)) == []
