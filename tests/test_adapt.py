"""`adapt`: beats source-only on a shifted problem, selects without target labels, sweeps by
the validator, writes a complete run directory, and the CLI names bad methods/validators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from transferkit.errors import ConfigError
from transferkit.jobs.adapt import (
    AdaptConfig,
    adapt,
    check_method,
    check_validator,
    load_data,
    resolve_adapt_config,
)


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _blobs(n: int, shift: float, seed: int) -> pd.DataFrame:
    """Two classes that differ along both columns; the target is shifted along column b,
    so a source-only classifier (which leans on b) mislabels much of the target."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = np.where(y == 0, -1.5, 1.5) + rng.normal(0, 0.8, n)
    b = np.where(y == 0, -1.0, 1.0) + rng.normal(0, 0.8, n) + shift
    return pd.DataFrame({"a": a, "b": b, "label": np.where(y == 0, "no", "yes")})


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("shift")
    _blobs(240, 0.0, 0).to_csv(root / "src.csv", index=False)
    _blobs(240, 4.0, 1).to_csv(root / "tgt.csv", index=False)
    return {"source": {"data": str(root / "src.csv"), "label_column": "label"},
            "target": str(root / "tgt.csv"), "backbone": "tabular:16", "cache_dir": str(root / "cache")}


def _run(shifted: dict[str, Any], out: Path, **kw: object):
    args = {"select": "entropy", "epochs": 12, "lr": 3e-3, "batch_size": 32, **kw}
    return adapt(**shifted, out=str(out), log=None, **args)


def test_adapt_beats_source_only_and_writes_run(shifted: dict[str, Any], tmp_path: Path) -> None:
    run = _run(shifted, tmp_path / "run", method="subspace")
    s = run.summary
    adapted = s["metrics"]["test"]["accuracy"]
    source_only = s["baselines"]["source_only"]["test"]["accuracy"]
    assert adapted > source_only + 0.2, (adapted, source_only)
    assert s["command"] == "adapt" and s["adapt"]["adaptation_gain"] == pytest.approx(adapted - source_only)
    assert s["selection"]["split"] == "target-unlabelled" and s["selection"]["validator"] == "entropy"
    assert s["baselines"]["oracle"]["test"]["accuracy"] >= adapted - 1e-9
    assert "oracle" in s["baselines"]["oracle"]["note"]
    on_disk = json.loads((run.run_dir / "summary.json").read_text())
    assert on_disk["baselines"]["source_only"]["test"]["accuracy"] == source_only
    with np.load(run.run_dir / "projection.npz") as z:
        assert set(z.files) == {"before_s", "before_t", "after_s", "after_t"}
        assert all(0 < len(z[k]) <= 500 for k in z.files)
    # the saved model carries the target transform: predicting raw target rows reproduces
    # the reported accuracy
    import transferkit as tk

    data = load_data(resolve_adapt_config(source=shifted["source"], target=shifted["target"]),
                     lambda _m: None)
    predictor = tk.load(run.run_dir)
    pred = np.asarray(predictor.predict(data.target_test.x))
    truth = np.asarray(data.target_test.classes)[data.target_test.y]
    assert np.mean(pred == truth) == pytest.approx(adapted, abs=1e-9)


def test_selection_never_reads_target_labels(shifted: dict[str, Any], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(shifted, tmp_path / "a", method="mmd", epochs=6)
    import transferkit.jobs.adapt.job as job

    original = job.load_data

    def scrambled(cfg: AdaptConfig, log: object) -> object:
        data = original(cfg, log)
        rng = np.random.default_rng(123)
        data.target_train.y = rng.permutation(data.target_train.y)
        data.target_test.y = rng.integers(0, 2, len(data.target_test.y))
        return data

    monkeypatch.setattr(job, "load_data", scrambled)
    second = _run(shifted, tmp_path / "b", method="mmd", epochs=6)
    for key, value in first.model.state_dict().items():
        torch.testing.assert_close(value, second.model.state_dict()[key])
    pick = [(c["name"], c["validator"], c["selected_step"]) for c in first.summary["selection"]["candidates"]]
    assert pick == [(c["name"], c["validator"], c["selected_step"])
                    for c in second.summary["selection"]["candidates"]]
    # ...while what the labels are used for (evaluation and the oracle) did change
    assert first.summary["metrics"]["test"]["accuracy"] != second.summary["metrics"]["test"]["accuracy"]


def test_sweep_keeps_the_validators_choice(shifted: dict[str, Any], tmp_path: Path) -> None:
    run = _run(shifted, tmp_path / "sweep", method="coral", sweep=True, sweep_weights=[0.1, 3.0],
               epochs=4)
    cands = run.summary["selection"]["candidates"]
    assert [c["weight"] for c in cands] == [0.1, 3.0]
    assert all(isinstance(c["validator"], float) for c in cands)
    chosen = [c for c in cands if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["validator"] == max(c["validator"] for c in cands)
    assert run.summary["metrics"]["test"]["accuracy"] == pytest.approx(chosen[0]["target_test_accuracy"])


def test_unknown_method_and_validator_messages(shifted: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    from transferkit.cli import main

    with pytest.raises(ConfigError, match="Did you mean 'dann'"):
        check_method("dannn")
    with pytest.raises(ConfigError, match="coral-transform"):
        check_method("coral-transfrom")
    with pytest.raises(ConfigError, match="Did you mean 'snd'"):
        check_validator("snt")
    assert check_method("cdan+e") == "cdan"
    code = main(["adapt", "--source", shifted["source"]["data"], "--target", shifted["target"],
                 "--method", "dannn"])
    err = capsys.readouterr().err
    assert code == 2 and "Unknown adaptation method 'dannn'" in err and "Available:" in err
    code = main(["adapt", "--source", shifted["source"]["data"], "--target", shifted["target"],
                 "--select", "accuracy"])
    err = capsys.readouterr().err
    assert code == 2 and "Unknown validator 'accuracy'" in err and "snd" in err


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="'target.shots' parameter must be an int >= 1. Got 0"):
        resolve_adapt_config(source="a", target={"data": "b", "shots": 0})
    with pytest.raises(ConfigError, match="sweep_weights"):
        AdaptConfig(sweep_weights=[])
    with pytest.raises(ConfigError, match="'sweep_weights"):
        AdaptConfig(sweep_weights=[1.0, -2.0])
    with pytest.raises(ConfigError, match="'source_tolerance' parameter must be"):
        resolve_adapt_config(source="a", target="b", source_tolerance=1.5)
    with pytest.raises(ConfigError, match="'weight' parameter must be"):
        resolve_adapt_config(source="a", target="b", weight=-1)
    with pytest.raises(ConfigError, match=r"'target.data' parameter of adapt \(--target\) is required"):
        adapt(source="digits", log=None)


def test_train_overrides_keep_adapts_training_defaults(tmp_path: Path) -> None:
    from transferkit.jobs.adapt import adapt_train_defaults

    default = adapt_train_defaults()
    cfg = resolve_adapt_config(source="a", target="b", epochs=3)
    # one train key given: the others stay adapt's (no early stopping on source-val accuracy)
    assert cfg.train.epochs == 3
    assert (cfg.train.patience, cfg.train.batch_size) == (default.patience, default.batch_size)
    yaml_file = tmp_path / "adapt.yaml"
    yaml_file.write_text("source: a\ntarget: b\ntrain:\n  batch_size: 16\n", encoding="utf-8")
    cfg = resolve_adapt_config(yaml_file, overrides=["train.lr=0.01"])
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.patience) == (16, 0.01, default.patience)


def _image_set(name: str, x: np.ndarray, y: np.ndarray):
    from transferkit.data.dataset import TransferDataset

    return TransferDataset(name=name, modality="image", x=x, y=y, classes=["a", "b"])


def test_match_resolution_downsamples_the_larger_domain_by_area() -> None:
    from transferkit.jobs.adapt import match_resolution, native_size, resample_images

    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    small = rng.integers(0, 256, (2, 7, 7), dtype=np.uint8)
    src, tgt = _image_set("src", big, np.array([0, 1, 0])), _image_set("tgt", small, np.array([0, 1]))
    assert native_size(src) == (28, 28) and native_size(tgt) == (7, 7)
    assert match_resolution(src, tgt) == ((7, 7), "source")
    assert match_resolution(tgt, src) == ((7, 7), "target")
    assert match_resolution(src, src) == ((28, 28), None)
    out = resample_images(src, (7, 7))
    assert out.x.shape == (3, 7, 7) and out.x.dtype == np.uint8 and out.meta["resampled_to"] == [7, 7]
    # BOX = the mean of each 4x4 block (up to rounding), labels untouched, input not modified
    blocks = big.reshape(3, 7, 4, 7, 4).astype(np.float64).mean(axis=(2, 4))
    assert np.abs(out.x.astype(np.float64) - blocks).max() <= 1.0
    assert np.array_equal(out.y, src.y) and src.x.shape == (3, 28, 28)
    # images of mixed sizes (a list) and colour images work too
    mixed = _image_set("mixed", [big[0], rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)],
                       np.array([0, 1]))
    res = resample_images(mixed, (7, 7))
    assert [np.asarray(a).shape for a in res.x] == [(7, 7), (7, 7, 3)]


def test_match_resolution_rejects_non_image_data(shifted: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="match_resolution"):
        _run(shifted, tmp_path / "r", method="coral", match_resolution=True, epochs=1)
