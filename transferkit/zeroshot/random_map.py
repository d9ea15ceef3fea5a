"""The random-mapping control: a Gaussian matrix in place of a learned map.

What zero-shot accuracy a map that learned nothing reaches through the same label
embeddings and the same calibrated stacking: the floor a learned map must clear.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.zeroshot import ZSL_METHODS
from transferkit.zeroshot._base import LabelSpace, ZeroShotMethod


@ZSL_METHODS.register("random", help="Control: a random Gaussian map to the label space (learns nothing).")
class RandomMap(ZeroShotMethod):
    """``x^T R s`` with ``R`` (D, A) drawn N(0, 1/D) from the seed."""

    name = "random"
    trains = False

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.r_: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, s: np.ndarray, space: LabelSpace,
            seed: int = 0) -> RandomMap:
        rng = np.random.default_rng(seed)
        self.r_ = rng.normal(0.0, 1.0 / np.sqrt(x.shape[1]), size=(x.shape[1], s.shape[1]))
        return self

    def scores(self, x: np.ndarray, s_all: np.ndarray, raw: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.r_ @ np.asarray(s_all, dtype=np.float64).T

    def linear_map(self) -> np.ndarray | None:
        return self.r_
