"""Label-prior shift (Saerens, Latinne & Decaestecker, "Adjusting the Outputs of a
Classifier to New a Priori Probabilities", Neural Computation 2002): a classifier trained on
the prior ``pi_train`` is moved to a target prior ``pi_t`` by
``p'(y|x) ∝ p(y|x) * pi_t(y) / pi_train(y)``; EM estimates an unknown ``pi_t`` from the
posteriors of unlabelled target inputs. Used by :mod:`transferkit.tasks._calibration`.

>>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
>>> shift_posteriors(p, [0.5, 0.5], [0.75, 0.25]).round(3).tolist()
[[0.964, 0.036], [0.429, 0.571]]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError

#: smallest prior a class is given in the log prior ratio (a zero would be an infinite bias)
MIN_PRIOR = 1e-6


def shift_posteriors(probs: np.ndarray, train_prior: Sequence[float] | np.ndarray,
                     target_prior: Sequence[float] | np.ndarray) -> np.ndarray:
    """``p'(y|x) ∝ p(y|x) * target_prior(y) / train_prior(y)``, rows renormalised."""
    ratio = _normalised(target_prior) / _normalised(train_prior)
    out = np.asarray(probs, dtype=np.float64) * ratio
    return out / np.clip(out.sum(axis=1, keepdims=True), 1e-300, None)


def em_prior(probs: np.ndarray, train_prior: Sequence[float] | np.ndarray, tol: float = 1e-8,
             max_iter: int = 10_000) -> tuple[np.ndarray, int]:
    """(target prior, iterations) estimated by EM from posteriors ``probs`` (N, K) of
    unlabelled target inputs (Saerens et al. 2002): ``pi <- mean_i p_pi(y | x_i)``, where
    ``p_pi`` are the posteriors shifted from ``train_prior`` to ``pi``, starting at
    ``train_prior`` and stopping when no class moves by more than ``tol``."""
    train = _normalised(train_prior)
    probs = np.asarray(probs, dtype=np.float64)
    prior = train.copy()
    for it in range(1, max_iter + 1):
        new = shift_posteriors(probs, train, prior).mean(axis=0)
        if np.abs(new - prior).max() < tol:
            return new, it
        prior = new
    return prior, max_iter


def bbse_prior(pred_labelled: np.ndarray, y_labelled: np.ndarray, pred_target: np.ndarray,
               num_classes: int) -> np.ndarray | None:
    """Black-box shift estimation (BBSE, Lipton, Wang & Smola, "Detecting and Correcting for
    Label Shift with Black Box Predictors", ICML 2018): the target prior ``pi`` from the
    classifier's hard predictions. Under label shift ``P_t(pred = i) = sum_j P(pred = i | y = j)
    pi_j``: the conditional confusion matrix ``C[i, j] = P(pred = i | y = j)`` comes from
    held-out labelled examples (``pred_labelled``, ``y_labelled``), the left side from the
    target inputs' predictions ``pred_target``; ``pi = C^-1 mu`` (least squares), clipped at 0
    and renormalised. None when a class has no labelled example (C has an empty column).

    >>> # C = [[0.8, 0.3], [0.2, 0.7]], mu = [0.6, 0.4]: 0.8 pi + 0.3 (1 - pi) = 0.6 -> pi = 0.6
    >>> bbse_prior(np.array([0] * 8 + [1] * 2 + [0] * 3 + [1] * 7), np.array([0] * 10 + [1] * 10),
    ...            np.array([0] * 6 + [1] * 4), 2).round(6).tolist()
    [0.6, 0.4]
    """
    pred_l = np.asarray(pred_labelled, dtype=np.int64)
    y_l = np.asarray(y_labelled, dtype=np.int64)
    per_class = np.bincount(y_l, minlength=num_classes)
    if len(pred_target) == 0 or (per_class == 0).any():
        return None
    confusion = np.zeros((num_classes, num_classes))
    np.add.at(confusion, (pred_l, y_l), 1.0)
    confusion /= per_class  # column j: P(pred = . | y = j)
    mu = np.bincount(np.asarray(pred_target, dtype=np.int64), minlength=num_classes) / len(pred_target)
    prior = np.clip(np.linalg.lstsq(confusion, mu, rcond=None)[0], 0.0, None)
    return prior / prior.sum() if prior.sum() > 0 else None


def match_prior(probs: np.ndarray, target_prior: Sequence[float] | np.ndarray, tol: float = 1e-8,
                max_iter: int = 10_000) -> tuple[np.ndarray, int]:
    """(implicit prior, iterations): the prior ``pi_0`` the posteriors ``probs`` (N, K) of
    unlabelled target inputs behave as if trained on, such that moving them from ``pi_0`` to
    ``target_prior`` makes their mean equal ``target_prior`` -- the fixed point of
    :func:`em_prior` solved for the other prior: ``pi_0 <- pi_0 * mean_i p'(y|x_i) / target``.
    ``log_prior_ratio(pi_0, target)`` is then the per-class bias that removes a label-free
    head's preference for some classes (e.g. a class name closer to every text). Deterministic.

    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
    >>> pi0, _ = match_prior(p, [0.5, 0.5])
    >>> shift_posteriors(p, pi0, [0.5, 0.5]).mean(axis=0).round(6).tolist()
    [0.5, 0.5]
    """
    target = _normalised(target_prior)
    probs = np.asarray(probs, dtype=np.float64)
    implicit = target.copy()
    for it in range(1, max_iter + 1):
        mean = shift_posteriors(probs, implicit, target).mean(axis=0)
        new = _normalised(implicit * np.clip(mean, MIN_PRIOR, None) / target)
        if np.abs(mean - target).max() < tol:
            return implicit, it
        implicit = new
    return implicit, max_iter


def match_counts(logits: np.ndarray, target_prior: Sequence[float] | np.ndarray,
                 max_rounds: int = 100) -> tuple[np.ndarray, int]:
    """(bias (K,), rounds): one bias per class such that ``argmax(logits + bias)`` over the
    unlabelled target inputs ``logits`` (N, K) predicts each class as often as
    ``target_prior`` says (``round(N * prior)`` times, up to ties) -- proportional assignment
    ("PCut", Yang 2001; the class-ratio constraint of transductive SVMs, Joachims 1999).
    Unlike the Saerens shift it reads only the ranking of the inputs, not the size of their
    probabilities, so it stays right when the posteriors are not calibrated on the target
    inputs (covariate shift); in the binary case it makes each class's false positives equal
    its false negatives, which keeps the minority class's recall. Solved one class at a time
    (the count of class k is a step function of its bias: put the bias midway between the
    inputs ranked ``n_k`` and ``n_k + 1``), cycling until no bias moves (one round for two
    classes); the bias is centred (softmax ignores a common shift). Deterministic.

    >>> z = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 0.5], [0.0, 2.0]])
    >>> b, _ = match_counts(z, [0.75, 0.25])
    >>> b.tolist(), (z + b).argmax(axis=1).tolist()
    ([0.625, -0.625], [0, 0, 0, 1])
    """
    z = np.asarray(logits, dtype=np.float64)
    n, k = z.shape
    bias = np.zeros(k)
    if n == 0 or k < 2:
        return bias, 0
    want = _counts(_normalised(target_prior), n)
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 -- the last round is returned
        before = bias.copy()
        for c in range(k):
            # class c wins input i when its bias exceeds m_i = max_{j != c}(z_ij + b_j) - z_ic
            others = np.delete(z + bias, c, axis=1).max(axis=1) - z[:, c]
            m = np.sort(others)
            if want[c] == 0:
                bias[c] = m[0] - 1.0
            elif want[c] >= n:
                bias[c] = m[-1] + 1.0
            else:
                bias[c] = 0.5 * (m[want[c] - 1] + m[want[c]])
        if np.allclose(bias - bias.mean(), before - before.mean(), atol=1e-12, rtol=0):
            break
    return bias - bias.mean(), rounds


def _counts(prior: np.ndarray, n: int) -> np.ndarray:
    """Integer class counts summing to ``n``, closest to ``n * prior`` (largest remainders)."""
    exact = prior * n
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    return counts


def log_prior_ratio(train_prior: Sequence[float] | np.ndarray,
                    target_prior: Sequence[float] | np.ndarray) -> np.ndarray:
    """``log(target / train)`` per class (priors clipped at ``MIN_PRIOR``): the head's bias."""
    return np.log(np.clip(_normalised(target_prior), MIN_PRIOR, None)) - np.log(
        np.clip(_normalised(train_prior), MIN_PRIOR, None))


def _normalised(prior: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(prior, dtype=np.float64)
    return p / p.sum()


def read_prior(path: str | Path, classes: Sequence[str]) -> np.ndarray:
    """Class frequencies (or counts) from a JSON object ``{"class": value}`` or a CSV file of
    ``class,value`` rows (a header row is skipped), in the order of ``classes``, normalised.

    Every class needs a value >= 0 and the values must not all be 0; an unknown class is an
    error that lists the known ones.
    """
    where = "The 'prior_correction' parameter"
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{where} must be auto, bbse, em, match, none or a file of class frequencies (JSON or "
                          f"CSV). Got {str(path)!r}, which is neither a choice nor a file.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: '{path}' is not valid JSON ({exc}). Write an object "
                              '{"class name": frequency, ...}.') from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: '{path}' must hold a JSON object "
                              '{"class name": frequency, ...}; got a ' f"{type(data).__name__}.")
        pairs = [(str(k), v) for k, v in data.items()]
    else:
        rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
        pairs = [(r[0].strip(), r[1].strip() if len(r) > 1 else "") for r in rows]
        if pairs and not _is_number(pairs[0][1]):
            pairs = pairs[1:]  # header
    values: dict[str, float] = {}
    names = [str(c) for c in classes]
    for name, value in pairs:
        if name not in names:
            raise ConfigError(f"{where}: '{path}' names the class {name!r}, which the data does not "
                              f"have. Known classes: {', '.join(names)}.")
        if not _is_number(value) or float(value) < 0:
            raise ConfigError(f"{where}: the frequency of class {name!r} in '{path}' must be a "
                              f"number >= 0. Got {value!r} instead.")
        values[name] = float(value)
    missing = [c for c in names if c not in values]
    if missing:
        raise ConfigError(f"{where}: '{path}' gives no frequency for the class(es) {missing}; "
                          "give one per class (0 for a class that never occurs).")
    prior = np.array([values[c] for c in names])
    if prior.sum() <= 0:
        raise ConfigError(f"{where}: the frequencies in '{path}' are all 0; at least one class "
                          "must occur.")
    return prior / prior.sum()


def _is_number(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


__all__ = ["MIN_PRIOR", "bbse_prior", "em_prior", "log_prior_ratio", "match_counts", "match_prior", "read_prior", "shift_posteriors"]
