"""DeViSE: "A Deep Visual-Semantic Embedding Model", Frome et al., NeurIPS 2013
(https://papers.nips.cc/paper/5204-devise-a-deep-visual-semantic-embedding-model).

A linear map ``M`` (A x D) from image features to the label space, trained with the hinge
rank loss against the (unit-norm) label embeddings ``t``::

    loss(x, y) = sum_{j != y} max(0, margin - t_y^T M x + t_j^T M x)

A class then scores ``t_c^T M x``. ``M`` trains through transferkit's one training loop
(:class:`~transferkit.train.Trainer`, this loss as its objective).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.options import Options, option
from transferkit.zeroshot import ZSL_METHODS
from transferkit.zeroshot._base import LabelSpace, ZeroShotMethod


@dataclass
class DeViSEConfig(Options):
    """DeViSE's margin and its training budget."""

    margin: float = option(0.1, "The hinge's margin (Frome et al. use 0.1).", gt=0)
    epochs: int = option(20, "Passes over the seen-class training images.", ge=1)
    lr: float = option(1e-3, "Peak learning rate (AdamW, cosine schedule).", gt=0)


def hinge_rank_loss(scores: torch.Tensor, y: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over the batch of ``sum_{j != y} max(0, margin - scores_y + scores_j)``;
    ``scores`` (B, Z) = ``t_j^T M x``, ``y`` (B,)."""
    true = scores.gather(1, y[:, None])  # (B, 1)
    hinge = torch.clamp(margin - true + scores, min=0.0)  # (B, Z)
    hinge = hinge.masked_fill(nn.functional.one_hot(y, scores.shape[1]).bool(), 0.0)
    return hinge.sum(dim=1).mean()


class HingeRankObjective(nn.Module):
    """The trainer's objective: ``(model, (x, y), step) -> (loss, logs)`` with the seen
    classes' label embeddings fixed."""

    def __init__(self, labels: np.ndarray, margin: float) -> None:
        super().__init__()
        self.register_buffer("labels", torch.as_tensor(np.asarray(labels), dtype=torch.float32))
        self.margin = margin

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        scores = model(x) @ self.labels.T  # (B, Z)
        loss = hinge_rank_loss(scores, y, self.margin)
        return loss, {"hinge": float(loss.detach())}


@ZSL_METHODS.register("devise", config=DeViSEConfig,
                      help="DeViSE (Frome et al. 2013): linear map trained with a hinge rank loss.")
class DeViSE(ZeroShotMethod):
    """A linear map to the label space, trained with the hinge rank loss."""

    name = "devise"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config if config is not None else DeViSEConfig())
        self.map_: nn.Linear | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, s: np.ndarray, space: LabelSpace,
            seed: int = 0) -> DeViSE:
        from transferkit.config import TrainConfig
        from transferkit.pipeline.collate import tensor_collate
        from transferkit.pipeline.stages import FeatureDataset, single_thread
        from transferkit.train import Trainer

        torch.manual_seed(seed)
        self.map_ = nn.Linear(x.shape[1], s.shape[1], bias=False)
        cfg = dataclasses.replace(TrainConfig(), epochs=self.config.epochs, lr=self.config.lr,
                                  batch_size=64, patience=None)
        with single_thread():  # tiny matmuls: a second thread only adds synchronisation
            Trainer(self.map_, cfg, param_groups=[{"params": list(self.map_.parameters()), "name": "map"}],
                    train_data=FeatureDataset(np.asarray(x, dtype=np.float32), np.asarray(y)),
                    collate_fn=tensor_collate, objective=HingeRankObjective(s, self.config.margin),
                    seed=seed, log=None, progress=False, cpu=True).fit()
        self.map_.eval()
        return self

    @torch.no_grad()
    def scores(self, x: np.ndarray, s_all: np.ndarray, raw: np.ndarray) -> np.ndarray:
        mapped = self.map_(torch.as_tensor(np.asarray(x), dtype=torch.float32)).double().numpy()
        return mapped @ np.asarray(s_all, dtype=np.float64).T

    def linear_map(self) -> np.ndarray | None:
        return self.map_.weight.detach().double().numpy().T  # (D, A)
