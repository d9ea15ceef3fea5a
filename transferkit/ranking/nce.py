"""NCE: negative conditional entropy of target labels given source labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.options import Options, option
from transferkit.ranking import SCORES
from transferkit.ranking._base import PseudoSourceConfig, TransferabilityScore, pseudo_source_probs


@dataclass
class NCEConfig(Options):
    """NCE, with NLEEP pseudo source labels when the backbone has no classifier."""

    pseudo: PseudoSourceConfig = option(factory=PseudoSourceConfig,
                                        help="NLEEP fallback used when no source_probs are given.")


@SCORES.register("nce", config=NCEConfig,
                 help="NCE (Tran et al., ICCV 2019): negative conditional entropy of the target "
                      "labels given the source model's hard labels.")
class NCEScore(TransferabilityScore):
    """NCE -- Tran, Nguyen, Hassner, "Transferability and Hardness of Supervised
    Classification Tasks", ICCV 2019, https://arxiv.org/abs/1908.08142.

    With zᵢ = argmax θ(xᵢ) the source model's hard label and P̂ the empirical joint::

        NCE = −H(Y|Z) = Σ_{y,z} P̂(y, z) log P̂(y|z)

    Invariant to renaming (permuting) source or target labels. Without ``source_probs``
    the hard labels come from NLEEP's Gaussian mixture on PCA-reduced features (Li et al.,
    CVPR 2021), which is logged. Shapes: features (N, D), labels (N,), source_probs
    (N, C_s). The score is ≤ 0; higher is better.
    """

    config_class = NCEConfig
    needs_source_probs = True
    name = "nce"

    def _score(self, f: np.ndarray, y: np.ndarray, n_classes: int,
               source_probs: np.ndarray | None) -> float:
        theta = source_probs if source_probs is not None else pseudo_source_probs(
            f, n_classes, self.config.pseudo, self.name)  # (N, C_s)
        z = np.argmax(theta, axis=1)  # (N,)
        n = len(y)
        joint = np.zeros((n_classes, theta.shape[1]))
        np.add.at(joint, (y, z), 1.0 / n)  # (C_t, C_s)
        marginal = joint.sum(axis=0, keepdims=True)
        mask = joint > 0
        cond = np.divide(joint, marginal, out=np.ones_like(joint), where=mask)
        return float(np.sum(joint[mask] * np.log(cond[mask])))
