"""On a synthetic shift, validators rank a well-adapted classifier above a bad one."""

import numpy as np
import pytest

from transferkit.validation import VALIDATORS, ValidationContext


def two_class_logits(z: np.ndarray) -> np.ndarray:
    return np.c_[-z, z] / 2


def sample(rng, x1: float, x3_std: float, n: int = 400):
    """Class by the sign of x2; domains differ in x1 (mean) and x3 (spread)."""
    y = np.arange(n) % 2
    x = np.c_[rng.normal(x1, 1.0, n), np.where(y == 1, 2.0, -2.0) + rng.normal(0, 0.8, n),
              rng.normal(0, x3_std, n)]
    return x, y


GOOD = {"noise": lambda x: 3 * x[:, 1], "tilt": lambda x: 3 * x[:, 1]}
BAD = {
    # leans on x3, which is constant on the source and noise on the target: unsure, mixed
    "noise": lambda x: 3 * x[:, 1] + 4 * x[:, 2],
    # a boundary that fits the source region but cuts through the target's classes
    "tilt": lambda x: 3 * (x[:, 1] - (x[:, 0] + 1.5)),
}
# SND rewards dense predictions, so a model that puts most of the target into one class can
# fool it (the "tilt" case); DEV's linear domain classifier cannot see a change of spread (x3)
CASES = [("snd", "noise"), ("entropy", "noise"), ("entropy", "tilt"), ("dev", "tilt")]


@pytest.mark.parametrize("name, case", CASES)
def test_validator_prefers_the_adapted_classifier(name, case):
    rng = np.random.default_rng(0)
    x_s, y_s = sample(rng, -1.5, 0.1)
    x_t, y_t = sample(rng, 1.5, 2.0)
    scores, accuracy = {}, {}
    for kind, model in (("good", GOOD[case]), ("bad", BAD[case])):
        logits_s, logits_t = two_class_logits(model(x_s)), two_class_logits(model(x_t))
        ctx = ValidationContext(logits_t=logits_t, features_t=x_t, features_s=x_s, logits_s=logits_s,
                                labels_s=y_s)
        scores[kind] = VALIDATORS.create(name)(ctx)
        accuracy[kind] = (logits_t.argmax(1) == y_t).mean()
    assert accuracy["good"] > accuracy["bad"] + 0.2  # the premise: the bad one is bad on target
    assert scores["good"] > scores["bad"], scores
