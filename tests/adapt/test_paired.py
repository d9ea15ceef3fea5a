"""adapt's gain over the source-only model is judged by a paired test on the same target test
examples; the words (console, warnings, summary) follow the test, not the sign alone."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import transferkit.jobs.adapt.job as job
from transferkit.jobs.adapt import adapt, resolve_adapt_config
from transferkit.tasks import get_task


def _judged(y: np.ndarray, adapted: np.ndarray, source_only: np.ndarray) -> tuple[dict, list[str], list[str]]:
    """(paired test, warnings, console lines) of an adapted model's predicted classes against
    the source-only model's, through the job's own functions."""
    cfg = resolve_adapt_config(source="a", target="b", method="dann", select="snd")
    task = get_task("classification")
    acc_a, acc_s = float((adapted == y).mean()), float((source_only == y).mean())
    outcome = job.Outcome(model=None, chosen="dann", candidates=[], source_only_candidate={},
                          source_only={"test": {"accuracy": acc_s}}, test={"accuracy": acc_a},
                          oracle=None, source_only_outputs=np.eye(2)[source_only])
    data = SimpleNamespace(target_test=SimpleNamespace(y=y))
    paired = job.paired_test(cfg, task, data, np.eye(2)[adapted], outcome, {"classes": ["a", "b"]})
    lines: list[str] = []
    warnings = job._report(cfg, outcome, acc_a - acc_s, "accuracy", lines.append, paired)
    return paired, warnings, lines


def test_a_tiny_target_test_set_is_no_detectable_difference_not_negative_transfer() -> None:
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0])
    adapted = y.copy()
    adapted[0] = 1  # one mistake more than the source-only model: a gain of -11 points
    paired, warnings, lines = _judged(y, adapted, y.copy())
    assert paired["verdict"] == "no detectable difference" and paired["p_value"] == 1.0
    assert paired["diff"] == pytest.approx(-1 / 9) and paired["baseline"] == "source-only"
    assert paired["sentence"].startswith("adaptation: no detectable difference (-11.1 points vs source-only")
    assert warnings == [] and not any("negative transfer" in line for line in lines)


def test_a_detected_loss_is_negative_transfer_and_a_detected_gain_is_said_so() -> None:
    y = np.tile([0, 1], 50)  # 100 target test examples
    worse = y.copy()
    worse[:30] = 1 - y[:30]  # 30 mistakes the source-only model does not make
    paired, warnings, _ = _judged(y, worse, y.copy())
    assert paired["verdict"] == "negative" and paired["p_value"] < 0.001
    assert warnings == [paired["sentence"]]
    assert warnings[0].startswith("negative transfer: the adapted model (dann, selected by snd) is worse "
                                  "than the source-only baseline (-30.0 points")
    assert "Adaptation did not help here" in warnings[0]
    paired, warnings, lines = _judged(y, y.copy(), worse)
    assert paired["verdict"] == "helped" and warnings == []
    assert any(line.endswith(paired["sentence"]) for line in lines)
    assert paired["sentence"].startswith("adaptation helped (+30.0 points vs source-only, 95 % CI")


def test_an_adapt_run_records_its_paired_tests(tmp_path: Path, shifted_table) -> None:
    run = adapt(source=shifted_table(tmp_path / "s.csv", 0.0, 0),
                target={"data": shifted_table(tmp_path / "t.csv", 1.5, 1), "max_test": 5},
                backbone="tabular:8", method="coral", select="entropy", epochs=1,
                cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), log=None)
    s = run.summary
    paired = s["adapt"]["paired_test"]
    # 5 examples: McNemar's exact test cannot reach p < 0.05, whatever the two models answer
    assert s["data"]["n_test"] == 5 and paired["verdict"] == "no detectable difference"
    assert paired["diff"] == pytest.approx(s["adapt"]["adaptation_gain"])
    assert not any(w.startswith("negative transfer") for w in s["warnings"])
    majority = s["baselines"]["majority"]["paired_test"]  # the plain baseline, same examples
    assert majority["baseline"] == "majority" and majority["test"].startswith("McNemar")
    html = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "adaptation: no detectable difference" in html


def test_the_source_only_model_is_shown_beside_the_plain_tool_on_the_same_features(
        tmp_path: Path, shifted_table, monkeypatch: pytest.MonkeyPatch) -> None:
    """adapt's source-only baseline is checked against scikit-learn's logistic regression on
    the very same frozen features (source rows in, target test rows out): the row holds that
    tool's scores, computed here by hand from the cached features, and its paired test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    seen: dict = {}
    original = job.feature_baselines

    def spy(mode, seed, log):
        seen["features"] = mode.plain_features()
        seen["y_test"] = np.asarray(mode.data.target_test.y)
        return original(mode, seed, log)

    monkeypatch.setattr(job, "feature_baselines", spy)
    run = adapt(source=shifted_table(tmp_path / "s.csv", 0.0, 0),
                target=shifted_table(tmp_path / "t.csv", 1.5, 1),
                backbone="tabular:8", method="coral", select="entropy", epochs=1,
                cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), log=None)
    row = run.summary["baselines"][job.SOURCE_ONLY_LOGISTIC]
    x, y, x_test = seen["features"]
    hand = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[y >= 0], y[y >= 0])
    expected = float(np.mean(hand.predict(x_test) == seen["y_test"]))
    assert row["accuracy"] == pytest.approx(expected)
    assert row["train_rows"] == int((y >= 0).sum()) and len(x_test) == len(seen["y_test"])
    assert row["paired_test"]["baseline"] == job.SOURCE_ONLY_LOGISTIC
