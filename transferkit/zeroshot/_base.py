"""The zero-shot method interface (the leading underscore keeps registry discovery off)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass
class LabelSpace:
    """What a method may read besides image features and seen-class labels.

    ``embed_texts(texts) -> (T, A)`` L2-normalised text embeddings (the label space);
    ``source_probs(features) -> (N, 1000)`` the image backbone's own ImageNet probabilities
    from its raw (unstandardised) features, and ``source_names`` their class names (None
    when the backbone has no source classifier).
    """

    embed_texts: Callable[[list[str]], np.ndarray]
    source_probs: Callable[[np.ndarray], np.ndarray] | None = None
    source_names: list[str] | None = None


class ZeroShotMethod:
    """``fit(x, y, s)`` on seen classes -- image features ``x`` (N, D) (standardised),
    ``y`` (N,) indices into the seen classes, ``s`` (Z, A) their label embeddings -- then
    ``scores(x, s_all, raw)`` (N, C) for any classes' embeddings ``s_all`` (C, A); ``raw`` are
    the same images' unstandardised features (for methods that read the backbone's own
    classifier)."""

    name: ClassVar[str] = ""
    #: whether fit learns anything from the seen classes (ConSE does not)
    trains: ClassVar[bool] = True
    #: whether the label embeddings it is given are centred on the seen classes' mean (and
    #: renormalised): a learned map to few seen classes otherwise spends itself on their
    #: common direction, and one unseen class -- the one least like their mean -- wins
    #: every image (measured: ESZSL on 9 seen / 3 unseen toy classes, 33 % -> 100 %)
    centre_labels: ClassVar[bool] = True
    #: parameter values searched by leave-classes-out over the seen classes when the user
    #: gives none of them (``{}``: the defaults are used)
    grid: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self.space: LabelSpace | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, s: np.ndarray, space: LabelSpace,
            seed: int = 0) -> ZeroShotMethod:
        raise NotImplementedError

    def scores(self, x: np.ndarray, s_all: np.ndarray, raw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def linear_map(self) -> np.ndarray | None:
        """``M`` (D, A) when ``scores(x, s) = x @ M @ s.T`` (what a run directory saves as
        a linear mapping); None for a method that is not one linear map."""
        return None
