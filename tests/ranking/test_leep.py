"""LEEP against a direct loop over the paper's definitions."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from transferkit.errors import DataError
from transferkit.ranking.leep import LEEPScore


def slow_leep(theta: np.ndarray, y: np.ndarray) -> float:
    n, cs = theta.shape
    ct = int(y.max()) + 1
    joint = [[0.0] * cs for _ in range(ct)]
    for i in range(n):
        for z in range(cs):
            joint[y[i]][z] += theta[i, z] / n
    total = 0.0
    for i in range(n):
        eep = 0.0
        for z in range(cs):
            pz = sum(joint[c][z] for c in range(ct))
            eep += joint[y[i]][z] / pz * theta[i, z]
        total += math.log(eep)
    return total / n


def test_matches_direct_loop() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(30, 5))
    theta = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, 3, 30)
    got = LEEPScore().score(np.zeros((30, 2)), y, theta)
    assert got == pytest.approx(slow_leep(theta, y), rel=1e-10)


def test_informative_source_beats_uninformative() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 200)
    informative = np.full((200, 6), 0.02)
    informative[np.arange(200), y] = 0.9
    informative /= informative.sum(1, keepdims=True)
    flat = rng.dirichlet(np.ones(6), size=200)
    f = rng.normal(size=(200, 3))
    scorer = LEEPScore()
    assert scorer.score(f, y, informative) > scorer.score(f, y, flat) + 0.5
    assert scorer.score(f, y, informative) <= 0.0


def test_unused_source_class_is_harmless() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 40)
    theta = rng.dirichlet(np.ones(3), size=40)
    padded = np.concatenate([theta, np.zeros((40, 2))], axis=1)  # two never-predicted classes
    scorer = LEEPScore()
    assert scorer.score(np.zeros((40, 1)), y, padded) == pytest.approx(
        scorer.score(np.zeros((40, 1)), y, theta), rel=1e-12)


def test_falls_back_to_nleep_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 90)
    f = rng.normal(size=(90, 10)) + 4 * np.eye(10)[y]
    with caplog.at_level(logging.INFO, logger="transferkit.ranking"):
        value = LEEPScore().score(f, y)
    assert np.isfinite(value)
    assert "NLEEP" in caplog.text


def test_bad_source_probs() -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match="sum to 1"):
        LEEPScore().score(np.zeros((4, 2)), y, np.ones((4, 3)))
    with pytest.raises(DataError, match=r"shape \(N, C_s\)"):
        LEEPScore().score(np.zeros((4, 2)), y, np.ones((3, 3)) / 3)
