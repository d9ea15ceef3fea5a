"""LogME against a direct, slow implementation of the paper's evidence maximisation."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.logme_reference import slow_logme
from transferkit.errors import ConfigError
from transferkit.ranking import SCORES
from transferkit.ranking.logme import LogMEConfig, LogMEScore


@pytest.mark.parametrize(("n", "d", "k"), [(120, 10, 3), (40, 60, 4), (200, 32, 5)])
def test_matches_direct_implementation(n: int, d: int, k: int) -> None:
    rng = np.random.default_rng(n + d)
    y = rng.integers(0, k, n)
    f = rng.normal(size=(n, d)) + 1.5 * rng.normal(size=(k, d))[y]
    fast = LogMEScore().score(f, y)
    slow = slow_logme(f, y)
    assert fast == pytest.approx(slow, rel=1e-6)


def test_matches_with_reference_tolerance() -> None:
    # The reference implementation's early stop (1e-3); both sides take the same steps.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 80)
    f = rng.normal(size=(80, 12)) + rng.normal(size=(3, 12))[y]
    fast = SCORES.create("logme", tol=1e-3, max_iter=11).score(f, y)
    assert fast == pytest.approx(slow_logme(f, y, tol=1e-3, max_iter=11), rel=1e-6)


def test_labels_need_not_be_contiguous() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    f = rng.normal(size=(60, 8)) + np.eye(8)[y] * 2
    scorer = LogMEScore()
    assert scorer.score(f, y) == pytest.approx(scorer.score(f, np.array([7, 11, 40])[y]), rel=1e-12)


def test_rank_deficient_features_stay_finite_and_match() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 50)
    base = rng.normal(size=(50, 6)) + np.eye(6)[y % 6]
    dup = np.concatenate([base, base, base[:, :2] * 3.0], axis=1)  # rank 6 of 14
    value = LogMEScore().score(dup, y)
    assert np.isfinite(value)
    assert value == pytest.approx(slow_logme(dup, y), rel=1e-6)


def test_invalid_config() -> None:
    with pytest.raises(ConfigError, match="'tol'"):
        LogMEConfig(tol=0.0)
    with pytest.raises(ConfigError, match="Unknown configuration key 'tolerance'"):
        LogMEScore(tolerance=1e-3)
