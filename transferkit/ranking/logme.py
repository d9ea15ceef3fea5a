"""LogME: the log of the maximum evidence of a Bayesian linear model on the features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit._threads import blas_threads
from transferkit.errors import DataError
from transferkit.options import Options, option
from transferkit.ranking import SCORES
from transferkit.ranking._base import TransferabilityScore, check_label_sets, check_values, one_hot


@dataclass
class LogMEConfig(Options):
    """Fixed-point evidence maximisation of LogME."""

    tol: float = option(1e-6, "Stop when α/β changes by less than this fraction (the reference "
                        "code stops at 1e-3 after at most 11 steps; a tighter tolerance reaches "
                        "the fixed point itself).", gt=0, lt=1)
    max_iter: int = option(100, "Upper bound on fixed-point iterations per class.", ge=1)
    epsilon: float = option(1e-5, "Added to the denominators of the α and β updates, as in the "
                            "reference implementation (keeps a class with m = 0 finite).", ge=0)


@SCORES.register("logme", config=LogMEConfig,
                 help="LogME (You et al., ICML 2021): mean per-sample log evidence of a "
                      "Bayesian linear model, maximised over its prior and noise precisions.")
class LogMEScore(TransferabilityScore):
    """LogME -- You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer
    Learning", ICML 2021, https://arxiv.org/abs/2102.11005.

    For each class c with one-hot target y_c (N,), the evidence of y_c = F w + noise,
    w ~ N(0, α⁻¹I), noise ~ N(0, β⁻¹I), maximised over α, β by the paper's fixed point::

        L(α, β) = D/2 log α + N/2 log β − N/2 log 2π − β/2 ‖F m − y‖² − α/2 mᵀm − ½ log|A|,
        A = αI + βFᵀF,  m = βA⁻¹Fᵀy,  γ = Σ βσᵢ/(α+βσᵢ),  α ← γ/mᵀm,  β ← (N−γ)/‖Fm−y‖²

    The score is the mean over classes of L/N, as in the reference implementation
    (github.com/thuml/LogME). For real-valued targets (regression, the paper's section 4.2)
    the same evidence is taken on the standardised target column itself,
    ``(y - mean) / std``, instead of one-hot columns (:meth:`score_values`). For label sets
    (multi-label) the columns are the multi-hot label columns themselves, each label's 0/1
    indicator as one-hot classes are, and the score is again their mean evidence / N
    (:meth:`score_label_sets`). Shapes: features (N, D), labels (N,). All classes share one
    eigendecomposition of the smaller Gram matrix (FᵀF or FFᵀ), so the cost is
    O(N·D·min(N, D)) once plus O(min(N, D)·C) per iteration, in float64.
    """

    config_class = LogMEConfig
    needs_source_probs = False
    supports_values = True
    supports_label_sets = True
    name = "logme"

    def _score(self, f: np.ndarray, y: np.ndarray, n_classes: int,
               source_probs: np.ndarray | None) -> float:
        return float(np.mean(self.evidences(f, one_hot(y, n_classes))))

    def score_values(self, features: np.ndarray, values: np.ndarray) -> float:
        """LogME of real-valued targets (N,): the evidence / N of the standardised target
        (standardised so that the score does not depend on the target's units). Targets
        (N, K): the mean over the K standardised columns that vary (as over one-hot classes)."""
        f, y = check_values(features, values, self.name)
        cols = y.reshape(len(y), -1)  # (N, K)
        std = cols.std(axis=0)
        if not (std > 0).any():
            raise DataError("The logme score needs targets that vary; every target here is "
                            f"{float(cols.flat[0]):g}. Use data with more than one target value.")
        keep = std > 0
        with blas_threads():  # as in score(): beside torch an unpinned BLAS pool oversubscribes
            return float(np.mean(self.evidences(f, (cols[:, keep] - cols[:, keep].mean(0)) / std[keep])))

    def score_label_sets(self, features: np.ndarray, label_sets: np.ndarray) -> float:
        """LogME of label sets, a multi-hot (N, L) matrix: the mean over labels of the evidence
        / N of each label's 0/1 column -- what :meth:`score` computes on one-hot classes, with
        the label columns in place of the one-hot columns. A label that every example has (or
        none has) is left out: it is fitted by the bias alone and says nothing of the features."""
        f, y = check_label_sets(features, label_sets, self.name)
        with blas_threads():  # as in score(): beside torch an unpinned BLAS pool oversubscribes
            return float(np.mean(self.evidences(f, y)))

    def evidences(self, f: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Per-column maximum evidence / N for targets (N, C) on features f (N, D) -> (C,)."""
        cfg = self.config
        f = np.asarray(f, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.float64)
        n, d = f.shape
        if n >= d:
            sigma, v = np.linalg.eigh(f.T @ f)  # (D,), (D, D)
            sigma = np.clip(sigma, 0.0, None)
            z2 = (v.T @ (f.T @ targets)) ** 2  # (D, C): z = Vᵀ Fᵀ y, and z² = σ x²
            x2 = None
        else:
            sigma, u = np.linalg.eigh(f @ f.T)  # (N,), (N, N)
            sigma = np.clip(sigma, 0.0, None)
            x2 = (u.T @ targets) ** 2  # (N, C): x = Uᵀ y in the eigenbasis of FFᵀ
            z2 = sigma[:, None] * x2
        if sigma.max() <= 0.0:
            raise DataError(
                "The 'features' parameter of the logme score is all zeros, so no linear model "
                "can use it. Check the backbone output or the feature cache."
            )
        yy = (targets**2).sum(axis=0)  # (C,)
        k = len(sigma)
        s = sigma[:, None]  # (k, 1)

        def fit_terms(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            denom = s + t[None, :]  # (k, C)
            gamma = (s / denom).sum(axis=0)
            m2 = (z2 / denom**2).sum(axis=0)  # mᵀm
            if x2 is None:
                # ‖y − Fm‖² = ‖y‖² − Σ z²(σ+2t)/(σ+t)²; rounding can make it a hair negative.
                res2 = np.clip(yy - (z2 * (s + 2 * t[None, :]) / denom**2).sum(axis=0), 0.0, None)
            else:
                res2 = (x2 * (t[None, :] / denom) ** 2).sum(axis=0)
            return gamma, m2, res2

        c = targets.shape[1]
        alpha = np.ones(c)
        beta = np.ones(c)
        active = np.ones(c, dtype=bool)
        for _ in range(cfg.max_iter):
            t = alpha / beta
            gamma, m2, res2 = fit_terms(t)
            new_alpha = gamma / (m2 + cfg.epsilon)
            new_beta = (n - gamma) / (res2 + cfg.epsilon)
            alpha = np.where(active, new_alpha, alpha)
            beta = np.where(active, new_beta, beta)
            active &= np.abs(alpha / beta - t) / t >= cfg.tol
            if not active.any():
                break
        _, m2, res2 = fit_terms(alpha / beta)
        log_det = np.log(alpha[None, :] + beta[None, :] * s).sum(axis=0) + max(d - k, 0) * np.log(alpha)
        evidence = (d / 2.0 * np.log(alpha) + n / 2.0 * np.log(beta) - 0.5 * log_det
                    - beta / 2.0 * res2 - alpha / 2.0 * m2 - n / 2.0 * np.log(2 * np.pi))
        return evidence / n
