"""Shared pieces of the transferability scores: the base class and input checks.

The leading underscore keeps the registry's module discovery from treating this file
as a score; every score file imports :class:`TransferabilityScore` from here.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar

import numpy as np

from transferkit._threads import blas_threads
from transferkit.errors import ConfigError, DataError
from transferkit.options import Options, option, resolve_config

logger = logging.getLogger("transferkit.ranking")


class TransferabilityScore:
    """A transferability score: ``score(features, labels, source_probs) -> float``.

    Higher means more transferable. Scores work on frozen (cached) features and never
    train a network. Subclasses set ``config_class`` and implement :meth:`_score`.

    Parameters
    ----------
    config:
        The score's config dataclass; ``None`` uses the defaults.
    **params:
        Individual config keys instead of a config object
        (``LogMEScore(tol=1e-8)``); unknown keys raise :class:`ConfigError`.
    """

    config_class: ClassVar[type]
    needs_source_probs: ClassVar[bool] = False
    #: True when the score also ranks real-valued targets (regression): see :meth:`score_values`
    supports_values: ClassVar[bool] = False
    #: True when the score also ranks label sets (multi-label): see :meth:`score_label_sets`
    supports_label_sets: ClassVar[bool] = False
    name: ClassVar[str] = "score"

    def __init__(self, config: Any = None, **params: Any) -> None:
        self.config = resolve_config(self.config_class, config, params)

    def score(self, features: np.ndarray, labels: np.ndarray,
              source_probs: np.ndarray | None = None) -> float:
        """Transferability of ``features`` (N, D) for ``labels`` (N,); higher is better.

        ``source_probs`` (N, C_s) are the source classifier's class probabilities on the
        same examples, used by the scores with ``needs_source_probs`` (LEEP, NCE).
        """
        f, y, n_classes = check_inputs(features, labels, self.name)
        probs = None if source_probs is None else check_probs(source_probs, len(y), self.name)
        with blas_threads():  # beside torch, an unpinned BLAS pool oversubscribes the cores
            return float(self._score(f, y, n_classes, probs))

    def _score(self, f: np.ndarray, y: np.ndarray, n_classes: int,
               source_probs: np.ndarray | None) -> float:
        raise NotImplementedError

    def score_values(self, features: np.ndarray, values: np.ndarray) -> float:
        """Transferability of ``features`` (N, D) for real-valued targets ``values`` (N,)
        (regression); higher is better. Only scores with ``supports_values`` define it."""
        raise ConfigError(values_refusal(self.name))

    def score_label_sets(self, features: np.ndarray, label_sets: np.ndarray) -> float:
        """Transferability of ``features`` (N, D) for label sets, a multi-hot ``label_sets``
        (N, L) (multi-label); higher is better. Only scores with ``supports_label_sets``
        define it."""
        raise ConfigError(targets_refusal(self.name, "label_sets"))

    @classmethod
    def supports(cls, targets: str) -> bool:
        """Whether the score ranks targets stored as ``targets`` ("classes", "tags", "values"
        or "label_sets", as ``Task.targets`` says); a class score ranks tags per word."""
        return {"classes": True, "tags": True, "values": cls.supports_values,
                "label_sets": cls.supports_label_sets}.get(targets, False)

    def score_targets(self, features: np.ndarray, y: np.ndarray, targets: str,
                      source_probs: np.ndarray | None = None) -> float:
        """The score of ``features`` for targets ``y`` stored as ``targets`` (``Task.targets``):
        :meth:`score` for class codes, :meth:`score_values` for numbers,
        :meth:`score_label_sets` for a multi-hot matrix; for tags per word (token
        classification: features ``(N, W, D)``, tags ``(N, W)``) :meth:`score` of the words'
        vectors and tags, each word one example (padding left out)."""
        if targets == "values":
            return self.score_values(features, y)
        if targets == "label_sets":
            return self.score_label_sets(features, y)
        if targets == "tags":  # a tag per word: the words are the examples
            from transferkit.tasks.tokens import word_rows

            features, y = word_rows(features, y)
            source_probs = None  # a source classifier reads whole examples, not words
        return self.score(features, y, source_probs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def check_inputs(features: Any, labels: Any, where: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate and convert: float64 features (N, D), labels remapped to 0..C-1 (N,)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise DataError(
            f"The 'features' parameter of the {where} score must be a 2-D array (N, D). "
            f"Got shape {f.shape} instead; flatten or pool the features first."
        )
    y_raw = np.asarray(labels)
    if y_raw.ndim != 1 or len(y_raw) != len(f):
        raise DataError(
            f"The 'labels' parameter of the {where} score must be a 1-D array with one label per "
            f"row of 'features' ({len(f)}). Got shape {y_raw.shape} instead."
        )
    if len(f) < 2:
        raise DataError(f"The {where} score needs at least 2 examples. Got {len(f)}.")
    if not np.all(np.isfinite(f)):
        bad = int(np.argwhere(~np.isfinite(f))[0, 0])
        raise DataError(
            f"The 'features' parameter of the {where} score holds NaN or infinite values "
            f"(first in row {bad}). Check the backbone output or the feature cache."
        )
    if y_raw.dtype.kind in "iub" and np.any(y_raw < 0):
        raise DataError(
            f"The 'labels' parameter of the {where} score holds negative labels (unlabelled "
            "examples use -1). Pass labelled examples only."
        )
    _, y = np.unique(y_raw, return_inverse=True)
    n_classes = int(y.max()) + 1
    if n_classes < 2:
        raise DataError(
            f"The {where} score needs labels of at least 2 classes. Got only one class."
        )
    return f, y.astype(np.int64), n_classes


def values_refusal(name: str) -> str:
    """The refusal of a score that needs class labels, asked to rank real-valued targets."""
    return targets_refusal(name, "values")


def targets_refusal(name: str, targets: str) -> str:
    """The refusal of a score that needs one class label per example, asked to rank targets
    stored as ``targets`` ("values": numbers; "label_sets": multi-hot label sets)."""
    from transferkit.ranking import SCORES

    what, kind = (("numbers (regression)", "regression targets") if targets == "values"
                  else ("label sets (multi-label)", "label sets"))
    able = [n for n in SCORES.names() if SCORES.get(n).supports(targets)]
    return (f"The {name} score needs class labels (one per example), and these targets are {what}. "
            f"Scores that rank {kind}: {', '.join(able)}; pass e.g. --scores "
            f"{able[0] if able else 'logme'}.")


def check_values(features: Any, values: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert for a regression score: float64 features (N, D) and finite
    float64 targets (N,) -- or (N, K), K targets per row (forecasting: one per horizon step)."""
    n = len(np.asarray(features))
    f, _, _ = check_inputs(features, np.arange(n) % 2, where)  # the feature checks only
    y = np.asarray(values, dtype=np.float64)
    if y.ndim not in (1, 2) or len(y) != len(f):
        raise DataError(
            f"The 'values' parameter of the {where} score must be a 1-D array (or an (N, K) array) "
            f"with one row of targets per row of 'features' ({len(f)}). Got shape {y.shape} instead."
        )
    if not np.all(np.isfinite(y)):
        bad = int(np.argwhere(~np.isfinite(y))[0, 0])
        raise DataError(f"The 'values' parameter of the {where} score holds a NaN or infinite "
                        f"target (first in row {bad}). Drop or fix that row.")
    return f, y


def check_label_sets(features: Any, label_sets: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert for a multi-label score: float64 features (N, D) and the float64
    0/1 columns (N, L') of the labels that vary (a label every example has, or none has,
    says nothing about the features and is left out)."""
    n = len(np.asarray(features))
    f, _, _ = check_inputs(features, np.arange(n) % 2, where)  # the feature checks only
    y = np.asarray(label_sets)
    if y.ndim != 2 or len(y) != len(f):
        raise DataError(
            f"The 'label_sets' parameter of the {where} score must be a 2-D 0/1 array (N, L) with "
            f"one row per row of 'features' ({len(f)}). Got shape {y.shape} instead."
        )
    y = y.astype(np.float64)
    if not np.all((y == 0) | (y == 1)):
        bad = int(np.argwhere((y != 0) & (y != 1))[0, 0])
        raise DataError(f"The 'label_sets' parameter of the {where} score must hold only 0 and 1 "
                        f"(a multi-hot matrix); row {bad} holds something else.")
    varies = y.min(axis=0) != y.max(axis=0)
    if not varies.any():
        raise DataError(f"The {where} score needs a label that some examples have and others do not; "
                        "every label here is on for all examples or for none. Use more labelled data.")
    return f, y[:, varies]


def check_probs(source_probs: Any, n: int, where: str) -> np.ndarray:
    """Validate source-classifier probabilities (N, C_s): non-negative rows summing to 1."""
    p = np.asarray(source_probs, dtype=np.float64)
    if p.ndim != 2 or len(p) != n:
        raise DataError(
            f"The 'source_probs' parameter of the {where} score must have shape (N, C_s) with "
            f"N = {n} rows. Got shape {p.shape} instead."
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise DataError(
            f"The 'source_probs' parameter of the {where} score must hold finite, non-negative "
            "probabilities. Apply a softmax to the source classifier's logits first."
        )
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        row = int(np.argmax(np.abs(sums - 1.0)))
        raise DataError(
            f"The 'source_probs' parameter of the {where} score must have rows that sum to 1; "
            f"row {row} sums to {sums[row]:.4g}. Apply a softmax to the logits first."
        )
    return p / sums[:, None]


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) int labels -> (N, C) float64 one-hot."""
    out = np.zeros((len(y), n_classes), dtype=np.float64)
    out[np.arange(len(y)), y] = 1.0
    return out


# --------------------------------------------------------------------------- NLEEP fallback


@dataclasses.dataclass
class PseudoSourceConfig(Options):
    """How pseudo source probabilities are built when no source classifier exists (NLEEP)."""

    pca_variance: float = option(0.8, "PCA keeps this fraction of the feature variance before the "
                                 "Gaussian mixture (NLEEP uses 0.8).", gt=0, le=1)
    components_per_class: int = option(1, "Gaussian components per target class (NLEEP: the "
                                       "number of components equals the number of classes).", ge=1)
    covariance_type: str = option("diag", "Covariance of each Gaussian component.",
                                  choices=("full", "diag", "spherical", "tied"))
    max_pca_dim: int = option(64, "Upper bound on the PCA dimension (keeps the mixture fast).", ge=1)
    seed: int = option(0, "Seed of the mixture's initialisation.")


def pseudo_source_probs(f: np.ndarray, n_classes: int, cfg: PseudoSourceConfig,
                        where: str) -> np.ndarray:
    """NLEEP's pseudo source probabilities: GMM posteriors on PCA-reduced features.

    Li et al., "Ranking Neural Checkpoints", CVPR 2021 (https://arxiv.org/abs/2011.11200):
    when the source model has no classifier over the target examples, fit a Gaussian
    mixture on the PCA-reduced features and use its component posteriors as θ(x).
    Shapes: f (N, D) -> (N, K) with K = components_per_class * n_classes (capped by N).
    """
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    n, d = f.shape
    centred = f - f.mean(axis=0)
    if not np.any(centred):
        raise DataError(
            f"The 'features' parameter of the {where} score is the same for every example, so "
            "no pseudo source labels can be built from it. Pass 'source_probs' (the source "
            "classifier's probabilities) or check the backbone output."
        )
    limit = max(1, min(n - 1, d, cfg.max_pca_dim))
    pca = PCA(n_components=limit, svd_solver="full" if min(n, d) <= 500 else "randomized",
              random_state=cfg.seed)
    z = pca.fit_transform(centred)  # (N, limit)
    ratio = np.cumsum(pca.explained_variance_ratio_)
    keep = int(np.searchsorted(ratio, cfg.pca_variance * ratio[-1] - 1e-12) + 1) if ratio[-1] > 0 else 1
    z = z[:, : max(1, min(keep, limit))]  # (N, d')
    k = max(1, min(cfg.components_per_class * n_classes, n))
    gmm = GaussianMixture(n_components=k, covariance_type=cfg.covariance_type,
                          random_state=cfg.seed, reg_covar=1e-6 * max(1.0, float(z.var())))
    gmm.fit(z)
    logger.info(
        "%s: no source classifier probabilities given; using NLEEP pseudo source labels "
        "(Gaussian mixture with %d components on %d PCA dimensions).", where, k, z.shape[1],
    )
    return gmm.predict_proba(z)  # (N, K)
