"""predict --output FILE.csv streams: chunk by chunk into FILE.csv.partial, renamed when
complete; an interrupted prediction resumes without predicting its inputs again."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import transferkit as tk
from transferkit.cli import main


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(0)
    for label, value in (("dark", 40), ("light", 210)):
        (root / "train" / label).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(value + rng.normal(0, 10, (16, 16)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "train" / label / f"{i}.png")
    new = root / "new"
    new.mkdir()
    for i in range(11):
        Image.fromarray(np.full((16, 16), 30 if i % 2 else 220, np.uint8)).save(new / f"{i:02d}.png")
    run = tk.fit(data=str(root / "train"), backbone="efficientnet_lite0", strategy="linear-probe",
                 image_size=32, out=str(root / "run"), log=None)
    return run.run_dir, new


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_streaming_writes_every_input_once_in_chunks(image_run, tmp_path):
    run, new = image_run
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(new), "--output", str(out), "--chunk-size", "4", "--workers", "2"]) == 0
    rows = _rows(out)
    assert len(rows) == 11 and len({r["input"] for r in rows}) == 11
    assert not (tmp_path / "pred.csv.partial").exists()
    by_name = {r["input"].rsplit("/", 1)[-1]: r["class"] for r in rows}
    assert by_name["01.png"] == "dark" and by_name["00.png"] == "light"


def test_an_interrupted_prediction_resumes_where_it_stopped(image_run, tmp_path, monkeypatch):
    run, new = image_run
    out = tmp_path / "pred.csv"
    model = tk.load(run)
    calls = {"n": 0}
    real = type(model).outputs_items

    def crash_on_third_chunk(self, items, batch_size=64):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, items, batch_size)

    monkeypatch.setattr(type(model), "outputs_items", crash_on_third_chunk)
    # the CLI turns the interruption into its exit code and says how to continue
    assert main(["predict", str(run), str(new), "--output", str(out), "--chunk-size", "4"]) == 130
    partial = tmp_path / "pred.csv.partial"
    assert len(_rows(partial)) == 8 and not out.exists()
    with open(partial, "a") as fh:
        fh.write("/torn/line.png,da")  # an interruption in the middle of a line
    assert main(["predict", str(run), str(new), "--output", str(out), "--chunk-size", "4"]) == 2  # refuses
    calls["n"] = 10
    assert main(["predict", str(run), str(new), "--output", str(out), "--chunk-size", "4", "--resume"]) == 0
    rows = _rows(out)
    assert len(rows) == 11 and len({r["input"] for r in rows}) == 11
    assert calls["n"] == 11  # only the last chunk was predicted again


def test_texts_and_tables_stream_too(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    frame["y"] = np.where(frame.a > 0, "p", "n")
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = tk.fit(data=str(tmp_path / "t.csv"), label_column="y", backbone="tabular", strategy="full",
                 epochs=2, out=str(tmp_path / "run"), log=None)
    frame.drop(columns="y").to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(run.run_dir), str(tmp_path / "new.csv"), "--output", str(tmp_path / "p.csv"),
                 "--chunk-size", "7"]) == 0
    assert len(_rows(tmp_path / "p.csv")) == 60
