"""The majority baseline comes from the labelled pool, and a model no better than a
constant answer is told so in plain words (console, summary.json, report)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

import transferkit as tk
from transferkit.config import FitConfig
from transferkit.pipeline.baselines import judge
from transferkit.tasks import get_task
from transferkit.tasks.classification import floor_warning, majority_baseline


def test_tied_shots_take_the_majority_class_of_the_pool(tmp_path):
    # class "a" (index 0) is the minority of the pool; 3 shots per class tie.
    rng = np.random.default_rng(0)
    labels = ["a"] * 20 + ["b"] * 80
    pd.DataFrame({"x1": rng.normal(size=100), "x2": rng.normal(size=100), "label": labels}).to_csv(
        tmp_path / "t.csv", index=False)
    splits = tk.data.load_splits(str(tmp_path / "t.csv"), shots=3, val_fraction=0.0)
    assert np.bincount(splits.train.y).tolist() == [3, 3]
    majority = get_task().baselines(splits.train, splits.test)["majority"]
    b = list(splits.classes).index("b")
    assert majority["class"] == b
    assert majority["accuracy"] == np.mean(splits.test.y == b) > 0.5
    # without the pool's prior, the tie would have picked class 0
    assert majority_baseline(splits.train.y, splits.test.y)["class"] == 0


def test_floor_warning_below_and_above():
    majority = {"accuracy": 0.658, "balanced_accuracy": 0.5, "class": 1}
    low = floor_warning({"accuracy": 0.343, "balanced_accuracy": 0.51}, majority, 2, ["bad", "great"])
    assert low is not None and low.startswith("below the floor:")
    assert "not above chance" in low and "'great' (65.8%)" in low and "constant answer" in low
    assert floor_warning({"accuracy": 0.70, "balanced_accuracy": 0.66}, majority, 2) is None
    # above chance but below the majority class still warns
    mix = floor_warning({"accuracy": 0.6, "balanced_accuracy": 0.7}, majority, 2)
    assert "below always answering" in mix and "class mix" in mix


def _splits(pool_prior):
    y_test = np.array([1] * 7 + [0] * 3)
    train = SimpleNamespace(y=np.array([0, 0, 1, 1]), classes=["bad", "great"],
                            meta={"class_prior": pool_prior})
    return SimpleNamespace(train=train, test=SimpleNamespace(y=y_test), val=SimpleNamespace(y=[]),
                           leakage=[], skipped=[])


def test_judge_warns_below_the_floor_and_not_above():
    cfg, task, said = FitConfig(), get_task(), []
    below = {"test": {"accuracy": 0.3, "balanced_accuracy": 0.5}}
    _, _, warnings = judge(cfg, task, _splits([20, 80]), below, None, False, said.append)
    assert any(w.startswith("below the floor:") for w in warnings)
    assert any("below the floor" in s for s in said)
    above = {"test": {"accuracy": 0.9, "balanced_accuracy": 0.9}}
    _, _, warnings = judge(cfg, task, _splits([20, 80]), above, None, False, said.append)
    assert not any(w.startswith("below the floor:") for w in warnings)
