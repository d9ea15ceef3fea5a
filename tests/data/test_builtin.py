"""Contract tests over every registered built-in dataset, plus a few per-dataset checks."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.data import DATASETS, list_datasets, load, load_splits
from transferkit.data.builtin.printed_digits import render_printed_digits
from transferkit.tasks import get_task

NAMES = DATASETS.names()


def _need(name: str) -> None:
    cls = DATASETS.get(name)
    if not cls.available():
        pytest.skip(f"built-in dataset '{name}' is not installed here: {cls.install_hint}")


def test_all_eight_are_registered() -> None:
    assert set(NAMES) >= {"fashion-mnist", "digits", "printed-digits", "fine-foods", "breast-cancer-wdbc",
                          "breast-cancer-biopsy", "credit-default", "credit-card"}


@pytest.mark.parametrize("name", NAMES)
def test_metadata(name: str) -> None:
    info = DATASETS.get(name).info()
    assert info["name"] == name and info["modality"] in ("image", "text", "table", "sequence")
    numbers = get_task(info["task"]).targets in ("values", "windows")  # regression, forecasting: no classes
    assert info["size"] > 0 and (numbers or len(info["classes"]) >= 2) and info["source"]
    assert DATASETS.get(name).install_hint
    assert (info["install"] is None) == info["available"]


@pytest.mark.parametrize("name", NAMES)
def test_loads_and_splits(name: str) -> None:
    _need(name)
    cls = DATASETS.get(name)
    targets = get_task(cls.task).targets
    if targets == "windows":
        pytest.skip("series to forecast are split by rolling origin: tests/data/test_forecasting.py")
    types = {c[2:] for c in cls.classes if c != "O"}  # tags per word: the entity types
    shots = len(types) if targets == "tags" else 2  # tags: K sentences in total, every type among them
    s = load_splits(name, shots=shots, max_test=50, targets=targets)
    assert s.train.classes == list(cls.classes) and s.train.modality == cls.modality
    if targets == "values":  # --shots K: K examples in total
        assert len(s.train) == 2 and s.train.has_values and np.isfinite(s.test.y).all()
    elif targets == "masks":  # --shots K: K images in total, each with its mask
        assert len(s.train) == 2 and s.train.dense and s.train.y.shape[1:] == s.train.x.shape[1:3]
    elif targets == "label_sets":  # --shots K: at least K positives of every label
        assert s.train.multi_label and (s.train.y.sum(axis=0) >= 2).all()
    elif targets == "tags":
        assert s.train.per_token and len(s.train) == shots
        assert {cls.classes[c][2:] for c in np.unique(s.train.y) if c > 0} == types
    else:
        assert list(np.bincount(s.train.y, minlength=len(cls.classes))) == [2] * len(cls.classes)
    assert 0 < len(s.test) <= 50 and len(s.val) > 0
    assert len(load(name, targets=targets)) == cls.size
    item, label = s.train[0]
    if cls.modality == "image":
        assert item.dtype == np.uint8 and item.ndim in (2, 3)
    elif cls.modality == "text":  # a text, or a sentence's words (tags per word)
        assert isinstance(item, str) or (s.train.per_token and all(isinstance(w, str) for w in item))
    elif cls.modality == "table":
        assert s.train.schema is not None and len(item) == len(s.train.schema.names)


def test_list_datasets() -> None:
    rows = list_datasets()
    assert [r["name"] for r in rows] == NAMES


def test_fashion_mnist_uses_official_test() -> None:
    _need("fashion-mnist")
    train = load("fashion-mnist", split="train")
    assert len(train) == 54000 and train.x.shape[1:] == (28, 28) and train.x.dtype == np.uint8
    test = load("fashion-mnist", split="test", max_test=2000)
    assert test.ids[:2] == ["t10k[0]", "t10k[1]"] and len(test) == 2000
    assert test.classes[9] == "Ankle boot"


def test_digits_scaled_to_uint8() -> None:
    ds = load("digits")
    assert ds.x.shape == (1797, 8, 8) and ds.x.dtype == np.uint8 and ds.x.max() == 255


def test_printed_digits_deterministic_per_seed() -> None:
    _need("printed-digits")
    a_x, a_y = render_printed_digits(n_per_class=3, size=20, seed=7)
    b_x, _ = render_printed_digits(n_per_class=3, size=20, seed=7)
    c_x, _ = render_printed_digits(n_per_class=3, size=20, seed=8)
    assert a_x.shape == (30, 20, 20) and list(a_y[:10]) == list(range(10))
    np.testing.assert_array_equal(a_x, b_x)
    assert not np.array_equal(a_x, c_x)
    assert (a_x.reshape(30, -1).max(axis=1) > 128).all()  # every image has ink
    assert DATASETS.get("printed-digits").classes == DATASETS.get("digits").classes


def test_fine_foods_domains() -> None:
    _need("fine-foods")
    assert len(load("fine-foods", split="test")) == 1000  # all of testing_data
    assert load("fine-foods", split="test").ids[0] == "testing_data[0]"
    assert len(load("fine-foods", domain="train-products")) == 4000
    other = load_splits("fine-foods", domain="other-products")
    assert len(other.train) + len(other.val) + len(other.test) == 1000
    assert other.describe()["domain"] == "other-products"
    with pytest.raises(Exception, match="Did you mean 'other-products'"):
        load("fine-foods", domain="other-product")


def test_breast_cancer_pair_shares_classes() -> None:
    _need("breast-cancer-biopsy")
    wdbc, biopsy = load("breast-cancer-wdbc"), load("breast-cancer-biopsy")
    assert wdbc.classes == biopsy.classes == ["benign", "malignant"]
    assert len(wdbc.schema.names) == 30 and biopsy.schema.names == [f"V{i}" for i in range(1, 10)]
    assert biopsy.meta["imputed"]["V6"]["count"] == 16
    assert np.isfinite(biopsy.x.to_numpy(dtype=float)).all()
    assert int((wdbc.y == 1).sum()) == 212  # malignant


def test_credit_tables_have_categoricals() -> None:
    _need("credit-default")
    assert load("credit-default").schema.categorical == ["student"]
    assert set(load("credit-card").schema.categorical) == {"owner", "selfemp"}


def test_lalonde_earnings_is_a_regression_pair() -> None:
    _need("lalonde-earnings")
    s = load_splits("lalonde-earnings", targets="values")
    assert s.train.ids[0].startswith("cps1[") and s.test.ids[0].startswith("psid1[") and len(s.test) == 2490
    assert s.train.schema.names == ["age", "educ", "black", "hisp", "marr", "nodeg", "re74", "re75"]
    assert s.train.y.max() == pytest.approx(25564.67) and s.test.y.max() > 100_000  # cps1 is top-coded
    cps1 = load("lalonde-earnings", domain="cps1", targets="values")
    assert len(cps1) == 15992 and cps1.has_values
