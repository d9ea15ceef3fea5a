"""A direct, slow LogME (You et al. 2021, Algorithm 1, explicit inverses) that the fast
implementation is tested against, for classes, numbers and label sets alike."""

from __future__ import annotations

import numpy as np


def slow_logme_column(f: np.ndarray, t: np.ndarray, tol: float = 1e-6, max_iter: int = 100,
                      eps: float = 1e-5) -> float:
    """The maximum evidence / N of one real target column ``t`` (N,) on features ``f`` (N, D)."""
    n, d = f.shape
    ftf = f.T @ f
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        a_inv = np.linalg.inv(alpha * np.eye(d) + beta * ftf)
        m = beta * a_inv @ f.T @ t
        gamma = d - alpha * np.trace(a_inv)
        lam = alpha / beta
        alpha = gamma / (m @ m + eps)
        beta = (n - gamma) / (np.sum((t - f @ m) ** 2) + eps)
        if abs(alpha / beta - lam) / lam < tol:
            break
    a = alpha * np.eye(d) + beta * ftf
    m = beta * np.linalg.inv(a) @ f.T @ t
    _, logdet = np.linalg.slogdet(a)
    return float((d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                  - beta / 2 * np.sum((t - f @ m) ** 2) - alpha / 2 * (m @ m) - 0.5 * logdet) / n)


def slow_logme(f: np.ndarray, y: np.ndarray, **kwargs: float) -> float:
    """Classes: the mean evidence of each class's one-vs-rest indicator column (``kwargs``:
    ``tol``, ``max_iter``, ``eps`` of :func:`slow_logme_column`)."""
    return float(np.mean([slow_logme_column(f, (y == c).astype(np.float64), **kwargs)
                          for c in np.unique(y)]))


def slow_logme_values(f: np.ndarray, y: np.ndarray) -> float:
    """Numbers: the evidence of the standardised target."""
    return slow_logme_column(f, (y - y.mean()) / y.std())
