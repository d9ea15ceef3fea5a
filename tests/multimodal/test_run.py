"""A multimodal run directory: written through Run, read back by load() and `transferkit
predict`, and a row whose image (or any column) is missing still predicts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transferkit.multimodal.saved import load


@pytest.fixture(scope="module")
def table(tmp_path_factory, rows_writer):
    return rows_writer(tmp_path_factory.mktemp("mm"), 40, seed=0, missing_every=5, weight_gap=3.0,
                      random_colour=False, grey=(20, 230))


@pytest.fixture(scope="module")
def mm_run(table):
    from transferkit.jobs.multimodal import multimodal

    return multimodal(data=str(table / "rows.csv"), columns="image=photo,number=weight,category=colour",
                      out=str(table / "run"), test_fraction=0.25, val_fraction=0.15)


def test_multimodal_writes_a_run_and_its_heads_predict_the_same(mm_run, table):
    run = mm_run.run_dir
    for name in ("config.yaml", "summary.json", "multimodal.json", "multimodal.safetensors"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["command"] == "multimodal" and set(summary["multimodal"]["columns"]) == {"photo", "weight", "colour"}
    assert summary["multimodal"]["columns"]["photo"]["alone_all_test_rows"]["n"] == 10
    predictor = load(run)
    frame = pd.read_csv(table / "rows.csv")
    probs = predictor.predict_proba(table / "rows.csv")
    assert probs.shape == (40, 2) and np.allclose(probs.sum(axis=1), 1.0)
    truth = np.array([predictor.classes.index(v) for v in frame["label"]])
    assert (probs.argmax(axis=1) == truth).mean() >= 0.9


def test_a_row_without_its_image_or_a_column_still_predicts(mm_run, table):
    predictor = load(mm_run.run_dir)
    frame = pd.read_csv(table / "rows.csv").iloc[:4].copy()
    frame["photo"] = None  # every photo missing: the number and the category carry the rows
    for fusion in ("concat", "late"):
        probs = predictor.predict_proba(frame, fusion=fusion)
        assert np.isfinite(probs).all() and probs.shape == (4, 2)
    lacking = frame.drop(columns=["photo", "colour"])  # columns the table lacks: missing too
    assert len(predictor.predict(lacking)) == 4


def test_predict_cli_reads_a_multimodal_run(mm_run, table, capsys):
    from transferkit.cli import main

    assert main(["predict", str(mm_run.run_dir), str(table / "rows.csv"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 40 and rows[0]["input"].endswith("row 1") and rows[0]["class"] in ("dark", "light")


def test_digit_rows_is_listed_and_fit_names_the_multimodal_command(capsys):
    from transferkit.cli import main
    from transferkit.data import load_splits
    from transferkit.errors import DataError

    assert main(["datasets"]) == 0
    assert "digit-rows" in capsys.readouterr().out
    with pytest.raises(DataError, match="transferkit multimodal --data digit-rows"):
        load_splits("digit-rows")


def test_each_fusion_is_tested_against_the_best_column_chosen_on_validation(mm_run):
    section = json.loads((mm_run.run_dir / "summary.json").read_text())["multimodal"]
    for name in ("concat", "late"):
        fused = section["fusion"][name]
        low, high = fused["ci"]["accuracy"]
        assert low <= fused["accuracy"] <= high and fused["ci"]["level"] == 0.95
        paired = section["paired"][name]
        assert paired["best_column"] in {"photo", "weight", "colour"}
        assert paired["test"] == "McNemar (exact)" and 0 <= paired["p_value"] <= 1
        alone = section["columns"][paired["best_column"]]["alone_all_test_rows"]["accuracy"]
        assert paired["diff"] == pytest.approx(fused["accuracy"] - alone)
        assert paired["sentence"].startswith(f"{name} fusion")


def test_a_generated_table_declares_its_column_kinds():
    import pandas as pd

    from transferkit.multimodal import parse_columns
    from transferkit.multimodal.synthetic import COLUMNS

    frame = pd.DataFrame({"photo": ["a.png"], "caption": ["a seven"], "ink": [7.0], "pen": ["blue"],
                          "label": ["7"]})
    assert parse_columns(None, frame, "label")["caption"] == "category"  # detected: few distinct
    assert parse_columns(COLUMNS["digit-rows"], frame, "label") == {
        "photo": "image", "caption": "text", "ink": "number", "pen": "category"}


def test_load_opens_a_multimodal_run_like_any_other(mm_run):
    import transferkit
    from transferkit.jobs.predict import load as open_run
    from transferkit.multimodal.saved import MultimodalPredictor

    predictor = open_run(mm_run.run_dir)  # the one place every command opens a run
    assert isinstance(predictor, MultimodalPredictor) and predictor.modality == "table"
    assert predictor.task.name == "multimodal-classification" and predictor.image_columns == ["photo"]
    assert type(transferkit.load(mm_run.run_dir)) is MultimodalPredictor


def test_evaluate_rebuilds_the_runs_own_test_split_and_checks_its_fingerprint(mm_run, table, tmp_path):
    import shutil

    from transferkit.errors import DataError
    from transferkit.jobs.predict import evaluate

    summary = json.loads((mm_run.run_dir / "summary.json").read_text())
    m = evaluate(mm_run.run_dir)
    assert m["data"]["own_split"] and m["data"]["fingerprint_checked"] and m["n"] == 10
    assert m["accuracy"] == pytest.approx(summary["multimodal"]["fusion"]["concat"]["accuracy"], abs=1e-9)
    assert set(m["per_class"]) == {"dark", "light"}
    everything = evaluate(mm_run.run_dir, split="all")  # every row: checked by the table file's sha256
    assert everything["n"] == 40 and everything["data"]["fingerprint_checked"]
    assert evaluate(mm_run.run_dir, data=str(table / "rows.csv"))["data"]["own_split"]  # its own file, named
    # the same run, its table edited since: refused, with the way out named
    copy = tmp_path / "table"
    shutil.copytree(table, copy, ignore=shutil.ignore_patterns("run"))
    shutil.copytree(mm_run.run_dir, copy / "run")
    config = (copy / "run" / "config.yaml").read_text().replace(str(table), str(copy))
    (copy / "run" / "config.yaml").write_text(config)
    frame = pd.read_csv(copy / "rows.csv")
    frame["weight"] += 1.0  # every row, so the test split changes too
    frame.to_csv(copy / "rows.csv", index=False)
    with pytest.raises(DataError, match="not the one the run was fitted on.*--data"):
        evaluate(copy / "run")
    with pytest.raises(DataError, match="not the one"):  # every row: the table file differs too
        evaluate(copy / "run", data=str(copy / "rows.csv"), split="all")
    frame.to_csv(copy / "other.csv", index=False)  # another table, named: evaluated, unchecked
    other = evaluate(copy / "run", data=str(copy / "other.csv"), split="all")
    assert other["n"] == 40 and not other["data"]["fingerprint_checked"]


def test_serve_takes_json_rows_with_base64_images_and_missing_cells(mm_run, table):
    import base64

    from fastapi.testclient import TestClient

    from transferkit.serve import create_app

    client = TestClient(create_app(mm_run.run_dir))
    meta = client.get("/metadata").json()
    assert meta["json_key"] == "rows" and "photo" in meta["input"] and meta["classes"] == ["dark", "light"]
    assert meta["data"]["columns"] == [{"column": "photo", "kind": "image"}, {"column": "weight", "kind": "number"},
                                       {"column": "colour", "kind": "category"}]
    png = base64.b64encode((table / "img" / "1.png").read_bytes()).decode()
    rows = [{"photo": png, "weight": 3.1, "colour": "red"},  # a light row (label 1 in the fixture)
            {"photo": None, "weight": -0.2},                 # no image, no colour: still answered
            {}]                                              # nothing at all: the training prior
    reply = client.post("/predict", json={"rows": rows})
    assert reply.status_code == 200, reply.text
    answers = reply.json()["predictions"]
    assert [a["class"] for a in answers[:2]] == ["light", "dark"] and len(answers) == 3
    assert all(abs(sum(a["probabilities"].values()) - 1) < 1e-5 for a in answers)
    direct = load(mm_run.run_dir).predict_proba(table / "rows.csv")[1]  # the same row read from the file
    served = client.post("/predict", json={"rows": [{"photo": png, "weight": pd.read_csv(table / "rows.csv")
                                                     .loc[1, "weight"], "colour": "red"}]}).json()
    assert served["predictions"][0]["probabilities"]["light"] == pytest.approx(direct[1], abs=1e-4)
    bad = client.post("/predict", json={"rows": [{"photo": "img/1.png"}]})  # a path: never read
    assert bad.status_code == 400 and "reads no file paths" in bad.json()["detail"]


def test_export_refuses_a_multimodal_run_with_the_reason(mm_run, tmp_path):
    from transferkit.errors import ConfigError
    from transferkit.export import export

    with pytest.raises(ConfigError, match="one backbone per column.*predict or serve"):
        export(mm_run.run_dir, out=tmp_path / "x")
