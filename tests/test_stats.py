"""Bootstrap intervals, paired tests and the wording that follows them."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.errors import ConfigError
from transferkit.stats import bootstrap_ci, mcnemar, paired_bootstrap, resample_indices, verdict


def acc(y, p):
    return float((y == p).mean())


def test_mcnemar_against_the_hand_computed_binomial():
    # 8 examples only A gets right, 2 only B: p = 2 * P(X >= 8 | n=10, 1/2) = 2 * 56 / 1024
    a = np.array([1] * 8 + [0] * 2 + [1] * 5, dtype=bool)
    b = np.array([0] * 8 + [1] * 2 + [1] * 5, dtype=bool)
    out = mcnemar(a, b)
    assert (out["only_a"], out["only_b"]) == (8, 2)
    assert out["p_value"] == pytest.approx(112 / 1024)
    assert mcnemar(a, a)["p_value"] == 1.0


def test_stratified_resampling_keeps_each_class_count():
    y = np.array([0] * 30 + [1] * 10)
    idx = resample_indices(len(y), 50, seed=3, strata=y)
    assert all((y[i] == 1).sum() == 10 for i in idx)
    assert np.array_equal(idx, resample_indices(len(y), 50, seed=3, strata=y))  # seeded


def test_bootstrap_interval_covers_the_truth_with_the_binomial_width():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    pred = np.where(rng.random(400) < 0.8, y, 1 - y)
    lo, hi = bootstrap_ci(acc, y, pred, seed=0)
    point = acc(y, pred)
    assert lo < point < hi and lo < 0.8 < hi
    assert hi - lo == pytest.approx(2 * 1.96 * np.sqrt(point * (1 - point) / 400), rel=0.2)


def test_paired_bootstrap_of_identical_and_clearly_different_models():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    same = paired_bootstrap(acc, y, y.copy(), y.copy())
    assert same["diff"] == 0 and same["p_value"] == 1.0
    worse = np.where(rng.random(300) < 0.6, y, (y + 1) % 3)
    out = paired_bootstrap(acc, y, y.copy(), worse, seed=0)
    assert out["diff"] == pytest.approx(1 - acc(y, worse))
    assert out["p_value"] < 0.01 and out["ci_low"] > 0


def test_a_tiny_test_set_is_no_detectable_difference_not_negative_transfer():
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0])
    transfer = y.copy()
    transfer[0] = 1  # one mistake more than scratch on 9 examples
    scratch = y.copy()
    test = mcnemar(transfer == y, scratch == y)
    ci = paired_bootstrap(acc, y, transfer, scratch, seed=0)
    kind, text = verdict(ci["diff"], (ci["ci_low"], ci["ci_high"]), test["p_value"], test="McNemar")
    assert kind == "no detectable difference" and "negative" not in text
    assert "-11.1 points" in text and "95 % CI" in text


def test_verdict_wording_follows_the_test():
    kind, text = verdict(0.047, (0.012, 0.081), 0.004, test="McNemar")
    assert kind == "helped" and text.startswith("transfer helped (+4.7 points vs scratch, 95 % CI +1.2 … +8.1")
    kind, text = verdict(-0.05, (-0.08, -0.02), 0.001)
    assert kind == "negative" and text.startswith("negative transfer")


def test_bad_parameters_are_named():
    with pytest.raises(ConfigError, match="'level'"):
        bootstrap_ci(acc, np.zeros(3), np.zeros(3), level=1.5)
    with pytest.raises(ConfigError, match="'n_boot'"):
        bootstrap_ci(acc, np.zeros(3), np.zeros(3), n_boot=2)


def test_resamples_of_a_large_test_set_are_drawn_in_blocks(monkeypatch):
    """Up to RESAMPLE_CELLS the index sets are resample_indices' rows; above, blocks of
    rounds: as many sets, each class count kept, the same for the same seed."""
    from transferkit import stats
    from transferkit.stats import iter_resamples

    y = np.array([0] * 30 + [1] * 10)
    assert np.array_equal(np.array(list(iter_resamples(len(y), 50, 3, y))), resample_indices(len(y), 50, seed=3, strata=y))
    monkeypatch.setattr(stats, "RESAMPLE_CELLS", 7 * len(y))  # blocks of 7 rounds
    sets = list(iter_resamples(len(y), 50, 3, y))
    assert len(sets) == 50 and all(len(i) == 40 and (y[i] == 1).sum() == 10 for i in sets)
    assert np.array_equal(np.array(sets), np.array(list(iter_resamples(len(y), 50, 3, y))))
    assert len({i.tobytes() for i in sets}) == 50


def test_sign_flip_test_enumerates_every_sign_pattern_and_respects_the_sample_size():
    import itertools

    from transferkit.stats import sign_flip_test

    d = np.array([0.4, -0.1, 0.7, 0.2, 0.5])
    # brute force: the share of the 2^5 sign patterns whose |mean| reaches the observed one
    means = [abs(np.mean(d * np.array(s))) for s in itertools.product((1, -1), repeat=5)]
    assert sign_flip_test(d) == pytest.approx(np.mean(np.array(means) >= abs(d.mean()) - 1e-12))
    assert sign_flip_test(np.array([0.3, 0.5])) == 0.5  # two windows, both better: still p = 2 / 4
    assert sign_flip_test(np.zeros(4)) == 1.0 and sign_flip_test(np.array([])) == 1.0
    many = np.random.default_rng(0).normal(0.5, 1.0, 200)  # a real effect on many units
    assert sign_flip_test(many) < 0.01


def test_forecasting_paired_test_on_two_windows_never_claims_a_difference():
    from transferkit.tasks.forecasting import ForecastingTask

    task = ForecastingTask()
    h = 3
    # two windows (scaled targets z = 0, anchors 0, MASE scale 1); the model is exact, the
    # baseline off by 1 on every step: a bootstrap over 2 windows would say p < 0.001
    extra = np.column_stack([np.zeros(2), np.arange(2), np.zeros(2), np.ones(2), np.ones(2)])
    targets = np.hstack([np.zeros((2, h)), np.zeros((2, h)), extra])
    q = len(task.config.quantiles)
    model, baseline = np.zeros((2, h * q)), np.ones((2, h * q))
    out = task.compare(targets, model, baseline, {}, baseline="seasonal_naive")
    assert out["diff"] > 0 and out["p_value"] == 0.5 and out["windows"] == 2
    assert out["verdict"] == "no detectable difference" and "sign-flip test over 2 test windows" in out["sentence"]
