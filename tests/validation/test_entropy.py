import math

import numpy as np
import pytest
import torch

from transferkit.validation import VALIDATORS, ValidationContext


def test_entropy_validator_matches_hand_computation():
    z = np.random.default_rng(0).normal(size=(4, 3)) * 2
    total = 0.0
    for row in z:
        e = [math.exp(v) for v in row]
        total += -sum((v / sum(e)) * math.log(v / sum(e)) for v in e)
    expected = -total / 4
    score = VALIDATORS.create("entropy")(ValidationContext(logits_t=z))
    assert isinstance(score, float) and score == pytest.approx(expected, rel=1e-12)


def test_confident_predictions_score_higher_and_tensors_are_accepted():
    sure = VALIDATORS.create("entropy")(ValidationContext(logits_t=torch.eye(3) * 20))
    unsure = VALIDATORS.create("entropy")(ValidationContext(logits_t=torch.zeros(3, 3)))
    assert unsure == pytest.approx(-math.log(3)) and sure > unsure
