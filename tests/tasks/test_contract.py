"""Every registered task: fit -> save -> load -> predict -> evaluate on a tiny example."""

from __future__ import annotations

import math

import numpy as np
import pytest

import transferkit as tk
from transferkit.data import load_splits
from transferkit.jobs.fit import resolve_config
from transferkit.tasks import TASKS, get_task


def _finite(metrics: dict) -> bool:
    return all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))


@pytest.mark.parametrize("name", TASKS.names())
def test_task_fit_save_load_predict_evaluate(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tk.fit(data="breast-cancer-wdbc", backbone="tabular", strategy="full", task=name,
                 epochs=3, seed=0, out=str(tmp_path / name), log=None)
    s = run.summary
    assert s["task"] == name
    assert _finite(s["metrics"]["test"]) and s["metrics"]["test"]
    task = get_task(name)
    assert task.gain_metric in s["metrics"]["test"]
    splits = load_splits(resolve_config(data="breast-cancer-wdbc").data)
    own = set(task.baselines(splits.train, splits.test))
    assert own | {"scratch", "source_only", "oracle"} <= set(s["baselines"])
    assert s["labels_used"] == task.labels_used(splits)
    model = tk.load(run.run_dir)
    assert model.task.name == name
    rows = tk.data.load("breast-cancer-wdbc", split="test").x.head(4)
    outputs = model.predict_proba(rows)
    assert len(outputs) == 4 and np.isfinite(outputs).all()
    assert len(model.prediction_rows(rows)) == 4
    again = tk.evaluate(run.run_dir)
    assert again[task.gain_metric] == pytest.approx(s["metrics"]["test"][task.gain_metric])


@pytest.mark.parametrize("name", TASKS.names())
def test_task_declares_its_selection_metric_and_direction(name):
    task = get_task(name)
    assert task.name == name
    assert task.direction(task.selection_metric) in ("max", "min")
    assert task.direction("loss") == "min"
    assert task.direction(task.gain_metric) in ("max", "min")
    assert task.shots_meaning


def test_task_inference_names_its_rule():
    from transferkit.data import TransferDataset
    from transferkit.errors import ConfigError
    from transferkit.tasks import infer_task

    names = TransferDataset(name="t", modality="text", x=["a", "b"], y=np.array([0, 1]),
                            classes=["spam", "ham"])
    assert infer_task(names)[0] == "classification"
    amounts = TransferDataset(name="money", modality="text", x=["a"] * 3, y=np.arange(3),
                              classes=["1.5", "20.25", "3.75"])
    with pytest.raises(ConfigError, match="--task"):
        infer_task(amounts)


def test_unknown_task_is_a_clear_error(tmp_path):
    from transferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown task 'clasification'. Did you mean 'classification'"):
        tk.fit(data="breast-cancer-wdbc", backbone="tabular", task="clasification",
               out=str(tmp_path / "x"), log=None)
