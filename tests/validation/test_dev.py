import math

import numpy as np
import pytest

from transferkit.validation import VALIDATORS, ValidationContext
from transferkit.validation.dev import cross_fitted_density_ratio, dev_risk


def test_dev_risk_matches_the_control_variate_formula():
    rng = np.random.default_rng(0)
    losses, weights = rng.random(7) * 2, rng.random(7) * 3
    n = len(losses)
    weighted = [w * ell for w, ell in zip(weights, losses, strict=True)]
    mean_l, mean_w = sum(weighted) / n, sum(weights) / n
    cov = sum((weighted[i] - mean_l) * (weights[i] - mean_w) for i in range(n)) / (n - 1)
    var = sum((weights[i] - mean_w) ** 2 for i in range(n)) / (n - 1)
    eta = -cov / var
    expected = mean_l + eta * mean_w - eta
    assert dev_risk(losses, weights) == pytest.approx(expected, rel=1e-12)


def test_dev_risk_without_shift_is_the_mean_loss():
    losses = np.array([0.1, 0.5, 2.0])
    assert dev_risk(losses, np.ones(3)) == pytest.approx(losses.mean())
    # the control variate removes the part of the weighted loss that the weights explain
    w = np.array([0.5, 1.0, 1.5])
    assert dev_risk(np.ones(3), w) == pytest.approx(1.0)


def test_dev_validator_is_minus_the_risk_of_the_cross_entropy():
    rng = np.random.default_rng(1)
    f_s, f_t = rng.normal(size=(60, 3)), rng.normal(size=(50, 3)) + 0.5
    logits_s, labels_s = rng.normal(size=(60, 4)), rng.integers(0, 4, 60)
    ctx = ValidationContext(features_s=f_s, logits_s=logits_s, labels_s=labels_s, features_t=f_t,
                            logits_t=rng.normal(size=(50, 4)))
    ce = []
    for z, y in zip(logits_s, labels_s, strict=True):
        ce.append(-(z[y] - math.log(sum(math.exp(v) for v in z))))
    weights = cross_fitted_density_ratio(f_s, f_t, 1.0, 5, 0)
    score = VALIDATORS.create("dev")(ctx)
    assert score == pytest.approx(-dev_risk(np.array(ce), weights), rel=1e-10)


def test_density_ratio_is_near_one_without_shift_and_follows_the_shift():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(1200, 2))
    same = cross_fitted_density_ratio(f[:600], f[600:])
    assert abs(np.median(same) - 1) < 0.1
    shifted = cross_fitted_density_ratio(f[:600], f[600:] + np.array([1.0, 0.0]))
    # points of the source that lie toward the target get larger weights
    assert np.corrcoef(f[:600, 0], np.log(shifted))[0, 1] > 0.9
