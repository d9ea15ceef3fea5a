"""H-score: how much of the feature covariance the class means explain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit.options import Options, option
from transferkit.ranking import SCORES
from transferkit.ranking._base import TransferabilityScore, one_hot


@dataclass
class HScoreConfig(Options):
    """Covariance estimate of the H-score."""

    shrinkage: str = option("ledoit-wolf", "Covariance of the features: 'ledoit-wolf' (shrunk, "
                            "stable when N is small or features are redundant) or 'none' (the "
                            "original empirical covariance with a pseudo-inverse).",
                            choices=("ledoit-wolf", "none"))


@SCORES.register("hscore", config=HScoreConfig, aliases=("h-score",),
                 help="H-score (Bao et al., ICIP 2019): tr(cov(f)⁻¹ cov(E[f|y])), with a "
                      "Ledoit-Wolf shrunk covariance.")
class HScore(TransferabilityScore):
    """H-score -- Bao et al., "An Information-Theoretic Approach to Transferability in Task
    Transfer Learning", ICIP 2019, https://ieeexplore.ieee.org/document/8803726.

    ::

        H(f) = tr(cov(f)⁻¹ cov(E[f|y]))

    The plain empirical covariance is singular or ill-conditioned whenever N is small or
    features are redundant, which makes the score unstable. By default we follow the
    regularised H-score of Ibrahim, Ponomareva, Mazumder, "Newer is not always better:
    Rethinking transferability metrics, their peculiarities, stability and performance",
    ECML-PKDD 2022 (https://arxiv.org/abs/2110.06893): cov(f) is the Ledoit-Wolf
    estimate (1−a)·S + a·μI with optimal shrinkage a (scikit-learn), and the between-class
    covariance is scaled by (1−a) to match. Both covariances use the 1/N normalisation.
    ``shrinkage='none'`` gives the original score with a pseudo-inverse.
    Shapes: features (N, D), labels (N,). Higher is better.
    """

    config_class = HScoreConfig
    needs_source_probs = False
    name = "hscore"

    def _score(self, f: np.ndarray, y: np.ndarray, n_classes: int,
               source_probs: np.ndarray | None) -> float:
        n = len(y)
        centred = f - f.mean(axis=0)  # (N, D)
        onehot = one_hot(y, n_classes)  # (N, C)
        counts = onehot.sum(axis=0)  # (C,)
        means = (onehot.T @ centred) / counts[:, None]  # (C, D): centred class means
        weighted = means * np.sqrt(counts / n)[:, None]
        cov_g = weighted.T @ weighted  # (D, D): Σ_c (n_c/N) μ_c μ_cᵀ = cov(E[f|y])
        if self.config.shrinkage == "none":
            cov_f = centred.T @ centred / n
            return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-15, hermitian=True) @ cov_g))
        from sklearn.covariance import ledoit_wolf, ledoit_wolf_shrinkage

        if f.shape[1] > 2 * n:  # wide features (MiniRocket's 9,996): the same score in N dimensions
            shrink = float(ledoit_wolf_shrinkage(centred, assume_centered=True))
            if shrink > 0:
                return _woodbury_score(centred, weighted, shrink)
        cov_f, shrink = ledoit_wolf(centred, assume_centered=True)  # (D, D), scalar
        # cov_f is positive definite once shrunk (shrink > 0); lstsq covers shrink == 0.
        try:
            solved = np.linalg.solve(cov_f, (1.0 - shrink) * cov_g)
        except np.linalg.LinAlgError:
            solved = np.linalg.lstsq(cov_f, (1.0 - shrink) * cov_g, rcond=None)[0]
        return float(np.trace(solved))


def _woodbury_score(centred: np.ndarray, weighted: np.ndarray, shrink: float) -> float:
    """tr(cov_f⁻¹ (1−a) W^T W) with cov_f = (1−a) X^T X / N + a μ I, by the Woodbury identity:
    (cI + U^T U)⁻¹ = (I − U^T (cI + U U^T)⁻¹ U) / c, U = sqrt((1−a)/N) X. Costs O(N² D), not O(D³).
    ``centred`` (N, D), ``weighted`` (C, D)."""
    n, d = centred.shape
    c = shrink * float((centred ** 2).sum()) / (n * d)  # a μ, μ = tr(S) / D
    u = np.sqrt((1.0 - shrink) / n) * centred  # (N, D)
    wu = weighted @ u.T  # (C, N)
    inner = np.linalg.solve(c * np.eye(n) + u @ u.T, wu.T)  # (N, C)
    return float((1.0 - shrink) * (np.sum(weighted ** 2) - np.sum(wu * inner.T)) / c)
