import math

import numpy as np
import pytest

from transferkit.errors import ConfigError
from transferkit.validation import VALIDATORS, ValidationContext


def hand_snd(embed: np.ndarray, tau: float) -> float:
    n = len(embed)
    e = [row / math.sqrt(sum(v * v for v in row)) for row in embed]
    total = 0.0
    for i in range(n):
        sims = {j: sum(e[i][k] * e[j][k] for k in range(len(e[i]))) / tau for j in range(n) if j != i}
        norm = sum(math.exp(s) for s in sims.values())
        total += -sum((math.exp(s) / norm) * math.log(math.exp(s) / norm) for s in sims.values())
    return total / n


def softmax_rows(z):
    out = []
    for row in z:
        e = [math.exp(v) for v in row]
        out.append([v / sum(e) for v in e])
    return np.array(out)


@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_snd_matches_hand_computation(tau):
    z = np.random.default_rng(1).normal(size=(6, 3)) * 2
    got = VALIDATORS.create("snd", temperature=tau)(ValidationContext(logits_t=z))
    assert got == pytest.approx(hand_snd(softmax_rows(z), tau), rel=1e-9)


def test_snd_on_features_and_subsampling():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(7, 4))
    ctx = ValidationContext(logits_t=rng.normal(size=(7, 2)), features_t=f)
    got = VALIDATORS.create("snd", on="features", temperature=0.3)(ctx)
    assert got == pytest.approx(hand_snd(f, 0.3), rel=1e-9)
    big = ValidationContext(logits_t=rng.normal(size=(50, 3)))
    sub = VALIDATORS.create("snd", max_samples=10, seed=3)
    assert sub(big) == sub(big)  # the subset is fixed by the seed
    assert sub(big) <= math.log(9) + 1e-12  # at most log(n - 1) with 10 examples


def test_snd_errors():
    with pytest.raises(ConfigError, match="temperature"):
        VALIDATORS.create("snd", temperature=0)
    with pytest.raises(ConfigError, match="Did you mean 'features'"):
        VALIDATORS.create("snd", on="feature")
