"""Negative mean prediction entropy on the target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from transferkit.options import Options
from transferkit.validation import VALIDATORS
from transferkit.validation._base import ValidationContext, Validator, log_softmax


@dataclass
class EntropyValidatorConfig(Options):
    """The entropy validator has no options."""


@VALIDATORS.register("entropy", config=EntropyValidatorConfig)
class EntropyValidator(Validator):
    """Prediction entropy (Morerio et al., ICLR 2018, https://arxiv.org/abs/1711.10288).

    ``score = (1/n_t) sum_i sum_k p_ik log p_ik`` with ``p = softmax(logits_t)``: minus the
    mean entropy, so confident target predictions score higher. Uses ``logits_t (n_t, K)``.
    Known failure: a model that is confidently wrong scores well.
    """

    name: ClassVar[str] = "entropy"
    config_class: ClassVar[type] = EntropyValidatorConfig

    @property
    def needs_class_probabilities(self) -> bool:
        return True

    def score(self, ctx: ValidationContext) -> float:
        ctx.require(self.name, "logits_t")
        log_p = log_softmax(ctx.logits_t)
        return float((np.exp(log_p) * log_p).sum(axis=1).mean())
