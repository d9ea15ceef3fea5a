"""Decisions of a binary classifier from its calibrated probabilities (``--decision``):
a Bayes-optimal threshold for a stated cost ratio, or a threshold meeting a precision or
recall target on the validation split; stored in the run and used by predict and serve."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.errors import ConfigError


def parse_decision(text: str | None) -> tuple[str, float, float] | None:
    """``"cost=5:1"`` -> ("cost", 5, 1) (cost of a false negative : of a false positive),
    ``"precision=0.9"`` / ``"recall=0.9"`` -> (kind, 0.9, 0); ``"none"`` / None -> None."""
    if text is None or str(text).strip().lower() in ("", "none"):
        return None
    kind, _, value = str(text).strip().partition("=")
    kind = kind.strip().lower()
    where = "The 'decision' parameter"
    fix = "e.g. cost=5:1 (a false negative costs 5 false positives), precision=0.9, recall=0.9 or none"
    try:
        if kind == "cost":
            fn, fp = (float(v) for v in value.split(":"))
            if fn > 0 and fp > 0 and np.isfinite(fn + fp):
                return ("cost", fn, fp)
        elif kind in ("precision", "recall"):
            target = float(value)
            if 0 < target <= 1:
                return (kind, target, 0.0)
    except ValueError:
        pass
    raise ConfigError(f"{where} must be cost=FN:FP (two numbers > 0), precision=P or recall=R (in "
                      f"(0, 1]) or none ({fix}). Got {text!r} instead.")


def choose_threshold(rule: tuple[str, float, float], val: tuple[np.ndarray, np.ndarray] | None,
                     p_test: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
    """The probability threshold of the positive class for ``rule`` and the test precision and
    recall at it (``p`` >= threshold predicts positive).

    ``cost`` is Bayes-optimal on calibrated probabilities: predict positive when
    ``p * cost_fn >= (1 - p) * cost_fp``, i.e. ``p >= cost_fp / (cost_fp + cost_fn)``.
    ``precision``/``recall`` targets are met on the validation split ``val`` = (positive-class
    probabilities, is-positive): the lowest threshold whose precision reaches the target (the
    most recall), or the highest whose recall does (the most precision)."""
    from sklearn.metrics import precision_recall_curve

    kind, a, b = rule
    out: dict[str, Any] = {"threshold": None}
    if kind == "cost":
        out.update(threshold=b / (a + b), chosen_by=f"cost ratio FN:FP = {a:g}:{b:g}, Bayes-optimal "
                   "on the calibrated probabilities")
    else:
        if val is None or not val[1].any() or val[1].all():
            out["why"] = f"a {kind} target is met on the validation split, which needs both classes"
            return out
        precision, recall, thresholds = precision_recall_curve(val[1], val[0])
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        ok = (precision if kind == "precision" else recall) >= a - 1e-12
        if not ok.any():  # unreachable precision: the most precise threshold, said so
            i = int(np.argmax(precision))
            out["reached"] = False
        else:
            idx = np.flatnonzero(ok)
            i = int(idx[0] if kind == "precision" else idx[-1])
            out["reached"] = True
        out.update(threshold=float(thresholds[i]), chosen_by=f"{kind} >= {a:g} on the validation split",
                   val_precision=float(precision[i]), val_recall=float(recall[i]))
    pred = p_test >= out["threshold"]
    tp = int((pred & y_test).sum())
    out["test_precision"] = tp / int(pred.sum()) if pred.any() else 0.0
    out["test_recall"] = tp / int(y_test.sum()) if y_test.any() else 0.0
    return out


def decide(probs: np.ndarray, decision: dict[str, Any] | None) -> np.ndarray:
    """Predicted class indices: the argmax, or with a binary ``decision`` the positive class
    where its probability reaches the threshold."""
    probs = np.asarray(probs)
    if not decision or decision.get("threshold") is None or probs.shape[1] != 2:
        return probs.argmax(axis=1)
    pos = int(decision["positive_index"])
    return np.where(probs[:, pos] >= float(decision["threshold"]), pos, 1 - pos)


__all__ = ["choose_threshold", "decide", "parse_decision"]
