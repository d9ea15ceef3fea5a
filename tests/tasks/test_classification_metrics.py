import numpy as np
import pytest

from transferkit.errors import DataError
from transferkit.tasks.classification import (
    classification_metrics,
    expected_calibration_error,
    majority_baseline,
    negative_transfer_warning,
    transfer_gain,
)


def test_ece_against_direct_computation():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=200)
    y = rng.integers(0, 4, size=200)
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    direct = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        m = (conf > lo) & (conf <= hi)
        if m.any():
            direct += m.sum() / 200 * abs(correct[m].mean() - conf[m].mean())
    assert expected_calibration_error(y, probs) == pytest.approx(direct, abs=1e-12)


def test_metrics_and_detail():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.9 + 0.1 / 3
    m = classification_metrics(y, probs, ["a", "b", "c"], detailed=True)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert m["confusion_matrix"][0] == [1, 1, 0]
    assert set(m["per_class"]) == {"a", "b", "c"}


def test_unseen_label_is_a_clear_error():
    with pytest.raises(DataError, match="never saw"):
        classification_metrics(np.array([0, 3]), np.full((2, 2), 0.5))


def test_gain_and_negative_transfer():
    metrics = {"test": {"accuracy": 0.6}}
    assert transfer_gain(metrics, {"test": {"accuracy": 0.7}}) == pytest.approx(-0.1)
    assert "negative transfer" in negative_transfer_warning(-0.1)
    assert negative_transfer_warning(0.05) is None
    assert transfer_gain(metrics, None) is None


def test_majority_baseline():
    out = majority_baseline(np.array([1, 1, 0]), np.array([1, 0, 1, 1]))
    assert out["accuracy"] == 0.75
    assert out["balanced_accuracy"] == 0.5


def test_bootstrap_metrics_match_the_reported_definitions():
    from transferkit.tasks.classification import _fast_metrics

    rng = np.random.default_rng(0)
    for k in (2, 3, 6):
        y = rng.integers(0, k, 150)
        pred = np.where(rng.random(150) < 0.5, y, rng.integers(0, k, 150))
        pred[pred == 1] = 0  # a class that is never predicted
        m = classification_metrics(y, np.eye(k)[pred])
        assert _fast_metrics(y, pred, k) == pytest.approx(
            (m["accuracy"], m["balanced_accuracy"], m["macro_f1"]), abs=1e-12)


def test_intervals_bracket_the_test_metrics_and_are_seeded():
    from transferkit.tasks import get_task

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    probs = np.eye(3)[np.where(rng.random(300) < 0.7, y, (y + 1) % 3)] * 0.8 + 0.2 / 3
    task = get_task("classification")
    ci = task.intervals(y, probs, {"classes": ["a", "b", "c"]}, seed=0)
    m = classification_metrics(y, probs)
    for name in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert ci[name][0] < m[name] < ci[name][1]
    assert ci == task.intervals(y, probs, {"classes": ["a", "b", "c"]}, seed=0)
    assert ci["level"] == 0.95 and ci["n_boot"] == 1000


def test_the_paired_comparison_of_a_tiny_test_set_detects_nothing():
    from transferkit.tasks import get_task

    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0])
    model = np.eye(2)[y]
    model[0] = [0.2, 0.8]  # one more mistake than the baseline
    out = get_task("classification").compare(y, model, np.eye(2)[y], {"classes": ["a", "b"]})
    assert out["verdict"] == "no detectable difference" and "negative" not in out["sentence"]
    assert out["diff"] == pytest.approx(-1 / 9) and out["p_value"] == 1.0
    assert out["discordant"] == [0, 1] and out["test"].startswith("McNemar")
