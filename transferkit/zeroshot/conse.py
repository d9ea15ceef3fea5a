"""ConSE: "Zero-Shot Learning by Convex Combination of Semantic Embeddings", Norouzi et al.,
ICLR 2014 (https://arxiv.org/abs/1312.5650).

No training: the image backbone's own ImageNet classifier gives ``p(y | x)`` over its 1000
classes; the image's embedding is the convex combination of the top-T class names'
embeddings, ``f(x) = sum_{t<=T} p(y_t|x) s(y_t) / sum_{t<=T} p(y_t|x)``; a target class
scores the cosine similarity of ``f(x)`` to its name's embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.errors import ConfigError
from transferkit.options import Options, option
from transferkit.zeroshot import ZSL_METHODS
from transferkit.zeroshot._base import LabelSpace, ZeroShotMethod


@dataclass
class ConSEConfig(Options):
    """ConSE's one parameter."""

    top: int = option(10, "T: how many of the backbone's most probable ImageNet classes combine.", ge=1)


def conse_embedding(probs: np.ndarray, names_emb: np.ndarray, top: int) -> np.ndarray:
    """``(N, A)``: per row, the top-``top`` classes' embeddings weighted by their probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :top]  # (N, T)
    weights = np.take_along_axis(probs, idx, axis=1)  # (N, T)
    weights = weights / np.clip(weights.sum(axis=1, keepdims=True), 1e-12, None)
    return np.einsum("nt,nta->na", weights, np.asarray(names_emb, dtype=np.float64)[idx])


@ZSL_METHODS.register("conse", config=ConSEConfig,
                      help="ConSE (Norouzi et al. 2014): ImageNet probabilities x class-name embeddings, no training.")
class ConSE(ZeroShotMethod):
    """Convex combination of the top-T ImageNet class-name embeddings."""

    name = "conse"
    trains = False
    centre_labels = False  # compared with its own (uncentred) ImageNet name embeddings

    def __init__(self, config: Any = None) -> None:
        super().__init__(config if config is not None else ConSEConfig())
        self.names_emb_: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, s: np.ndarray, space: LabelSpace,
            seed: int = 0) -> ConSE:
        if space.source_probs is None or not space.source_names:
            raise ConfigError("The 'method' parameter conse needs the image backbone's own ImageNet "
                              "classifier, and this backbone has none. Use the built-in "
                              "efficientnet_lite0, or --method eszsl / devise.")
        self.space = space
        self.names_emb_ = space.embed_texts([n.split(",")[0] for n in space.source_names])
        return self

    def scores(self, x: np.ndarray, s_all: np.ndarray, raw: np.ndarray) -> np.ndarray:
        emb = conse_embedding(self.space.source_probs(raw), self.names_emb_, self.config.top)
        emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
        s_all = np.asarray(s_all, dtype=np.float64)
        return emb @ (s_all / np.clip(np.linalg.norm(s_all, axis=1, keepdims=True), 1e-12, None)).T
