import math

import numpy as np
import pytest
import torch

from transferkit.alignment import ALIGNMENTS, build_alignment

MULTIPLIERS = [0.5, 1.0, 2.0]


def hand_mmd(xs: np.ndarray, xt: np.ndarray, base: float | None, unbiased: bool) -> float:
    pts = list(xs) + list(xt)
    n = len(pts)

    def sqdist(a, b):
        return float(sum((a[k] - b[k]) ** 2 for k in range(len(a))))

    if base is None:
        base = sum(sqdist(pts[i], pts[j]) for i in range(n) for j in range(n) if i != j) / (n * n - n)

    def k(a, b):
        return sum(math.exp(-sqdist(a, b) / (2 * m * base)) for m in MULTIPLIERS) / len(MULTIPLIERS)

    ns, nt = len(xs), len(xt)
    if unbiased:
        ss = sum(k(xs[i], xs[j]) for i in range(ns) for j in range(ns) if i != j) / (ns * (ns - 1))
        tt = sum(k(xt[i], xt[j]) for i in range(nt) for j in range(nt) if i != j) / (nt * (nt - 1))
    else:
        ss = sum(k(xs[i], xs[j]) for i in range(ns) for j in range(ns)) / ns**2
        tt = sum(k(xt[i], xt[j]) for i in range(nt) for j in range(nt)) / nt**2
    st = sum(k(xs[i], xt[j]) for i in range(ns) for j in range(nt)) / (ns * nt)
    return ss + tt - 2 * st


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("bandwidth", [None, 1.7])
def test_mmd_matches_hand_computation(estimator, bandwidth):
    rng = np.random.default_rng(1)
    xs, xt = rng.normal(size=(4, 3)), rng.normal(size=(6, 3)) + 0.5
    loss = build_alignment("mmd", 3, 2, {"kernel_multipliers": MULTIPLIERS, "bandwidth": bandwidth,
                                         "estimator": estimator})
    got = loss(torch.tensor(xs), torch.tensor(xt)).item()
    assert got == pytest.approx(hand_mmd(xs, xt, bandwidth, estimator == "unbiased"), rel=1e-9, abs=1e-12)


def test_mmd_grows_with_the_shift_and_is_aliased_as_dan():
    torch.manual_seed(0)
    x, y = torch.randn(64, 5), torch.randn(64, 5)
    loss = build_alignment("mmd", 5, 2, {"bandwidth": 10.0})
    near, far = loss(x, y + 0.2), loss(x, y + 2.0)
    assert far > near * 5
    assert ALIGNMENTS.get("dan") is ALIGNMENTS.get("mmd")
