"""Metrics, and the checks that say whether transfer helped.

All metrics are computed from labels and predicted probabilities with scikit-learn,
plus the expected calibration error (ECE, Guo et al. 2017, 15 equal-width bins):
``ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)|``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from transferkit.errors import DataError

NEGATIVE_TRANSFER_MARGIN = 0.0


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al., ICML 2017)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


def calibration_curve(y: np.ndarray, probs: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Per-bin mean confidence, accuracy and count (for the report's reliability plot)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if in_bin.any():
            out["confidence"].append(float(conf[in_bin].mean()))
            out["accuracy"].append(float(correct[in_bin].mean()))
            out["count"].append(float(in_bin.sum()))
    return out


def classification_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str] | None = None,
                           detailed: bool = False) -> dict[str, Any]:
    """accuracy, balanced_accuracy, macro_f1, ece (and, with ``detailed``, the per-class
    report, confusion matrix and calibration curve).

    >>> import numpy as np
    >>> classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))["accuracy"]
    1.0
    """
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(y):
        raise DataError(f"Expected probabilities of shape (N, K) for {len(y)} labels; got {probs.shape}.")
    if (y < 0).any():
        raise DataError("Metrics need labels; this data has unlabelled examples (label -1).")
    k = probs.shape[1]
    if len(y) and y.max() >= k:
        raise DataError(
            f"A label index ({int(y.max())}) is outside the model's {k} classes: the data has a "
            "class the model never saw. Evaluate on data with the model's classes."
        )
    pred = probs.argmax(axis=1)
    labels = list(range(k))
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(_balanced_accuracy(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=sorted(set(y.tolist())), average="macro",
                                   zero_division=0)),
        "ece": expected_calibration_error(y, probs),
        "n": int(len(y)),
    }
    if detailed:
        names = classes or [str(i) for i in labels]
        p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        out["per_class"] = {
            names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                       "support": int(s[i])}
            for i in labels
        }
        out["confusion_matrix"] = confusion_matrix(y, pred, labels=labels).tolist()
        out["calibration"] = calibration_curve(y, probs)
    return out


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return float(accuracy_score(y, pred))
    return float(balanced_accuracy_score(y, pred))


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Accuracy of always predicting the most frequent training class."""
    counts = np.bincount(y_train[y_train >= 0])
    majority = int(counts.argmax()) if len(counts) else 0
    pred = np.full(len(y_test), majority)
    return {"accuracy": float(accuracy_score(y_test, pred)),
            "balanced_accuracy": _balanced_accuracy(y_test, pred)}


def transfer_gain(metrics: dict[str, Any], baseline: dict[str, Any] | None,
                  key: str = "accuracy") -> float | None:
    """Test-metric difference transfer minus baseline (None without a baseline)."""
    if not baseline or "test" not in baseline or key not in baseline["test"]:
        return None
    return float(metrics["test"][key] - baseline["test"][key])


def negative_transfer_warning(gain: float | None, name: str = "scratch") -> str | None:
    """The plain-words warning when the transferred model loses to its baseline."""
    if gain is None or gain >= -NEGATIVE_TRANSFER_MARGIN:
        return None
    return (f"negative transfer: the transferred model is {abs(gain) * 100:.1f} accuracy points "
            f"below the {name} baseline on the test set. Transfer did not help here; try another "
            "backbone or strategy, or train without transfer.")
