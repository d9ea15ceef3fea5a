"""Transferability scores: how well frozen features suit a target task, in seconds.

Each score is one file registering a class in :data:`SCORES`; all of them take cached
features (N, D) and target labels (N,), optionally the source classifier's probabilities
(N, C_s), and return one float where higher means more transferable::

    >>> import numpy as np
    >>> from transferkit.ranking import SCORES, score_all
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 200)
    >>> f = rng.normal(size=(200, 16)) + 3 * np.eye(16)[y]
    >>> SCORES.build("logme").score(f, y) > SCORES.build("logme").score(rng.normal(size=(200, 16)), y)
    True
    >>> sorted(score_all(f, y, names=["logme", "hscore"]))
    ['hscore', 'logme']
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from transferkit.registry import Registry

SCORES: Registry[Any] = Registry("transferability score", package="transferkit.ranking")


def score_all(features: np.ndarray, labels: np.ndarray, source_probs: np.ndarray | None = None,
              names: Iterable[str] | None = None) -> dict[str, tuple[float, float]]:
    """Compute several scores on the same features: ``{name: (score, seconds)}``.

    ``names`` defaults to every registered score (``SCORES.names()``). Scores that use
    source probabilities (LEEP, NCE) fall back to NLEEP pseudo labels when
    ``source_probs`` is None. Shapes: features (N, D), labels (N,), source_probs (N, C_s).
    """
    chosen = list(SCORES.names() if names is None else names)
    out: dict[str, tuple[float, float]] = {}
    for name in chosen:
        scorer = SCORES.build(name)
        start = time.perf_counter()
        value = scorer.score(features, labels, source_probs)
        out[SCORES.entry(name).name] = (value, time.perf_counter() - start)
    return out


__all__ = ["SCORES", "score_all"]
