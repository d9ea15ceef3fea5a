"""Regression's paired test (R² difference, paired bootstrap) against the plain table models
(ridge, gradient boosting), and the words that follow it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import transferkit as tk
from transferkit.tasks import get_task
from transferkit.tasks.regression import regression_metrics


def test_the_r2_difference_is_judged_by_a_paired_bootstrap() -> None:
    task = get_task("regression")
    rng = np.random.default_rng(0)
    y = rng.normal(size=200) * 10 + 50
    good, poor = y + rng.normal(size=200), y + rng.normal(size=200) * 6
    out = task.compare(y, good.reshape(-1, 1), poor, {}, "ridge", seed=0)
    r2 = regression_metrics(y, good)["r2"] - regression_metrics(y, poor)["r2"]
    assert out["metric"] == "r2" and out["diff"] == pytest.approx(r2) and out["diff"] > 0.1
    assert out["verdict"] == "helped" and out["ci"][0] > 0 and out["p_value"] < 0.01
    assert out["sentence"].startswith(f"transfer helped ({r2 * 100:+.1f} points of R² vs ridge")
    assert task.compare(y, good, poor, {}, "ridge", seed=0) == out  # seeded
    worse = task.compare(y, poor, good, {}, "ridge", seed=0)
    assert worse["verdict"] == "negative" and worse["sentence"].startswith("negative transfer")


def test_a_tiny_test_set_is_no_detectable_difference_not_negative_transfer() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    model = y + np.array([0.5, -0.4, 0.3, 0.6, -0.5, 0.2])  # a little worse than the baseline
    baseline = y + np.array([0.4, -0.3, 0.2, 0.1, -0.6, 0.1])
    out = get_task("regression").compare(y, model, baseline, {}, "hist_gradient_boosting")
    assert out["diff"] < 0 and out["p_value"] >= 0.05
    assert out["verdict"] == "no detectable difference" and "negative" not in out["sentence"]


def test_the_plain_model_warning_follows_the_paired_test() -> None:
    task = get_task("regression")
    metrics = {"test": {"r2": 0.80}}
    untested = {"mean": {"r2": 0.0}, "ridge": {"r2": 0.90}}
    assert task.floor_warning(metrics, untested, {}).startswith("a plain model does better")
    undetected = {"mean": {"r2": 0.0},
                  "ridge": {"r2": 0.90, "paired_test": {"verdict": "no detectable difference"}}}
    assert task.floor_warning(metrics, undetected, {}) is None  # 10 points, but not detected
    detected = {"mean": {"r2": 0.0}, "ridge": {"r2": 0.82, "paired_test": {"verdict": "negative"}}}
    assert "ridge on the same training rows" in task.floor_warning(metrics, detected, {})


def test_a_fit_records_a_paired_test_against_each_plain_table_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=160), rng.normal(size=160)
    frame = pd.DataFrame({"a": a, "b": b, "y": 3 * a - 2 * b + 50 + rng.normal(scale=0.3, size=160)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    lines: list[str] = []
    run = tk.fit(data=str(tmp_path / "t.csv"), label_column="y", backbone="tabular:8",
                 strategy="linear-probe", out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
                 log=lines.append)
    s = run.summary
    r2 = s["metrics"]["test"]["r2"]
    for name in ("ridge", "hist_gradient_boosting"):
        paired = s["baselines"][name]["paired_test"]
        assert paired["baseline"] == name and paired["test"].startswith("paired bootstrap")
        assert paired["diff"] == pytest.approx(r2 - s["baselines"][name]["r2"])
        assert any(line.endswith(paired["sentence"]) for line in lines)
    negative = any(s["baselines"][n]["paired_test"]["verdict"] == "negative"
                   for n in ("ridge", "hist_gradient_boosting"))
    plain_warned = any(w.startswith("a plain model does better") for w in s["warnings"])
    below_floor = any(w.startswith("below the floor") for w in s["warnings"])
    assert below_floor or plain_warned == negative
