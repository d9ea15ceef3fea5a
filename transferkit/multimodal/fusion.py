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


def concat_fusion(columns: Sequence[ColumnFeatures], y: np.ndarray, train: np.ndarray, val: np.ndarray,
                  k: int, seed: int = 0) -> np.ndarray:
    """Probabilities ``(N, k)`` of one head on the concatenated features and masks."""
    x = np.concatenate([c.x for c in columns] + [np.stack([c.present for c in columns], 1)], axis=1)
    w, b = _logistic(x.astype(np.float64), y, train, val, k, seed)
    return softmax(x @ w.T + b, axis=1)


def late_fusion(columns: Sequence[ColumnFeatures], y: np.ndarray, train: np.ndarray, val: np.ndarray,
                k: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Probabilities ``(N, k)`` averaged over each row's present columns, and each column's own
    probabilities (NaN where the column is missing)."""
    total = np.zeros((len(y), k))
    count = np.zeros(len(y))
    own: dict[str, np.ndarray] = {}
    for c in columns:
        tr, va = train[c.present[train]], val[c.present[val]]
        if len(np.unique(y[tr])) < 2:
            continue
        w, b = _logistic(c.x.astype(np.float64), y, tr, va, k, seed)
        p = softmax(c.x @ w.T + b, axis=1)
        p[~c.present] = np.nan
        own[c.column] = p
        total[c.present] += p[c.present]
        count += c.present
    prior = np.bincount(y[train], minlength=k) / max(1, len(train))
    probs = np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], prior)
    return probs, own


__all__ = ["FUSIONS", "concat_fusion", "late_fusion"]
