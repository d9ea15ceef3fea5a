"""Series classification end to end: a built-in with --shots, predict on series files, and a
pretrained encoder reused on data with another channel count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reliability.helpers import assert_ok, assert_user_error, cli

import transferkit as tk
from transferkit.data import DATASETS

FAST = {"epochs": 2, "strategy": "full", "seed": 0, "log": None}


def _need_aeon() -> None:
    if not DATASETS.get("italy-power-demand").available():
        pytest.skip("aeon's bundled files are not installed: pip install --no-deps aeon==1.6.0")


def test_fit_a_builtin_with_shots_then_predict_series_files(tmp_path: Path) -> None:
    _need_aeon()
    run = tk.fit(data="italy-power-demand", backbone="sequence:cnn:8", shots=5, max_test=100,
                 out=str(tmp_path / "run"), **FAST)
    s = run.summary
    # 5 series per class; the label budget carves validation out of them (20 %, at least 1)
    assert s["data"]["n_train"] + s["data"]["n_val"] == 10 and s["data"]["n_test"] == 100
    assert s["data"]["classes"] == ["1", "2"] and 0.0 <= s["metrics"]["test"]["accuracy"] <= 1.0
    rng = np.random.default_rng(0)
    ts = tmp_path / "new.ts"
    ts.write_text("@classLabel false\n@data\n" + "\n".join(
        ",".join(f"{v:.3f}" for v in rng.normal(size=24)) for _ in range(3)) + "\n")
    long = pd.DataFrame([{"id": f"s{i}", "time": t, "value": float(v)}
                         for i in range(2) for t, v in enumerate(rng.normal(size=20 + i))])
    long.to_csv(tmp_path / "long.csv", index=False)
    np.savez(tmp_path / "new.npz", x=rng.normal(size=(2, 24, 1)), lengths=np.array([24, 12]))
    res = cli("predict", run.run_dir, ts, tmp_path / "long.csv", tmp_path / "new.npz", "--format", "json")
    assert_ok(res)
    rows = json.loads(res.out)
    assert [r["input"].rsplit(":", 1)[1] for r in rows] == ["0", "1", "2", "s0", "s1", "0", "1"]
    assert {r["class"] for r in rows} <= {"1", "2"}
    (tmp_path / "bad.ts").write_text("@classLabel false\n@data\n1,2,x,4\n")
    assert_user_error(cli("predict", run.run_dir, tmp_path / "bad.ts"), "bad.ts", "line 3", "'x'")
    np.savez(tmp_path / "wide.npz", x=rng.normal(size=(2, 24, 3)))
    assert_user_error(cli("predict", run.run_dir, tmp_path / "wide.npz"), "shape (24, 3)", "(T, 1)")


def test_a_pretrained_encoder_on_other_channels_keeps_its_weights_and_says_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.normal(size=(40, 30, 3)).astype(np.float32)
    x[:, :, 1] += np.sin(np.linspace(0, 6, 30))[None] * (2 * y[:, None] - 1)
    np.savez(tmp_path / "src.npz", x=x, y=y)
    pre = tk.pretrain(str(tmp_path / "src.npz"), "sequence:cnn:8", str(tmp_path / "pre"), epochs=2, log=None)
    target = x[:, :, 1:2] * 3 + 1  # one channel, another scale
    np.savez(tmp_path / "tgt.npz", x=target, y=y)
    said: list[str] = []
    run = tk.fit(data=str(tmp_path / "tgt.npz"), backbone=str(pre.run_dir), shots=4,
                 out=str(tmp_path / "fit"), epochs=2, seed=0, log=said.append)
    text = "\n".join(said)
    assert "Channel adapter: 1 target channel(s) -> 3 channel(s) of the pretrained encoder" in text
    desc = json.loads((Path(run.run_dir) / "transferkit.json").read_text())["backbone"]
    assert desc["in_channels"] == 3 and desc["adapter"]["target_channels"] == ["0"]
    model = tk.load(run.run_dir)
    assert model.predict_proba([target[0], target[1][:20]]).shape == (2, 2)


def test_masked_value_pretraining_on_unlabelled_series_then_fit(tmp_path: Path) -> None:
    from transferkit.errors import RunDirError

    rng = np.random.default_rng(0)
    t = np.linspace(0, 6, 32)
    x = np.stack([np.sin(t * rng.uniform(1, 2) + rng.uniform(0, 3)) for _ in range(24)])[..., None]
    np.savez(tmp_path / "unlabelled.npz", x=np.concatenate([x, -x], axis=2))  # no y: 2 channels
    pre = tk.pretrain(str(tmp_path / "unlabelled.npz"), "sequence:cnn:8", str(tmp_path / "ssl"), epochs=3,
                      objective="masked", log=None)
    losses = [json.loads(line)["train_loss"] for line in (Path(pre.run_dir) / "metrics.jsonl").open()]
    assert len(losses) == 3 and losses[-1] < losses[0]  # it learns to fill the hidden spans
    assert pre.summary["pretrain"]["objective"] == "masked" and pre.summary["data"]["n_train"] == 24
    y = np.arange(24) % 2
    np.savez(tmp_path / "target.npz", x=x * (1 + y[:, None, None]), y=y)
    run = tk.fit(data=str(tmp_path / "target.npz"), backbone=str(pre.run_dir), shots=4, epochs=1,
                 out=str(tmp_path / "fit"), log=None)
    assert run.summary["metrics"]["test"]
    with pytest.raises(RunDirError, match="without a prediction head.*--backbone"):
        tk.load(pre.run_dir)
    with pytest.raises(Exception, match="per-step features"):
        tk.pretrain(str(tmp_path / "unlabelled.npz"), "minirocket", str(tmp_path / "x"), objective="masked",
                    log=None)
