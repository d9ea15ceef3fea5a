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
    task = get_task(name)
    data = TASKS.get(name).tiny_example(tmp_path)  # each task fits data of its own kind
    # a task whose data needs its own kind of backbone (tokens, pixels, series) names it
    how = {"backbone": "tabular", "strategy": "full", "epochs": 3}
    how.update({k: data.pop(k) for k in list(data) if k in how})
    run = tk.fit(**data, **how, task=name, seed=0, out=str(tmp_path / name), log=None)
    s = run.summary
    assert s["task"] == name
    assert _finite(s["metrics"]["test"]) and s["metrics"]["test"]
    assert task.gain_metric in s["metrics"]["test"]
    splits = load_splits(resolve_config(**data).data, targets=task.targets)
    own = set(task.baselines(splits.train, splits.test))
    assert own | {"scratch", "source_only", "oracle"} <= set(s["baselines"])
    assert s["labels_used"] == task.labels_used(splits)
    model = tk.load(run.run_dir)
    assert model.task.name == name
    labels = {k: data[k] for k in ("label_column", "label_separator", "label_columns") if k in data}
    x = tk.data.load(data["data"], split="test", targets=task.targets, **labels).x
    rows = x.head(4) if hasattr(x, "head") else x[:4]  # table rows, or arrays (images, series windows)
    outputs = model.predict_proba(rows)
    assert len(outputs) == 4 and np.isfinite(outputs).all()
    assert len(model.prediction_rows(rows)) == 4
    assert len(model.predict(rows)) == 4
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


def test_task_inference_names_its_rule(monkeypatch):
    from transferkit.data import TransferDataset
    from transferkit.errors import ConfigError
    from transferkit.tasks import infer_task

    names = TransferDataset(name="t", modality="text", x=["a", "b"], y=np.array([0, 1]),
                            classes=["spam", "ham"])
    assert infer_task(names)[0] == "classification"
    grades = TransferDataset(name="g", modality="text", x=["a"] * 5, y=np.arange(5),
                             classes=["1", "2", "3", "4", "5"])
    assert infer_task(grades)[0] == "classification"
    amounts = TransferDataset(name="money", modality="text", x=["a"] * 3, y=np.arange(3),
                              classes=["1.5", "20.25", "3.75"])
    assert infer_task(amounts) == ("regression", "the labels are non-integer numbers (3 distinct values)")
    counts = TransferDataset(name="counts", modality="text", x=["a"] * 60, y=np.arange(60),
                             classes=[str(i) for i in range(60)])
    name, why = infer_task(counts)
    assert name == "regression" and "60 distinct integers (more than 50" in why
    # labels no task takes: the error names each task's reason and the way out
    monkeypatch.setattr(TASKS.get("regression"), "matches", classmethod(lambda cls, y: (False, "no")))
    with pytest.raises(ConfigError, match="regression: no.*--task"):
        infer_task(amounts)


def test_unknown_task_is_a_clear_error(tmp_path):
    from transferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown task 'clasification'. Did you mean 'classification'"):
        tk.fit(data="breast-cancer-wdbc", backbone="tabular", task="clasification",
               out=str(tmp_path / "x"), log=None)
