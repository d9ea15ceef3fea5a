"""Fusing the columns of multimodal rows.

* ``concat`` (feature level): one multinomial logistic head on ``[x_1, ..., x_m, mask]`` --
  every column's features (zeros where missing) and one presence bit per column, so a
  missing cell is information the head can weigh, not a dropped row.
* ``late``: one logistic head per column, trained on the rows that have it; a row's
  probabilities are the mean over the columns it has (a row with none gets the training
  class frequencies).

Both heads are solved by :func:`transferkit.train.convex.fit_logistic_head` (its L2
strength chosen on the validation rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax

from transferkit.multimodal.columns import ColumnFeatures

FUSIONS = ("concat", "late")


def _logistic(x: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray, k: int,
              seed: int) -> tuple[np.ndarray, np.ndarray]:
    from transferkit.train.convex import fit_logistic_head

    has_val = len(val) > 0 and len(np.unique(y[val])) > 1
    w, b, _ = fit_logistic_head(x[train], y[train], k, seed=seed,
                                x_val=x[val] if has_val else None, y_val=y[val] if has_val else None)
    return w.double().numpy(), b.double().numpy()


def concat_features(columns: Sequence[ColumnFeatures]) -> np.ndarray:
    """``[x_1, ..., x_m, mask]``: the feature-level fusion's input (N, sum D + m)."""
    return np.concatenate([c.x for c in columns] + [np.stack([c.present for c in columns], 1)],
                          axis=1).astype(np.float64)


def fit_concat(columns: Sequence[ColumnFeatures], y: np.ndarray, train: np.ndarray, val: np.ndarray,
               k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The feature-level head ``(W (k, D), b (k,))``."""
    return _logistic(concat_features(columns), y, train, val, k, seed)


def concat_probs(columns: Sequence[ColumnFeatures], head: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    w, b = head
    return softmax(concat_features(columns) @ w.T + b, axis=1)


def fit_late(columns: Sequence[ColumnFeatures], y: np.ndarray, train: np.ndarray, val: np.ndarray,
             k: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One head per column, fitted on the rows that have it (columns with one class there: none)."""
    heads = {}
    for c in columns:
        tr, va = train[c.present[train]], val[c.present[val]]
        if len(np.unique(y[tr])) >= 2:
            heads[c.column] = _logistic(c.x.astype(np.float64), y, tr, va, k, seed)
    return heads


def late_probs(columns: Sequence[ColumnFeatures], heads: dict[str, tuple[np.ndarray, np.ndarray]],
               prior: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The mean of the present columns' probabilities (``prior`` for a row with none), and each
    column's own probabilities (NaN where the column is missing)."""
    n, k = len(columns[0].present), len(prior)
    total, count = np.zeros((n, k)), np.zeros(n)
    own: dict[str, np.ndarray] = {}
    for c in columns:
        if c.column not in heads:
            continue
        w, b = heads[c.column]
        p = softmax(c.x @ w.T + b, axis=1)
        p[~c.present] = np.nan
        own[c.column] = p
        total[c.present] += p[c.present]
        count += c.present
    return np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], prior), own


def concat_fusion(columns: Sequence[ColumnFeatures], y: np.ndarray, train: np.ndarray, val: np.ndarray,
                  k: int, seed: int = 0) -> np.ndarray:
    """Probabilities ``(N, k)`` of one head on the concatenated features and masks."""
    return concat_probs(columns, fit_concat(columns, y, train, val, k, seed))


def late_fusion(columns: Sequence[ColumnFeatures], y: np.ndarray, train: np.ndarray, val: np.ndarray,
                k: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Probabilities ``(N, k)`` averaged over each row's present columns, and each column's own
    probabilities (NaN where the column is missing)."""
    prior = np.bincount(y[train], minlength=k) / max(1, len(train))
    return late_probs(columns, fit_late(columns, y, train, val, k, seed), prior)


__all__ = ["FUSIONS", "concat_features", "concat_fusion", "concat_probs", "fit_concat", "fit_late",
           "late_fusion", "late_probs"]
