"""LEEP: log of the expected empirical prediction of the source classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.options import Options, option
from transferkit.ranking import SCORES
from transferkit.ranking._base import PseudoSourceConfig, TransferabilityScore, one_hot, pseudo_source_probs

_TINY = 1e-300  # keeps log() finite when a target label gets zero predicted mass


@dataclass
class LEEPConfig(Options):
    """LEEP, with NLEEP pseudo source probabilities when the backbone has no classifier."""

    pseudo: PseudoSourceConfig = option(factory=PseudoSourceConfig,
                                        help="NLEEP fallback used when no source_probs are given.")


@SCORES.register("leep", config=LEEPConfig,
                 help="LEEP (Nguyen et al., ICML 2020): log expected empirical prediction of the "
                      "source classifier; NLEEP pseudo labels when it has none.")
class LEEPScore(TransferabilityScore):
    """LEEP -- Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of Learned
    Representations", ICML 2020, https://arxiv.org/abs/2002.12462.

    With θ(x) the source classifier's probabilities over source labels z::

        P̂(y, z) = 1/N Σ_{i: yᵢ=y} θ(xᵢ)_z,   P̂(y|z) = P̂(y, z) / Σ_y' P̂(y', z),
        LEEP = 1/N Σᵢ log Σ_z P̂(yᵢ|z) θ(xᵢ)_z

    Without ``source_probs`` it falls back to NLEEP (Li et al., CVPR 2021,
    https://arxiv.org/abs/2011.11200): θ(x) are the posteriors of a Gaussian mixture on
    the PCA-reduced features (logged). Shapes: features (N, D), labels (N,),
    source_probs (N, C_s). The score is ≤ 0; higher is better.
    """

    config_class = LEEPConfig
    needs_source_probs = True
    name = "leep"

    def _score(self, f: np.ndarray, y: np.ndarray, n_classes: int,
               source_probs: np.ndarray | None) -> float:
        theta = source_probs if source_probs is not None else pseudo_source_probs(
            f, n_classes, self.config.pseudo, self.name)  # (N, C_s)
        n = len(y)
        joint = one_hot(y, n_classes).T @ theta / n  # (C_t, C_s)
        marginal = joint.sum(axis=0, keepdims=True)  # (1, C_s)
        # A source label that is never predicted has P̂(z) = 0 and contributes nothing.
        cond = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
        eep = (theta * cond[y]).sum(axis=1)  # (N,): Σ_z P̂(yᵢ|z) θ(xᵢ)_z
        return float(np.mean(np.log(np.maximum(eep, _TINY))))
