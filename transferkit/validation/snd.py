"""Soft neighbourhood density of the target predictions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from transferkit.options import Options, option
from transferkit.validation import VALIDATORS
from transferkit.validation._base import ValidationContext, Validator, softmax


@dataclass
class SNDConfig(Options):
    """SND options."""

    temperature: float = option(0.05, "Temperature tau of the neighbourhood softmax (the paper "
                                "uses 0.05).", gt=0)
    on: str = option("probabilities", "Embed target examples by their softmax 'probabilities' "
                     "(the paper's choice) or by their 'features'.",
                     choices=("probabilities", "features"))
    max_samples: int = option(4000, "Score a fixed random subset of at most this many target "
                              "examples (the cost is quadratic).", ge=2)
    seed: int = option(0, "Seed of that subset.")


@VALIDATORS.register("snd", config=SNDConfig)
class SNDValidator(Validator):
    """Soft Neighbourhood Density (Saito et al., ICCV 2021, https://arxiv.org/abs/2108.10860).

    With ``e_i`` the L2-normalised softmax output of target example ``i``:
    ``A_ij = exp(e_i.e_j / tau) / sum_{k != i} exp(e_i.e_k / tau)`` for ``j != i`` and
    ``score = -(1/n) sum_i sum_{j != i} A_ij log A_ij``. Dense, well-clustered target
    predictions give a high score. Uses ``logits_t (n_t, K)`` (or ``features_t``).
    Known failure: predictions collapsed onto few classes are dense too, and score well.
    """

    name: ClassVar[str] = "snd"
    config_class: ClassVar[type] = SNDConfig

    @property
    def needs_class_probabilities(self) -> bool:
        return self.config.on == "probabilities"

    def score(self, ctx: ValidationContext) -> float:
        field = "logits_t" if self.config.on == "probabilities" else "features_t"
        ctx.require(self.name, field, min_rows=2)
        x = getattr(ctx, field)
        if len(x) > self.config.max_samples:
            rng = np.random.default_rng(self.config.seed)
            x = x[np.sort(rng.choice(len(x), self.config.max_samples, replace=False))]
        e = softmax(x) if self.config.on == "probabilities" else x
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)  # (n, d)
        n = len(e)
        total = 0.0
        for start in range(0, n, 1024):  # rows in chunks: memory stays O(1024 n)
            stop = min(start + 1024, n)
            sim = e[start:stop] @ e.T / self.config.temperature  # (c, n)
            sim[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # no self-similarity
            sim -= sim.max(axis=1, keepdims=True)
            log_a = sim - np.log(np.exp(sim).sum(axis=1, keepdims=True))
            a = np.exp(log_a)
            total += float(-(a * np.where(np.isfinite(log_a), log_a, 0.0)).sum())
        return total / n
