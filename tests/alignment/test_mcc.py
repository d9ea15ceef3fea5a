import math

import numpy as np
import pytest
import torch

from transferkit.alignment import build_alignment


def hand_mcc(z: np.ndarray, temperature: float) -> float:
    b, k = z.shape
    y = []
    for row in z:
        e = [math.exp(v / temperature) for v in row]
        y.append([v / sum(e) for v in e])
    h = [-sum(p * math.log(p) for p in yi) for yi in y]
    raw = [1 + math.exp(-hi) for hi in h]
    w = [b * r / sum(raw) for r in raw]
    c = [[sum(w[i] * y[i][j] * y[i][jj] for i in range(b)) for jj in range(k)] for j in range(k)]
    col = [sum(c[j][jj] for j in range(k)) for jj in range(k)]
    c_norm = [[c[j][jj] / col[jj] for jj in range(k)] for j in range(k)]
    return sum(c_norm[j][jj] for j in range(k) for jj in range(k) if j != jj) / k


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_mcc_matches_hand_computation(temperature):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 3)) * 3
    loss = build_alignment("mcc", 2, 3, {"temperature": temperature})
    got = loss(torch.zeros(4, 2), torch.zeros(6, 2), torch.zeros(4, 3), torch.tensor(z))
    assert got.item() == pytest.approx(hand_mcc(z, temperature), rel=1e-9)


def test_mcc_is_small_for_confident_distinct_predictions():
    loss = build_alignment("mcc", 2, 3, {"temperature": 1.0})
    confident = torch.eye(3).repeat(2, 1) * 30
    confused = torch.zeros(6, 3)
    f = torch.zeros(6, 2)
    low = loss(f, f, confident, confident).item()
    high = loss(f, f, confused, confused).item()
    assert low < 1e-6
    assert high == pytest.approx(2 / 3, rel=1e-6)  # uniform: each column is 1/3 everywhere
