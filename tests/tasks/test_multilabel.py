"""The multilabel task: label sets, metrics by hand, thresholds on validation only,
iterative stratification, shots, and a predict / serve / export round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import transferkit as tk
from transferkit.data import load, load_splits
from transferkit.data.splits import iterative_split, sample_shots_multilabel
from transferkit.errors import ConfigError, DataError
from transferkit.tasks import get_task
from transferkit.tasks.multilabel import choose_thresholds, multilabel_metrics


def _csv(tmp_path, n=120, seed=0, name="tags.csv"):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    tags = [";".join(t for t, on in (("x", ai > 0), ("y", bi > 0), ("z", ai + bi > 1)) if on)
            for ai, bi in zip(a, b, strict=True)]
    path = tmp_path / name
    pd.DataFrame({"a": a, "b": b, "labels": tags}).to_csv(path, index=False)
    return path


def test_metrics_match_hand_computed_values():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    p = np.array([[0.9, 0.6, 0.1], [0.4, 0.8, 0.2], [0.2, 0.3, 0.7], [0.1, 0.1, 0.1]])
    m = multilabel_metrics(y, p, 0.5, ["a", "b", "c"], detailed=True)
    # predictions at 0.5: {a,b}, {b}, {c}, {} -> tp 2, fp 2, fn 2
    assert m["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 2))
    # label a: tp1 fn1 -> F1 2/3; label b: tp1 fp1 fn1 -> 1/2; c has no positive: not averaged
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # AP a: ranks 0.9 (+), 0.4 (+) -> 1.0; AP b: 0.8 (+), 0.6 (-), 0.3 (+) -> (1 + 2/3) / 2
    assert m["map"] == pytest.approx((1.0 + (1 + 2 / 3) / 2) / 2)
    assert m["map_skipped"] == ["c"]
    assert m["subset_accuracy"] == pytest.approx(1 / 4)  # only the empty set is exactly right
    assert m["per_label"]["b"]["precision"] == pytest.approx(0.5)
    # per-label thresholds change the decision
    assert multilabel_metrics(y, p, [0.3, 0.7, 0.5])["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))


def test_thresholds_maximise_f1_and_leave_unseen_labels_at_half():
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    p = np.array([[0.3, 0.9], [0.25, 0.1], [0.1, 0.2], [0.05, 0.3]])
    t, untuned = choose_thresholds(y, p)
    assert 0.1 < t[0] <= 0.25 and untuned == [1] and t[1] == 0.5


def test_separator_is_off_by_default_and_sets_flip_the_task(tmp_path):
    path = tmp_path / "names.csv"
    pd.DataFrame({"a": range(20), "label": ["cat;dog", "bird"] * 10}).to_csv(path, index=False)
    single = load(path, split="all")
    assert not single.multi_label and single.classes == ["bird", "cat;dog"]
    sets = load(path, split="all", label_separator=";")
    assert sets.multi_label and sets.classes == ["bird", "cat", "dog"] and sets.y.shape == (20, 3)
    from transferkit.tasks import infer_task

    assert infer_task(single)[0] == "classification" and infer_task(sets)[0] == "multilabel"
    with pytest.raises(ConfigError, match="--label-separator.*--label-columns"):
        load_splits(str(path), targets="label_sets")  # --task multilabel without either flag
    jsonl = tmp_path / "sets.jsonl"
    jsonl.write_text('{"a": 1, "label": ["cat", "dog"]}\n{"a": 2, "label": "bird"}\n{"a": 3, "label": []}\n')
    ds = load(jsonl, split="all", label_separator=";")
    assert ds.classes == ["bird", "cat", "dog"] and ds.y.tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_label_columns_and_their_bad_values(tmp_path):
    path = tmp_path / "cols.csv"
    frame = pd.DataFrame({"f": range(6), "red": [1, 0, 1, 0, 0, 1], "big": [0, 0, 1, 1, 0, 0]})
    frame.to_csv(path, index=False)
    ds = load(path, split="all", label_columns=["red", "big"])
    assert ds.classes == ["red", "big"] and ds.y[2].tolist() == [1, 1] and ds.y[4].tolist() == [0, 0]
    assert list(ds.x.columns) == ["f"]  # the label columns are not features
    frame.loc[3, "big"] = 2
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Row 3 of .*cols.csv.*label column 'big'.*2"):
        load(path, split="all", label_columns=["red", "big"])
    frame["big"] = frame["big"].astype(object)
    frame.loc[3, "big"] = "yes"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Row 3 .*'big'.*'yes'"):
        load(path, split="all", label_columns=["red", "big"])


def test_iterative_stratification_keeps_every_label_in_every_split():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 8)) < np.linspace(0.04, 0.5, 8)).astype(np.uint8)  # rare to common
    tr, va, te = iterative_split(y, 0.1, 0.2, seed=0)
    assert len(set(tr) | set(va) | set(te)) == 300 and not set(tr) & set(te)
    for part, frac in ((tr, 0.7), (va, 0.1), (te, 0.2)):
        counts = y[part].sum(0)
        assert (counts >= 1).all()
        assert np.abs(counts - frac * y.sum(0)).max() <= 2  # close to the desired share per label
    assert len(va) == pytest.approx(30, abs=3) and len(te) == pytest.approx(60, abs=3)


def test_shots_give_at_least_k_positives_per_label(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random((200, 5)) < [0.05, 0.1, 0.3, 0.5, 0.7]).astype(np.uint8)
    rows = sample_shots_multilabel(y, 4, seed=0)
    assert (y[rows].sum(0) >= 4).all() and len(rows) < 60
    with pytest.raises(DataError, match="at least 40 positive.*label '0'"):
        sample_shots_multilabel(y, 40, classes=[str(j) for j in range(5)])
    splits = load_splits(str(_csv(tmp_path)), targets="label_sets", label_separator=";", shots=3)
    assert (splits.train.y.sum(0) >= 3).all()
    assert get_task("multilabel").labels_used(splits)["train"] == len(splits.train)


def test_fit_predict_serve_export_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _csv(tmp_path, n=200)
    run = tk.fit(data=str(path), label_separator=";", backbone="tabular", strategy="linear-probe",
                 seed=0, out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), log=None)
    s = run.summary
    assert s["task"] == "multilabel" and s["metrics"]["test"]["micro_f1"] > 0.6
    assert {"prior", "constant"} <= set(s["baselines"])
    manifest = json.loads((run.run_dir / "transferkit.json").read_text())
    assert len(manifest["thresholds"]) == 3 and manifest["label_separator"] == ";"
    assert manifest["threshold_source"] == "validation" == s["metrics"]["test"]["thresholds_from"]
    model = tk.load(run.run_dir)
    # the thresholds are those that maximise F1 on the validation split, and on it alone
    val = load_splits(str(path), targets="label_sets", label_separator=";").val
    expected, _ = choose_thresholds(val.y, model.predict_proba(val.x))
    assert manifest["thresholds"] == pytest.approx(expected.tolist())
    rows = pd.DataFrame({"a": [2.0, -2.0], "b": [2.0, -2.0]})
    assert model.predict(rows) == [["x", "y", "z"], []]
    out = model.prediction_rows(rows)
    assert out[0]["labels"] == "x;y;z" and out[1]["labels"] == "" and "p_z" in out[0]
    from transferkit.serve import _Model

    served = _Model(run.run_dir, max_batch=8)
    first = served.predict(served.items_from_json({"rows": [{"a": 2.0, "b": 2.0}]}))[0]
    assert first["labels"] == ["x", "y", "z"] and set(first["probabilities"]) == {"x", "y", "z"}
    evaluated = tk.evaluate(run.run_dir)
    assert evaluated["micro_f1"] == pytest.approx(s["metrics"]["test"]["micro_f1"])
    pytest.importorskip("onnxruntime")
    from transferkit.export import export

    folder = export(run.run_dir, "onnx", tmp_path / "onnx")
    spec = json.loads((folder / "preprocessing.json").read_text())
    assert spec["outputs"][0]["thresholds"] == pytest.approx(manifest["thresholds"])


def test_jobs_without_multilabel_support_refuse_by_name(tmp_path):
    # rank, --strategy auto and adapt take label sets (tests/tasks/test_multilabel_jobs.py)
    with pytest.raises(ConfigError, match="--mapping auto.*multilabel"):
        tk.fit(data=str(_csv(tmp_path)), label_separator=";", backbone="tabular", mapping="auto",
               out=str(tmp_path / "a"), log=None)
    with pytest.raises(ConfigError, match="multilabel"):
        tk.fit(data=str(_csv(tmp_path)), label_separator=";", task="classification",
               backbone="tabular", out=str(tmp_path / "b"), log=None)
    with pytest.raises(ConfigError, match="--label-separator.*--label-columns"):
        tk.fit(data=str(_csv(tmp_path)), task="multilabel", backbone="tabular",
               out=str(tmp_path / "c"), log=None)


def test_digit_tags_builtin_holds_label_sets():
    ds = load("digit-tags", split="all")
    assert ds.multi_label and ds.y.shape == (1500, 10) and ds.classes[0] == "0"
    sizes = ds.y.sum(1)
    assert (sizes == 0).any() and sizes.max() <= 4 and 1.5 < sizes.mean() < 2.5
    assert len({ds.item_hash(i) for i in range(200)}) == 200  # no exact duplicates


def test_without_validation_data_thresholds_are_half_and_the_summary_says_so(tmp_path):
    run = tk.fit(data=str(_csv(tmp_path)), label_separator=";", backbone="tabular",
                 strategy="linear-probe", overrides=["data.val_fraction=0"],
                 out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), log=None)
    test = run.summary["metrics"]["test"]
    assert "no validation data" in test["thresholds_from"]
    assert {v["threshold"] for v in test["per_label"].values()} == {0.5}
