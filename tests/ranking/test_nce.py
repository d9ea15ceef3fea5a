"""NCE against a direct loop, and its invariance to renaming source labels."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from transferkit.ranking.nce import NCEScore


def slow_nce(z: np.ndarray, y: np.ndarray) -> float:
    n = len(y)
    joint = Counter(zip(y.tolist(), z.tolist(), strict=True))
    zc = Counter(z.tolist())
    return sum(c / n * math.log(c / zc[zz]) for (_, zz), c in joint.items())


def hard(z: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(z), k))
    out[np.arange(len(z)), z] = 1.0
    return out


def test_matches_direct_loop() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 60)
    logits = rng.normal(size=(60, 7))
    theta = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = NCEScore().score(np.zeros((60, 2)), y, theta)
    assert got == pytest.approx(slow_nce(theta.argmax(1), y), rel=1e-12)


def test_invariant_to_permuting_source_labels() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 50)
    z = (y + rng.integers(0, 2, 50)) % 5
    perm = rng.permutation(5)
    scorer = NCEScore()
    assert scorer.score(np.zeros((50, 1)), y, hard(z, 5)) == pytest.approx(
        scorer.score(np.zeros((50, 1)), y, hard(perm[z], 5)), rel=1e-12)


def test_perfect_source_labels_give_zero() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    assert NCEScore().score(np.zeros((6, 1)), y, hard(np.array([4, 0, 2, 4, 0, 2]), 5)) == 0.0
    # One source label for everything: NCE = -H(Y).
    value = NCEScore().score(np.zeros((6, 1)), y, hard(np.zeros(6, dtype=int), 2))
    assert value == pytest.approx(-math.log(3), rel=1e-12)
