"""Tiny backbones and synthetic data for the strategy and trainer tests (milliseconds)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from transferkit.backbones.base import Backbone
from transferkit.model import TransferModel


class TinyBackbone(Backbone):
    """stem Linear -> n blocks of (Linear, BatchNorm1d, ReLU, Dropout) on vectors."""

    family = "tiny"
    name = "tiny-mlp"
    modality = "table"

    def __init__(self, in_dim: int = 8, width: int = 16, n_blocks: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        self.feature_dim = width
        self.stem = nn.Linear(in_dim, width)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout))
            for _ in range(n_blocks))

    def collate(self, items: list[Any]) -> torch.Tensor:
        return torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in items])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, in) -> (B, D)
        h = self.stem(inputs)
        for layer in self.layers:
            h = layer(h)
        return h

    def blocks(self) -> list[nn.Module]:
        return [self.stem, *self.layers]

    def split_at(self, k: int) -> tuple[nn.Module, nn.Module]:
        blocks = self.blocks()
        return nn.Sequential(*blocks[: len(blocks) - k]), nn.Sequential(*blocks[len(blocks) - k:])


class TinyConvBackbone(Backbone):
    """3x3 conv + BN stem, blocks of (1x1 conv, BN, ReLU), global average pooling."""

    family = "tiny"
    name = "tiny-cnn"
    modality = "image"

    def __init__(self, channels: int = 8, n_blocks: int = 2) -> None:
        super().__init__()
        self.feature_dim = channels
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU())
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU())
            for _ in range(n_blocks))

    def collate(self, items: list[Any]) -> torch.Tensor:
        return torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in items])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, C)
        h = self.stem(inputs)
        for layer in self.layers:
            h = layer(h)
        return h.mean(dim=(2, 3))

    def blocks(self) -> list[nn.Module]:
        return [self.stem, *self.layers]


class TimmBackbone(Backbone):
    """A timm model (random init) as a backbone: blocks = stem, stages, head conv."""

    family = "timm"
    modality = "image"

    def __init__(self, name: str = "test_efficientnet") -> None:
        super().__init__()
        import timm

        self.name = name
        self.net = timm.create_model(name, pretrained=False, num_classes=0)
        self.feature_dim = self.net.num_features

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    def blocks(self) -> list[nn.Module]:
        return list(self.net.blocks)


class BertBackbone(Backbone):
    """A 2-layer, 32-wide BERT (random init); features = the [CLS] hidden state."""

    family = "hf"
    name = "tiny-bert"
    modality = "text"

    def __init__(self) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        cfg = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=32)
        self.bert = BertModel(cfg, add_pooling_layer=False)
        self.feature_dim = 32

    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        ids = torch.stack([torch.as_tensor(x, dtype=torch.long) for x in items])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, 32)
        return self.bert(**inputs).last_hidden_state[:, 0]

    def blocks(self) -> list[nn.Module]:
        return [self.bert.embeddings, *self.bert.encoder.layer]


def blobs(n: int = 96, in_dim: int = 8, classes: int = 3, seed: int = 0, noise: float = 0.6) -> TensorDataset:
    """Gaussian blobs: a separable ``classes``-way problem of ``(x (in_dim,), y)`` items."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, in_dim, generator=torch.Generator().manual_seed(1234)) * 2.0
    y = torch.arange(n) % classes
    x = centers[y] + noise * torch.randn(n, in_dim, generator=g)
    return TensorDataset(x, y)


def token_blobs(n: int = 48, length: int = 8, classes: int = 2, seed: int = 0) -> TensorDataset:
    """Token sequences whose class decides which half of the vocabulary they use."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    ids = torch.randint(1, 32, (n, length), generator=g) + 32 * y[:, None] % 64
    return TensorDataset(ids.clamp(max=63), y)


def image_blobs(n: int = 48, size: int = 8, classes: int = 2, seed: int = 0) -> TensorDataset:
    """Grey images whose class sets the brightness of the left or right half."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = 0.3 * torch.randn(n, 1, size, size, generator=g)
    x[y == 0, :, :, : size // 2] += 1.0
    x[y == 1, :, :, size // 2:] += 1.0
    return TensorDataset(x, y)


def tiny_model(seed: int = 0, classes: int = 3, **kwargs: Any) -> TransferModel:
    torch.manual_seed(seed)
    return TransferModel(TinyBackbone(**kwargs), num_classes=classes)


def collate_tensors(items: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([torch.as_tensor(i[0]) for i in items])
    y = torch.as_tensor([int(i[1]) for i in items], dtype=torch.long)
    return x, y
