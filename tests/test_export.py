"""Export: ONNX parity with onnxruntime (image and text models), TorchScript, safetensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from report.factory import make_run


@pytest.fixture(autouse=True)
def _index(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_RUNS_INDEX", str(tmp_path / "index.sqlite"))


def _torch_logits(run, batch):
    from transferkit.jobs.predict import load

    model = load(run).model.eval()
    with torch.inference_mode():
        return model(batch).numpy()


@pytest.mark.parametrize("family", ["timm", "text"])
def test_onnx_matches_torch_within_1e4_with_a_dynamic_batch(tmp_path, family):
    ort = pytest.importorskip("onnxruntime")
    from transferkit.export import export
    from transferkit.jobs.predict import load

    run, data = make_run(tmp_path, family, warnings=["leakage: 1 duplicate"])
    out = export(run, "onnx", tmp_path / "out")
    pre = json.loads((out / "preprocessing.json").read_text())
    assert pre["classes"] == list(data.classes) and pre["modality"] == data.modality
    assert pre["parity"]["max_abs_diff"] <= 1e-4
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    backbone = load(run).model.backbone
    for n in (1, len(data)):  # two batch sizes: the batch axis is dynamic
        items = [data.input(i) for i in range(n)]
        batch = backbone.collate(items)
        if family == "text":
            assert {"input_ids", "attention_mask"} <= set(names)
            feeds = {k: v.numpy() for k, v in batch.items() if k in names}
        else:
            assert names == ["input"] and pre["inputs"][0]["shape"][0] == "batch"
            feeds = {"input": batch.numpy()}
        got = session.run(["logits"], feeds)[0]
        ref = _torch_logits(run, batch)
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
        assert (got.argmax(1) == ref.argmax(1)).all()
    card = (out / "MODEL_CARD.md").read_text()
    for text in ("## Data", "## Metrics", "scratch", "oracle", "## Limitations", "leakage: 1 duplicate"):
        assert text in card
    if family == "text":
        assert (out / "tokenizer" / "tokenizer.json").is_file() or (out / "tokenizer" / "vocab.txt").is_file()


def test_torchscript_and_safetensors_exports_reproduce_the_model(tmp_path):
    from transferkit.export import export
    from transferkit.jobs.predict import load

    run, data = make_run(tmp_path, "tabular")
    items = [data.input(i) for i in range(len(data))]
    expected = load(run).predict_proba(data.x)  # table rows as a DataFrame
    ts = export(run, "torchscript", tmp_path / "ts")
    scripted = torch.jit.load(str(ts / "model.pt"))
    batch = load(run).model.backbone.collate(items)
    with torch.inference_mode():
        np.testing.assert_allclose(torch.softmax(scripted(batch), 1).numpy(), expected, atol=1e-5)
    st = export(run, "safetensors", tmp_path / "st")
    np.testing.assert_allclose(load(st).predict_proba(data.x), expected, atol=1e-6)
    pre = json.loads((st / "preprocessing.json").read_text())
    assert pre["preprocessing"]["family"] == "tabular" and pre["data"]["schema"]["columns"]


def test_export_errors_name_the_problem(tmp_path):
    from transferkit.errors import ConfigError, RunDirError
    from transferkit.export import export

    run, _ = make_run(tmp_path, "tabular")
    with pytest.raises(ConfigError, match="onnx, torchscript, safetensors"):
        export(run, "tflite", tmp_path / "x")
    with pytest.raises(ConfigError, match="must differ from the run directory"):
        export(run, "onnx", run)
    with pytest.raises(RunDirError):
        export(tmp_path / "missing", "onnx", tmp_path / "y")


def test_cli_export(tmp_path, capsys):
    from transferkit.cli import main

    run, _ = make_run(tmp_path, "tabular")
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "model.onnx").is_file()
    assert "max |logit diff|" in capsys.readouterr().out
