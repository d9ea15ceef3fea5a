"""Data from Python objects: DataFrames, (X, y) arrays, torch and Hugging Face datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import transferkit as tk
from transferkit.data import load, load_splits, objects
from transferkit.errors import ConfigError, DataError
from transferkit.tasks import infer_task


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": rng.normal(size=n), "c": rng.choice(["p", "q"], n),
                          "y": np.where(a > 0, "pos", "neg")})
    frame.loc[3, "b"] = np.nan  # a missing cell: imputed as from a CSV
    return frame


# --------------------------------------------------------------------------- DataFrame


def test_a_dataframe_loads_as_the_same_frame_written_to_csv(tmp_path):
    frame = _frame()
    before = frame.copy()
    frame.to_csv(tmp_path / "t.csv", index=False)
    got = load_splits(frame, label_column="y")
    want = load_splits(str(tmp_path / "t.csv"), label_column="y")
    assert frame.equals(before)  # the user's frame is never modified
    for part in ("train", "val", "test"):
        g, w = getattr(got, part), getattr(want, part)
        assert g.modality == "table" and g.classes == w.classes == ["neg", "pos"]
        np.testing.assert_array_equal(g.y, w.y)
        pd.testing.assert_frame_equal(g.x, w.x)
        assert g.content_hash() == w.content_hash()  # the feature cache keys on content, as for files
    assert got.train.schema.to_dict() == want.train.schema.to_dict()
    assert any("imputed" in w for w in got.warnings)


def test_a_dataframe_with_a_text_column_is_text_and_numeric_labels_are_regression():
    texts = pd.DataFrame({"text": [f"review {i}" for i in range(30)], "label": ["good", "bad"] * 15})
    ds = load(texts, split="all")
    assert ds.modality == "text" and ds.x[0] == "review 0" and ds.classes == ["bad", "good"]
    values = pd.DataFrame({"f": np.arange(80.0), "target": np.linspace(0.1, 9.7, 80)})
    pool = load(values, split="all")
    assert infer_task(pool)[0] == "regression"
    assert load(values, split="all", targets="values").has_values


def test_references_fingerprint_content_not_identity():
    a, b = _frame(), _frame()
    ref = objects.reference(a)
    assert ref.startswith("<DataFrame 60x4 sha256:") and objects.is_reference(ref)
    assert objects.reference(b) == ref
    b.loc[0, "a"] = 99.0
    assert objects.reference(b) != ref


def test_fit_on_a_dataframe_records_a_reference_and_evaluate_asks_for_the_data(tmp_path):
    frame = _frame(90)
    run = tk.fit(data=frame, label_column="y", backbone="tabular:8", strategy="full", epochs=2,
                 out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), log=None)
    recorded = yaml.safe_load((run.run_dir / "config.yaml").read_text())["data"]["data"]
    assert recorded == objects.reference(frame) and recorded.startswith("<DataFrame 90x4 sha256:")
    assert run.summary["data"]["n_test"] == 18
    assert tk.evaluate(run.run_dir)["data"]["fingerprint_checked"]  # this process holds the frame
    objects.forget()  # as `transferkit evaluate RUN` in a new process
    with pytest.raises(DataError, match="Pass the data explicitly"):
        tk.evaluate(run.run_dir)
    again = tk.evaluate(run.run_dir, data=frame.copy())  # the same content: the run's own split
    assert again["data"]["own_split"] and again["data"]["fingerprint_checked"]
    assert again["accuracy"] == pytest.approx(run.summary["metrics"]["test"]["accuracy"])


# --------------------------------------------------------------------------- (X, y)


def test_array_tuples_take_the_modality_of_their_shape():
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 10)
    images = load((rng.integers(0, 255, (20, 8, 8, 3), dtype=np.uint8), y), split="all")
    assert images.modality == "image" and images.input(0).shape == (8, 8, 3)
    table = load((rng.normal(size=(20, 3)), np.repeat([0, 1], 10)), split="all")
    assert table.modality == "table" and list(table.x.columns) == ["x0", "x1", "x2"]
    series = load((rng.normal(size=(20, 5, 2)), y), split="all")
    assert series.modality == "sequence" and series.x.shape == (20, 5, 2)
    values = load((rng.normal(size=(60, 3)), rng.normal(size=60)), split="all")
    assert infer_task(values)[0] == "regression"


@pytest.mark.parametrize("bad", [{"x": [1, 2]}, [1, 2, 3], {1, 2}])
def test_an_object_of_another_kind_is_refused_naming_the_accepted_kinds(bad):
    with pytest.raises(ConfigError, match="pandas DataFrame, a tuple \\(X, y\\)"):
        tk.fit(data=bad, backbone="tabular", log=None)


def test_object_data_refuses_file_only_options():
    with pytest.raises(ConfigError, match="'domain' parameter"):
        load(_frame(), split="all", label_column="y", domain="x")


# --------------------------------------------------------------------------- torch


def test_a_torch_dataset_is_materialised_with_errors_naming_the_item():
    torch = pytest.importorskip("torch")

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, items):
            self.items = items

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    grey = [(torch.full((1, 6, 6), k / 4), torch.tensor(k % 2)) for k in range(5)]
    ds = load(Pairs(grey), split="all")
    assert ds.modality == "image" and ds.x.shape == (5, 6, 6) and ds.x.dtype == np.uint8
    assert ds.x[4].max() == 255 and ds.classes == ["0", "1"]
    rows = load(Pairs([(torch.randn(4), "a" if k < 3 else "b") for k in range(6)]), split="all")
    assert rows.modality == "table" and rows.x.shape == (6, 4)
    bad = Pairs([*grey[:2], (torch.zeros(2, 2), 0)])
    with pytest.raises(DataError, match=r"Item 2 .* shape \(2, 2\)"):
        load(bad, split="all")
    with pytest.raises(DataError, match="Item 0 .*not \\[0, 1\\]"):
        load(Pairs([(torch.full((3, 4, 4), -1.0), 0)]), split="all")


# --------------------------------------------------------------------------- Hugging Face


class FakeHF:
    """The part of ``datasets.Dataset`` transferkit reads (duck-typed)."""

    def __init__(self, columns: dict, features: dict | None = None):
        self.columns = columns
        self.column_names = list(columns)
        self.features = features or {}

    def __len__(self):
        return len(next(iter(self.columns.values())))

    def __getitem__(self, key):
        return list(self.columns[key])

    def to_pandas(self):
        return pd.DataFrame({k: list(v) for k, v in self.columns.items()})


class ClassLabel:
    def __init__(self, names):
        self.names = names


def test_hugging_face_datasets_images_tables_and_their_splits():
    from PIL import Image

    rng = np.random.default_rng(0)
    pics = [Image.fromarray(rng.integers(0, 255, (6, 6, 3), dtype=np.uint8)) for _ in range(8)]
    images = load(FakeHF({"image": pics, "label": [0, 1] * 4}, {"label": ClassLabel(["cat", "dog"])}),
                  split="all")
    assert images.modality == "image" and images.x.shape == (8, 6, 6, 3)
    assert images.classes == ["cat", "dog"]

    def table(n, seed):
        r = np.random.default_rng(seed)
        return FakeHF({"f": r.normal(size=n), "label": [0, 1] * (n // 2)},
                      {"label": ClassLabel(["no", "yes"])})

    dd = {"train": table(40, 1), "test": table(12, 2)}
    splits = load_splits(dd)
    assert splits.train.modality == "table" and splits.train.classes == ["no", "yes"]
    assert splits.describe()["n_test"] == 12  # the official test split
    with pytest.raises(DataError, match="no 'train' split"):
        load_splits({"validation": table(10, 3)})


def test_adapt_takes_a_source_and_a_target_dataframe(tmp_path):
    from transferkit.jobs.adapt.config import resolve_adapt_config

    source, target = _frame(80, 1), _frame(80, 2).assign(a=lambda f: f["a"] + 0.5)
    run = tk.adapt(source={"data": source, "label_column": "y"}, target=target, backbone="tabular:8",
                   method="source-only", select="entropy", epochs=1,
                   cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), log=None)
    assert run.summary["data"]["n_test"] > 0
    recorded = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    assert recorded["source"]["data"] == objects.reference(source)
    assert recorded["target"]["data"] == objects.reference(target)
    dd = {"train": FakeHF({"f": [0.0, 1.0], "label": [0, 1]})}
    assert objects.is_reference(resolve_adapt_config(source=dd, target="digits").source.data)


def test_rank_takes_a_dataframe(tmp_path):
    ranking = tk.rank(_frame(80), backbones="tabular:8", label_column="y", cache_dir=str(tmp_path))
    assert len(ranking) == 1 and ranking.task == "classification"


def test_label_sets_of_a_dataframe_as_of_its_csv(tmp_path):
    frame = pd.DataFrame({"f": np.arange(12.0), "tags": ["a;b", "a", "b", ""] * 3})
    frame.to_csv(tmp_path / "t.csv", index=False)
    got = load(frame, split="all", label_column="tags", label_separator=";", targets="label_sets")
    want = load(str(tmp_path / "t.csv"), split="all", label_column="tags", label_separator=";",
                targets="label_sets")
    assert got.multi_label and got.classes == want.classes == ["a", "b"]
    np.testing.assert_array_equal(got.y, want.y)


def test_extract_features_takes_arrays(tmp_path):
    rng = np.random.default_rng(0)
    features = tk.extract_features("tabular:8", (rng.normal(size=(20, 3)), np.repeat([0, 1], 10)),
                                   cache_dir=str(tmp_path), progress=False)
    assert features.shape[0] == 20 and np.isfinite(features).all()


def test_a_streaming_hugging_face_dataset_is_read_once_and_trains(tmp_path):
    datasets = pytest.importorskip("datasets")

    rng = np.random.default_rng(0)
    rows = {"a": rng.normal(size=60).tolist(), "b": rng.normal(size=60).tolist(), "label": [0, 1, 2] * 20}
    features = datasets.Features({"a": datasets.Value("float64"), "b": datasets.Value("float64"),
                                  "label": datasets.ClassLabel(names=["x", "y", "z"])})
    whole = datasets.Dataset.from_dict(rows, features=features)
    stream = whole.to_iterable_dataset(num_shards=3)
    assert isinstance(stream, datasets.IterableDataset)
    a, b = load(stream, split="train"), load(whole, split="train")
    assert a.classes == b.classes == ["x", "y", "z"] and a.content_hash() == b.content_hash()
    assert objects.reference(stream) == objects.reference(whole)  # the same content, the same record
    run = tk.fit(data=stream.take(45), backbone="tabular:8", epochs=1, cache_dir=str(tmp_path / "cache"),
                 out=str(tmp_path / "run"), log=None)  # a bounded stream: its first 45 examples
    assert run.summary["data"]["n_train"] + run.summary["data"]["n_val"] + run.summary["data"]["n_test"] == 45
    with pytest.raises(DataError, match="yielded no examples"):
        load(stream.take(0))
