"""ESZSL: "An embarrassingly simple approach to zero-shot learning", Romera-Paredes & Torr,
ICML 2015 (https://proceedings.mlr.press/v37/romera-paredes15.html).

In the paper's notation (X: d x m features, Y: m x z in {-1, 1}, S: a x z class
signatures) the objective ``||X^T V S - Y||^2 + gamma ||V S||^2 + lambda ||X^T V||^2 +
gamma lambda ||V||^2`` has the closed form (their eq. 6)::

    V = (X X^T + gamma I)^-1  X Y S^T  (S S^T + lambda I)^-1          (d x a)

and a new image ``x`` gets class ``argmax_c x^T V s_c``. Here rows are examples
(``x``: (N, D), ``s``: (Z, A)), so ``V = (x^T x + gamma I)^-1 x^T Y s (s^T s + lambda I)^-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.options import Options, option
from transferkit.zeroshot import ZSL_METHODS
from transferkit.zeroshot._base import LabelSpace, ZeroShotMethod


@dataclass
class ESZSLConfig(Options):
    """ESZSL's two regularisers (the paper's gamma and lambda)."""

    gamma: float = option(100.0, "Regulariser of the image side (gamma; the features are "
                          "standardised, so it compares with the number of training images).", gt=0)
    lam: float = option(0.1, "Regulariser of the label side (lambda).", gt=0)


#: the last Gram matrix computed, with the features it belongs to (a search over gamma and
#: lambda fits the same rows many times: the Gram matrix is computed once per fold)
_GRAM: list[tuple[np.ndarray, np.ndarray]] = []


def _gram(x: np.ndarray, rows: bool) -> np.ndarray:
    """``x x^T`` (rows) or ``x^T x``, reused while the same array is fitted again."""
    if _GRAM and _GRAM[0][0] is x and _GRAM[0][1].shape[0] == (len(x) if rows else x.shape[1]):
        return _GRAM[0][1]
    gram = x @ x.T if rows else x.T @ x
    _GRAM[:] = [(x, gram)]  # holds x, so its identity cannot be reused by another array
    return gram


def eszsl_matrix(x: np.ndarray, y: np.ndarray, s: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """The closed form V (D, A) for features ``x`` (N, D), class indices ``y`` (N,) and seen
    class embeddings ``s`` (Z, A); the targets are +1 for the true class and -1 otherwise."""
    x = np.asarray(x, dtype=np.float64)  # the caller's array when it is float64 already
    s = np.asarray(s, dtype=np.float64)
    targets = -np.ones((len(x), len(s)))
    targets[np.arange(len(x)), np.asarray(y, dtype=np.int64)] = 1.0  # (N, Z)
    # the same matrix, with every inverse taken on the smaller side (push-through identity):
    # (X^T X + g I_D)^-1 X^T = X^T (X X^T + g I_N)^-1 and s (s^T s + l I_A)^-1 = (s s^T + l I_Z)^-1 s
    if len(x) < x.shape[1]:
        left = x.T @ np.linalg.solve(_gram(x, True) + gamma * np.eye(len(x)), targets)  # (D, Z)
    else:
        left = np.linalg.solve(_gram(x, False) + gamma * np.eye(x.shape[1]), x.T @ targets)  # (D, Z)
    return left @ np.linalg.solve(s @ s.T + lam * np.eye(len(s)), s)  # (D, A)


@ZSL_METHODS.register("eszsl", config=ESZSLConfig,
                      help="ESZSL (Romera-Paredes & Torr 2015): closed-form bilinear map to the label space.")
class ESZSL(ZeroShotMethod):
    """Closed-form bilinear compatibility ``x^T V s``."""

    name = "eszsl"
    #: the (gamma, lambda) grid searched by leave-classes-out over the seen classes when
    #: neither is given (see :mod:`transferkit.zeroshot.select`)
    grid = {"gamma": (1.0, 10.0, 100.0, 1000.0), "lam": (0.01, 0.1, 1.0, 10.0)}

    def __init__(self, config: Any = None) -> None:
        super().__init__(config if config is not None else ESZSLConfig())
        self.v_: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, s: np.ndarray, space: LabelSpace,
            seed: int = 0) -> ESZSL:
        self.v_ = eszsl_matrix(x, y, s, self.config.gamma, self.config.lam)
        return self

    def scores(self, x: np.ndarray, s_all: np.ndarray, raw: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.v_ @ np.asarray(s_all, dtype=np.float64).T

    def linear_map(self) -> np.ndarray | None:
        return self.v_
