"""Label-free validators: score a model on the target domain without target labels.

Unsupervised domain adaptation has no labelled target data, so checkpoints and
trade-off weights are chosen by a validator: ``validator(ctx) -> float``, higher is
better. The :class:`ValidationContext` holds source validation features, logits and
labels and target features and logits; it has no field for target labels, so no
validator can use them::

    >>> import numpy as np
    >>> from transferkit.validation import VALIDATORS, ValidationContext
    >>> ctx = ValidationContext(logits_t=np.random.randn(50, 3))
    >>> score = VALIDATORS.build("entropy")(ctx)     # higher is better
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transferkit.registry import Registry
from transferkit.validation._base import ValidationContext, Validator

VALIDATORS: Registry[type[Validator]] = Registry("validator", package="transferkit.validation")


def build_validator(name: str, params: Mapping[str, Any] | None = None) -> Validator:
    """``VALIDATORS.build(name, params)``: the validator ``name`` with config keys ``params``."""
    return VALIDATORS.build(name, params)


__all__ = ["VALIDATORS", "ValidationContext", "Validator", "build_validator"]
