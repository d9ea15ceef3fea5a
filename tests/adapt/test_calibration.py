"""Calibration inside adapt: a temperature fitted on the labelled source validation split,
stored in the saved head (predict applies it), with the target test ECE before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferkit import adapt


def test_adapt_calibrates_on_source_validation_and_saves_it(tmp_path: Path, shifted_table) -> None:
    from transferkit.jobs.predict import load

    run = adapt(source=shifted_table(tmp_path / "s.csv", 0.0, 0),
                target={"data": shifted_table(tmp_path / "t.csv", 1.0, 1), "max_test": 40},
                backbone="tabular:8", method="coral", select="entropy", epochs=1,
                cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), log=None)
    s = run.summary
    cal = s["calibration"]
    assert cal["method"] == "temperature" and cal["fitted_on"] == "source-val"
    assert cal["n_val"] == s["data"]["n_val"] > 0
    assert cal["val_nll_after"] <= cal["val_nll_before"] + 1e-9
    assert cal["accuracy_after"] == cal["accuracy_before"]  # a temperature keeps every prediction
    assert s["metrics"]["test"]["ece"] == pytest.approx(cal["ece_after"])
    assert "accuracy" in s["metrics"]["test"]["ci"]  # the target test metrics carry their CIs
    head = load(run.run_dir).model.head  # saved with the run: predict, serve and export apply it
    assert float(head.temperature) == pytest.approx(cal["temperature"], rel=1e-6)
    assert float(run.model.head.temperature) == pytest.approx(cal["temperature"], rel=1e-6)
    html = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "before and after temperature scaling" in html


def test_adapt_calibration_none_leaves_the_head_alone(tmp_path: Path, shifted_table) -> None:
    run = adapt(source=shifted_table(tmp_path / "s.csv", 0.0, 0),
                target={"data": shifted_table(tmp_path / "t.csv", 1.0, 1), "max_test": 10},
                backbone="tabular:8", method="source-only", epochs=1, task_params={"calibration": "none"},
                cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), log=None)
    cal = run.summary["calibration"]
    assert cal["method"] == "none" and cal["ece_after"] == cal["ece_before"]
    assert float(run.model.head.temperature) == 1.0
