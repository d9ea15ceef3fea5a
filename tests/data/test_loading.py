from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from transferkit.config import DataConfig
from transferkit.data import Splits, load, load_splits
from transferkit.errors import ConfigError, DataError


def _npz(tmp_path: Path) -> Path:
    x = np.arange(40 * 4, dtype=np.uint8).reshape(40, 2, 2)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 2)
    return tmp_path / "d.npz"


def test_unknown_name_suggests_a_builtin() -> None:
    with pytest.raises(DataError, match=r"Unknown dataset 'fashion-mnsit'.*Did you mean 'fashion-mnist'"):
        load("fashion-mnsit")


def test_missing_path() -> None:
    with pytest.raises(DataError, match=r"Data path 'no/such/dir' does not exist"):
        load("no/such/dir")


def test_unsupported_file(tmp_path: Path) -> None:
    f = tmp_path / "x.docx"
    f.write_bytes(b"hello")
    with pytest.raises(DataError, match=r"Cannot tell what kind of data.*x\.docx"):
        load(f)


def test_domain_only_for_builtins_with_domains(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="domain"):
        load(_npz(tmp_path), domain="train-products")
    with pytest.raises(DataError, match="does not apply to dataset 'digits'"):
        load("digits", domain="x")


def test_columns_only_for_files() -> None:
    with pytest.raises(ConfigError, match="text_column.*built-in dataset 'digits'"):
        load("digits", text_column="text")


def test_load_splits_from_config_and_overrides(tmp_path: Path) -> None:
    f = str(_npz(tmp_path))
    s = load_splits(DataConfig(data=f, shots=3, seed=1), max_test=4)
    assert isinstance(s, Splits)
    assert list(np.bincount(s.train.y)) == [3, 3] and len(s.test) == 4
    d = s.describe()
    assert {"target", "n_train", "n_val", "n_test", "classes"} <= set(d)
    assert (d["target"], d["n_train"], d["n_test"], d["classes"]) == ("d", 6, 4, ["0", "1"])
    assert load_splits(f, shots=3, seed=1).train.ids == s.train.ids
    assert [p.split for p in (s.train, s.val, s.test)] == ["train", "val", "test"]
    with pytest.raises(ConfigError, match="Unknown configuration key 'shot'"):
        load_splits(f, shot=3)


def test_load_all_is_everything(tmp_path: Path) -> None:
    ds = load(_npz(tmp_path))
    assert len(ds) == 40 and ds.split == "all"


def test_skip_bad_reaches_the_summary(image_folder: Path) -> None:
    bad = image_folder / "cat" / "2.png"
    bad.write_bytes(bad.read_bytes()[:50])
    s = load_splits(DataConfig(data=str(image_folder), skip_bad=True, val_fraction=0.0, test_fraction=0.3))
    assert [entry["file"] for entry in s.describe()["skipped"]] == [str(bad)]
    assert len(s.train) + len(s.test) == 7
