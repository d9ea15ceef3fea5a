import math

import numpy as np
import pytest
import torch

from transferkit.alignment import build_alignment


def test_entropy_matches_hand_computation():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, 4)) * 2
    total = 0.0
    for row in z:
        e = [math.exp(v) for v in row]
        p = [v / sum(e) for v in e]
        total += -sum(pk * math.log(pk) for pk in p)
    expected = total / len(z)
    loss = build_alignment("entropy", 3, 4, {"weight": 1.0})
    got = loss(torch.zeros(2, 3), torch.zeros(5, 3), torch.zeros(2, 4), torch.tensor(z))
    assert got.item() == pytest.approx(expected, rel=1e-9)


def test_entropy_default_weight_and_extremes():
    loss = build_alignment("entropy", 3, 4)
    assert loss.weight == pytest.approx(0.1)
    uniform = loss(torch.zeros(2, 3), torch.zeros(3, 3), torch.zeros(2, 4), torch.zeros(3, 4))
    assert uniform.item() == pytest.approx(0.1 * math.log(4), rel=1e-6)
    sure = loss(torch.zeros(2, 3), torch.zeros(3, 3), torch.zeros(2, 4),
                torch.tensor([[50.0, 0, 0, 0]] * 3))
    assert sure.item() == pytest.approx(0.0, abs=1e-12)
