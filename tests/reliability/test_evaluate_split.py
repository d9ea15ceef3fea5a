"""``transferkit evaluate RUN`` evaluates the run's own split: rebuilt from the whole
recorded data configuration (fractions, seeds, ``skip_bad`` ...) and checked against the
split fingerprint the run recorded (issue 24, H3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reliability.helpers import TAB, assert_ok, assert_user_error, cli, write_image_folder, write_table
from transferkit.config import DataConfig
from transferkit.data import load_splits
from transferkit.pipeline.run import split_fingerprint
from transferkit.rundir import read_manifest


@pytest.fixture(scope="module")
def fractions_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("evalsplit")
    data = write_table(root / "t.csv", n=90)
    run = root / "run"
    assert_ok(cli("fit", "--data", data, *TAB, "--out", run,
                  "--set", "data.test_fraction=0.1", "--set", "data.val_fraction=0.05"))
    return {"root": root, "data": data, "run": run}


def _json(*argv: object) -> dict:
    res = cli("evaluate", *argv, "--json")
    assert_ok(res)
    return json.loads(res.out)


def test_evaluate_rebuilds_the_runs_own_test_split(fractions_run: dict) -> None:
    run, data = fractions_run["run"], fractions_run["data"]
    summary = json.loads((run / "summary.json").read_text())
    expected = load_splits(DataConfig(data=str(data), test_fraction=0.1, val_fraction=0.05)).test
    default = load_splits(DataConfig(data=str(data))).test
    assert len(default) != len(expected)  # what evaluate used to take (the default fractions)
    m = _json(run)
    assert m["n"] == summary["data"]["n_test"] == len(expected) == 9
    assert m["data"]["own_split"] and m["data"]["fingerprint_checked"]
    recorded = read_manifest(run)["fingerprints"]["splits"]["test"]
    assert recorded == split_fingerprint(expected)  # the same rows, in the same order
    assert m["accuracy"] == pytest.approx(summary["metrics"]["test"]["accuracy"])
    # naming the run's own data file is the same as naming none
    assert _json(run, "--data", data)["n"] == 9
    assert _json(run, "--split", "val")["n"] == summary["data"]["n_val"]


def test_evaluate_refuses_when_the_data_changed_since_the_fit(fractions_run: dict, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(fractions_run["run"], run)
    data = tmp_path / "t.csv"
    write_table(data, n=90, seed=1)  # same shape, other values
    cfg = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(cfg.replace(str(fractions_run["data"]), str(data)))
    assert_user_error(cli("evaluate", run), "not the one the run was fitted on", "changed since the fit",
                      "--data")
    before = data.read_bytes()
    # data named explicitly is evaluated as it is now, with no split check
    assert _json(run, "--data", data, "--split", "all")["n"] == 90
    assert data.read_bytes() == before


def test_a_run_fitted_with_skip_bad_can_be_evaluated(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "imgs", per_class=6)
    (folder / "cat" / "broken.png").write_bytes(b"not a png")
    run = tmp_path / "run"
    assert_ok(cli("fit", "--data", folder, "--backbone", "timm:test_efficientnet", "--no-pretrained",
                  "--epochs", "1", "--quiet", "--image-size", "32", "--skip-bad", "--out", run))
    m = _json(run)
    assert m["data"]["fingerprint_checked"]
    assert m["n"] == json.loads((run / "summary.json").read_text())["data"]["n_test"]
    # other data named explicitly: --skip-bad is a flag of evaluate too
    import shutil

    other = shutil.copytree(folder, tmp_path / "other")
    assert_user_error(cli("evaluate", run, "--data", other), "broken.png")
    assert _json(run, "--data", other, "--skip-bad", "--split", "all")["n"] == 12
