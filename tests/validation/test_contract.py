"""Every registered validator honours the contract; none can see target labels."""

import dataclasses
import math

import numpy as np
import pytest

from transferkit.errors import DataError
from transferkit.validation import VALIDATORS, ValidationContext, Validator, build_validator

NAMES = VALIDATORS.names()


def context(seed=0, n_s=40, n_t=30, d=4, k=3):
    rng = np.random.default_rng(seed)
    return ValidationContext(logits_t=rng.normal(size=(n_t, k)), features_t=rng.normal(size=(n_t, d)),
                             features_s=rng.normal(size=(n_s, d)), logits_s=rng.normal(size=(n_s, k)),
                             labels_s=rng.integers(0, k, n_s))


def test_the_three_validators_are_registered():
    assert set(NAMES) == {"dev", "entropy", "snd"}


@pytest.mark.parametrize("name", NAMES)
def test_finite_float_deterministic_and_documented(name):
    validator = build_validator(name)
    assert isinstance(validator, Validator) and validator.higher_is_better is True
    score = validator(context())
    assert isinstance(score, float) and math.isfinite(score)
    assert validator(context()) == score
    doc = VALIDATORS.get(name).__doc__
    assert "http" in doc and "score" in doc
    assert all(f.metadata.get("help") for f in dataclasses.fields(VALIDATORS.config(name)))


@pytest.mark.parametrize("name", NAMES)
def test_missing_context_fields_are_named(name):
    with pytest.raises(DataError, match=f"'{name}' validator needs"):
        build_validator(name)(ValidationContext(features_t=np.zeros((5, 2))))
    with pytest.raises(DataError, match="ValidationContext"):
        build_validator(name)({"logits_t": np.zeros((5, 2))})


def test_the_context_has_no_target_labels():
    names = {f.name for f in dataclasses.fields(ValidationContext)}
    assert names == {"logits_t", "features_t", "features_s", "logits_s", "labels_s", "losses_s"}
    assert not any(n.endswith("_t") and "label" in n for n in names)
    with pytest.raises(TypeError):
        ValidationContext(logits_t=np.zeros((3, 2)), labels_t=np.zeros(3, dtype=int))


def test_context_checks_its_arrays():
    with pytest.raises(DataError, match="rows"):
        ValidationContext(logits_t=np.zeros((3, 2)), features_t=np.zeros((4, 5)))
    with pytest.raises(DataError, match=r"class indices in \[0, 1\]"):
        ValidationContext(logits_s=np.zeros((2, 2)), labels_s=np.array([0, 2]))
    with pytest.raises(DataError, match="int class indices"):
        ValidationContext(logits_s=np.zeros((2, 2)), labels_s=np.array([0.0, 1.0]))
    with pytest.raises(DataError, match="NaN"):
        ValidationContext(logits_t=np.array([[0.0, np.nan]]))
    with pytest.raises(DataError, match="classes"):
        ValidationContext(logits_t=np.zeros((2, 3)), logits_s=np.zeros((2, 2)))
