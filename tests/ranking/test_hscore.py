"""H-score against a direct computation, and its stability on redundant features."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf

from transferkit.errors import ConfigError
from transferkit.ranking.hscore import HScore, HScoreConfig


def slow_hscore(f: np.ndarray, y: np.ndarray, shrink: bool) -> float:
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(axis=0)
    cov_g = np.cov(g, rowvar=False, bias=True)
    if not shrink:
        return float(np.trace(np.linalg.pinv(np.cov(f, rowvar=False, bias=True), rcond=1e-15) @ cov_g))
    lw = LedoitWolf().fit(f)
    return float(np.trace(np.linalg.inv(lw.covariance_) @ ((1 - lw.shrinkage_) * cov_g)))


@pytest.mark.parametrize("shrinkage", ["ledoit-wolf", "none"])
def test_matches_direct_computation(shrinkage: str) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 80)
    f = rng.normal(size=(80, 6)) + rng.normal(size=(4, 6))[y]
    got = HScore(shrinkage=shrinkage).score(f, y)
    assert got == pytest.approx(slow_hscore(f, y, shrinkage == "ledoit-wolf"), rel=1e-8)


def test_shrinkage_is_stable_when_n_is_below_d() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 10)
    noise = rng.normal(size=(30, 100))
    separated = noise + 3 * np.eye(100)[y]
    scorer = HScore()
    good, bad = scorer.score(separated, y), scorer.score(noise, y)
    assert np.isfinite(good) and np.isfinite(bad)
    assert good > bad
    # The unregularised score saturates at rank-deficiency: the classes look perfectly
    # separable even for pure noise, which is what the shrinkage avoids.
    assert HScore(shrinkage="none").score(noise, y) == pytest.approx(2.0, rel=1e-6)


def test_bad_shrinkage() -> None:
    with pytest.raises(ConfigError, match="ledoit-wolf, none"):
        HScoreConfig(shrinkage="oas")


def test_wide_features_take_the_woodbury_route_with_the_same_score() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(12) % 3
    f = rng.normal(size=(12, 60)) + y[:, None] * 0.5  # D > 2N: scored in N dimensions
    got = HScore(HScoreConfig())._score(f, y, 3, None)
    assert got == pytest.approx(slow_hscore(f, y, shrink=True), rel=1e-6)
