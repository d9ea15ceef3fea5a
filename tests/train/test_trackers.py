"""--report-to: Accelerate's trackers, one tracker run per run directory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import transferkit as tk
from transferkit.errors import ConfigError
from transferkit.trackers import check_trackers, tracker_names


def test_tracker_names_are_checked_and_normalised():
    assert check_trackers("MLflow, tensorboard") == "tensorboard,mlflow"
    assert check_trackers("none") == "none" and check_trackers(None) == "none"
    assert check_trackers("all") == "tensorboard,mlflow,wandb"
    assert tracker_names("none", tensorboard=True) == ["tensorboard"]  # --tensorboard stays an alias
    assert tracker_names("mlflow", tensorboard=True) == ["tensorboard", "mlflow"]
    with pytest.raises(ConfigError, match="'report_to' parameter takes .*tensorboard, mlflow, wandb.*'comet'"):
        check_trackers("comet")


def _table(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 2))
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.where(x[:, 0] > 0, "p", "n")}).to_csv(path, index=False)
    return path


def test_report_to_mlflow_writes_one_mlflow_run_per_run_directory(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run = tk.fit(data=str(_table(tmp_path)), label_column="y", backbone="tabular", strategy="gradual",
                 epochs=2, max_steps=10, report_to="mlflow", out=str(tmp_path / "run"), log=None)
    stages = [s["stage"] for s in run.summary["stages"]]
    ids = json.loads((run.run_dir / "trackers.json").read_text())
    mlflow.set_tracking_uri(store.as_uri())
    runs = mlflow.search_runs(experiment_names=["transferkit"], output_format="list")
    assert [r.info.run_id for r in runs] == [ids["mlflow"]]  # every stage logged into one run
    logged = runs[0].data
    assert logged.params["lr"] == "0.001" and logged.params["stage"] == stages[0]
    for stage in stages:
        assert any(k.startswith(f"{stage}/val_") for k in logged.metrics), (stage, logged.metrics)
    assert runs[0].info.run_name == "run"


def test_report_to_tensorboard_writes_event_files(tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    run = tk.fit(data=str(_table(tmp_path)), label_column="y", backbone="tabular", strategy="full",
                 epochs=2, report_to="tensorboard", out=str(tmp_path / "run"), log=None)
    assert list((run.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
