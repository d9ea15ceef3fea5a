"""Run directories written by transferkit 0.1.0 still load, predict, evaluate, serve and export.

DESIGN.md: "A run directory written by one version is readable by the next". The
directories in ``fixtures/runs_0_1_0/`` were written by ``fixtures/make_legacy_runs.py``
with the 0.1.0 code (fit on a table and on images, ``--strategy auto``, ``adapt``,
``pretrain`` and a fit on a pretrained run); each ``expected.json`` holds the
predictions, probabilities and ``evaluate`` metrics that 0.1.0 gave. Only public entry
points are used (``transferkit.load``, the command line, the server's app factory), so
the checks outlive moves of the modules behind them. Every test works on a copy: the
fixtures are never written to.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import transferkit as tk
from transferkit.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "runs_0_1_0"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())
ATOL = 1e-4
# (fixture, key in expected.json) of every evaluation that worked in 0.1.0; an adapt run's
# config.yaml names no `data`, so 0.1.0 evaluates it only with --data (noted there)
EVALUATIONS = [
    (name, key)
    for name in NAMES
    for key, value in json.loads((FIXTURES / name / "expected.json").read_text()).items()
    if key.startswith("evaluate") and value["ok"]
]


@pytest.fixture(autouse=True)
def _index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFERKIT_RUNS_INDEX", str(tmp_path / "index.sqlite"))
    monkeypatch.setenv("TRANSFERKIT_CACHE_DIR", str(tmp_path / "cache"))


def _copy(name: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """(copied fixture folder, its expected.json)."""
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    return dst, json.loads((dst / "expected.json").read_text(encoding="utf-8"))


def _inputs(fixture: Path, expected: dict[str, Any]) -> list[Any]:
    """What 0.1.0 was asked to predict: table rows as dicts, or image file paths."""
    inputs = expected["inputs"]
    if inputs["kind"] == "rows":
        return inputs["rows"]
    return [str(fixture / f) for f in inputs["files"]]


def _input_files(fixture: Path, expected: dict[str, Any]) -> list[str]:
    """The same inputs as files on disk (what `transferkit predict` reads)."""
    inputs = expected["inputs"]
    return [str(fixture / inputs["file"])] if inputs["kind"] == "rows" else _inputs(fixture, expected)


@pytest.mark.parametrize("name", NAMES)
def test_load_predicts_what_0_1_0_predicted(name: str, tmp_path: Path) -> None:
    fixture, expected = _copy(name, tmp_path)
    model = tk.load(fixture / "run")
    assert list(model.classes) == expected["classes"]
    inputs = _inputs(fixture, expected)
    assert model.predict(inputs) == expected["predict"]
    np.testing.assert_allclose(model.predict_proba(inputs), expected["predict_proba"], atol=ATOL, rtol=0)
    if expected["inputs"]["kind"] == "images":  # arrays give what their files give
        from PIL import Image

        arrays = [np.asarray(Image.open(p)) for p in inputs]
        np.testing.assert_allclose(model.predict_proba(arrays), expected["predict_proba"], atol=ATOL,
                                   rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_cli_predict_reads_the_0_1_0_run(name: str, tmp_path: Path) -> None:
    fixture, expected = _copy(name, tmp_path)
    out = tmp_path / "predictions.json"
    code = main(["predict", str(fixture / "run"), *_input_files(fixture, expected), "--format", "json",
                 "--output", str(out)])
    assert code == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert [r["class"] for r in rows] == expected["predict"]
    got = [[r[f"p_{c}"] for c in expected["classes"]] for r in rows]
    np.testing.assert_allclose(got, expected["predict_proba"], atol=ATOL, rtol=0)


@pytest.mark.parametrize(("name", "key"), EVALUATIONS, ids=[f"{n}-{k}" for n, k in EVALUATIONS])
def test_cli_evaluate_gives_the_0_1_0_metrics(name: str, key: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    fixture, expected = _copy(name, tmp_path)
    record = expected[key]
    argv = ["evaluate", str(fixture / "run"), "--json"]
    if record["args"].get("data"):
        argv += ["--data", record["args"]["data"]]
    capsys.readouterr()
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    want = record["metrics"]
    for metric in ("accuracy", "balanced_accuracy", "macro_f1", "ece"):
        assert got[metric] == pytest.approx(want[metric], abs=ATOL), metric
    assert got["n"] == want["n"]
    assert got["confusion_matrix"] == want["confusion_matrix"]
    assert list(got["per_class"]) == list(want["per_class"])


@pytest.mark.parametrize("name", NAMES)
def test_server_predicts_what_0_1_0_predicted(name: str, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from transferkit.serve import create_app

    fixture, expected = _copy(name, tmp_path)
    inputs = _inputs(fixture, expected)
    if expected["inputs"]["kind"] == "rows":
        payload = {"rows": inputs}
    else:
        payload = {"images": [base64.b64encode(Path(p).read_bytes()).decode() for p in inputs]}
    client = TestClient(create_app(fixture / "run"))
    r = client.post("/predict", json=payload)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["class"] for p in preds] == expected["predict"]
    got = [[p["probabilities"][c] for c in expected["classes"]] for p in preds]
    np.testing.assert_allclose(got, expected["predict_proba"], atol=ATOL, rtol=0)
    meta = client.get("/metadata").json()
    assert meta["classes"] == expected["classes"] and meta["modality"] == expected["modality"]


@pytest.mark.parametrize("name", ["fit_tabular", "fit_image"])
def test_cli_exports_a_0_1_0_run_to_onnx(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    fixture, expected = _copy(name, tmp_path)
    out = tmp_path / "onnx"
    assert main(["export", str(fixture / "run"), "--format", "onnx", "--out", str(out)]) == 0
    assert (out / "model.onnx").is_file()
    pre = json.loads((out / "preprocessing.json").read_text(encoding="utf-8"))
    assert pre["classes"] == expected["classes"] and pre["modality"] == expected["modality"]
    assert pre["parity"]["max_abs_diff"] <= ATOL
