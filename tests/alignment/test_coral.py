import numpy as np
import pytest
import torch

from transferkit.alignment import build_alignment
from transferkit.errors import ConfigError


def hand_covariance(x: np.ndarray) -> np.ndarray:
    n, d = x.shape
    mean = [sum(x[i, a] for i in range(n)) / n for a in range(d)]
    cov = np.zeros((d, d))
    for a in range(d):
        for b in range(d):
            cov[a, b] = sum((x[i, a] - mean[a]) * (x[i, b] - mean[b]) for i in range(n)) / (n - 1)
    return cov


def test_coral_matches_the_paper_formula():
    rng = np.random.default_rng(0)
    xs, xt = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)) * 2 + 1
    cs, ct = hand_covariance(xs), hand_covariance(xt)
    d = 3
    expected = sum((cs[a, b] - ct[a, b]) ** 2 for a in range(d) for b in range(d)) / (4 * d * d)
    loss = build_alignment("coral", 3, 2)
    got = loss(torch.tensor(xs), torch.tensor(xt))
    assert got.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_coral_is_zero_for_equal_covariances_and_scaled_by_weight():
    x = torch.randn(6, 4, dtype=torch.float64)
    assert build_alignment("coral", 4, 2)(x, x + 3.0).item() == pytest.approx(0.0, abs=1e-12)
    y = torch.randn(7, 4, dtype=torch.float64)
    one = build_alignment("coral", 4, 2)(x, y)
    three = build_alignment("coral", 4, 2, {"weight": 3.0})(x, y)
    assert three.item() == pytest.approx(3 * one.item(), rel=1e-12)


def test_coral_needs_two_examples_per_domain():
    with pytest.raises(ConfigError, match="at least 2 examples"):
        build_alignment("coral", 3, 2)(torch.randn(1, 3), torch.randn(4, 3))
