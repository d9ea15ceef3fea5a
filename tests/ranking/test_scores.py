"""Contract tests over every registered transferability score."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.errors import ConfigError, DataError
from transferkit.ranking import SCORES, score_all

NAMES = SCORES.names()


def blobs(seed: int, n: int = 150, d: int = 20, k: int = 3, sep: float = 4.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n // k)
    centres = rng.normal(size=(k, d))
    centres *= sep / np.linalg.norm(centres, axis=1, keepdims=True)
    return rng.normal(size=(len(y), d)) + centres[y], rng.normal(size=(len(y), d)), y


def test_all_four_are_registered() -> None:
    assert {"logme", "leep", "nce", "hscore"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_separating_features_score_higher_than_random(name: str) -> None:
    good, noise, y = blobs(0)
    scorer = SCORES.create(name)
    assert scorer.score(good, y) > scorer.score(noise, y)


@pytest.mark.parametrize("name", NAMES)
def test_rank_deficient_features(name: str) -> None:
    good, _, y = blobs(1, n=30, d=8)
    wide = np.concatenate([good, good, np.zeros((30, 40)), good[:, :3] * 2], axis=1)  # N < D
    value = SCORES.create(name).score(wide, y)
    assert np.isfinite(value)


@pytest.mark.parametrize("name", NAMES)
def test_interface(name: str) -> None:
    entry = SCORES.entry(name)
    scorer = SCORES.create(name)
    assert isinstance(scorer.needs_source_probs, bool)
    assert isinstance(scorer.config, entry.config)
    good, _, y = blobs(2, n=60)
    # float32 and list inputs are accepted and give a Python float.
    assert isinstance(scorer.score(good.astype(np.float32), y.tolist()), float)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_name_the_parameter(name: str) -> None:
    scorer = SCORES.create(name)
    with pytest.raises(DataError, match="'features'.*2-D"):
        scorer.score(np.zeros(10), np.zeros(10))
    with pytest.raises(DataError, match="'labels'"):
        scorer.score(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(DataError, match="at least 2 classes"):
        scorer.score(np.ones((10, 2)), np.zeros(10))
    bad = np.ones((10, 2))
    bad[4, 1] = np.nan
    with pytest.raises(DataError, match="row 4"):
        scorer.score(bad, np.arange(10) % 2)


@pytest.mark.parametrize("name", ["logme", "leep", "nce"])
def test_constant_features_are_reported(name: str) -> None:
    with pytest.raises(DataError, match="'features'"):
        SCORES.create(name).score(np.zeros((20, 5)), np.arange(20) % 2)


def test_score_all_returns_score_and_time() -> None:
    good, _, y = blobs(3)
    out = score_all(good, y, names=["logme", "h-score"])
    assert set(out) == {"logme", "hscore"}
    for value, seconds in out.values():
        assert np.isfinite(value) and seconds >= 0.0
    with pytest.raises(ConfigError, match="Did you mean 'logme'"):
        score_all(good, y, names=["logmee"])


def test_source_probs_are_used_when_given() -> None:
    good, _, y = blobs(4)
    informative = np.full((len(y), 3), 0.05)
    informative[np.arange(len(y)), y] = 0.9
    out = score_all(good, y, source_probs=informative, names=["leep", "nce"])
    assert out["nce"][0] == pytest.approx(0.0, abs=1e-12)
    # P̂(y|z) = 0.9 on the diagonal, 0.05 off it: EEP = 0.9·0.9 + 2·0.05·0.05 for every example.
    assert out["leep"][0] == pytest.approx(np.log(0.9 * 0.9 + 2 * 0.05 * 0.05), rel=1e-9)
