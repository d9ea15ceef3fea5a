"""The engine's Run: names that cannot escape runs/, one Summary shape for every job,
config fingerprints that ignore where a run is written."""

from __future__ import annotations

import json

import pytest

from transferkit.config import FitConfig, from_dict
from transferkit.errors import ConfigError
from transferkit.pipeline import Run, Summary, run_directory
from transferkit.pipeline.run import RUNS_ROOT, config_fingerprint


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".", "x\\y", "/tmp/x", "a" * 201])
def test_a_run_name_cannot_escape_runs(name):
    with pytest.raises(ConfigError, match="'name' parameter of fit must be a plain run name"):
        run_directory(None, name, "default")


def test_fit_refuses_a_name_that_is_a_path(tmp_path, monkeypatch):
    import transferkit as tk

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="'name' parameter of fit must be a plain run name"):
        tk.fit(data="breast-cancer-wdbc", backbone="tabular", name="../../x", log=None)
    assert list(tmp_path.iterdir()) == []


def test_run_names_and_out():
    assert run_directory(None, "my run_1.2", "d") == RUNS_ROOT / "my run_1.2"
    assert run_directory(None, "", "d") == RUNS_ROOT / "d"
    assert run_directory("elsewhere/x", "ignored", "d").as_posix() == "elsewhere/x"
    assert run_directory(None, None, "data/x:y z") == RUNS_ROOT / "data-x-y-z"


def test_config_fingerprint_ignores_output_keys_only():
    a = from_dict(FitConfig, {"data": {"data": "digits"}, "out": "runs/a", "name": "a"})
    b = from_dict(FitConfig, {"data": {"data": "digits"}, "out": "runs/b", "cache_dir": "/tmp/c"})
    c = from_dict(FitConfig, {"data": {"data": "digits"}, "train": {"lr": 0.01}})
    assert config_fingerprint(a) == config_fingerprint(b)
    assert config_fingerprint(a) != config_fingerprint(c)


def test_summary_shape_and_validation():
    s = Summary(task="classification", command="fit", data={}, backbone="b", strategy="s",
                choice="c", metrics={"test": {}}, baselines={}, transfer_gain=None,
                selection={}, timings={}, auto={"x": 1})
    d = s.to_dict()
    assert list(d)[:3] == ["transferkit_version", "task", "command"]
    assert "auto" in d and "adapt" not in d
    assert Summary.validate(d) == []
    assert "missing key 'metrics'" in Summary.validate({k: v for k, v in d.items() if k != "metrics"})
    assert "unknown key 'oops'" in Summary.validate({**d, "oops": 1})


def test_run_writes_once_and_holds_the_lock(tmp_path):
    s = Summary(task="classification", command="fit", data={}, backbone="b", strategy="s",
                choice="c", metrics={"test": {}}, baselines={}, transfer_gain=None,
                selection={}, timings={})
    with Run("fit", out=tmp_path / "r") as run:
        assert (tmp_path / ".r.lock").is_file()  # other processes are refused (tests/reliability)
        assert run.dir == tmp_path / ".r.partial" and not (tmp_path / "r").exists()
        run.fingerprints["config"] = "abc"
        data = run.finish(s)
        assert run.dir == tmp_path / "r" and not (tmp_path / ".r.partial").exists()
        with pytest.raises(RuntimeError, match="already finished"):
            run.finish(s)
    assert not (tmp_path / ".r.lock").exists()
    on_disk = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(data)) and on_disk["fingerprints"]["config"] == "abc"


def test_small_images_get_a_resolution_chosen_for_them():
    import numpy as np

    from transferkit.data import TransferDataset
    from transferkit.pipeline.build import data_resolution

    def images(side):
        return TransferDataset("imgs", "image", np.zeros((4, side, side), np.uint8), np.arange(4) % 2,
                               ["a", "b"])

    assert data_resolution(images(8)) == 64 and data_resolution(images(25)) == 64
    assert data_resolution(images(100)) == 128 and data_resolution(images(300)) is None
    texts = TransferDataset("t", "text", ["a", "b"], np.array([0, 1]), ["a", "b"])
    assert data_resolution(texts) is None
    # random init: the native size rounded up to the stride 32, at any size (no 224 to match)
    assert data_resolution(images(8), pretrained=False) == 32
    assert data_resolution(images(28), pretrained=False) == 32
    assert data_resolution(images(100), pretrained=False) == 128
    assert data_resolution(images(300), pretrained=False) == 320
    assert data_resolution(texts, pretrained=False) is None
