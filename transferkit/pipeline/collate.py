"""How batches are made: targets, cached feature vectors, raw inputs through the backbone's
preprocessing, and train-time image augmentation.

Augmentation (``--augment none|light|strong``): timm's training
transform (``timm.data.create_transform(is_training=True)``) on the stages that read raw
images; validation, test and prediction stay on the backbone's eval preprocessing.

- ``light``: random-resized crops of 80-100 % of the image, horizontal flips, no colour
  change -- for data where a flip keeps the class (products, scenes; not digits or text).
- ``strong``: crops of 8-100 %, flips, colour jitter 0.4, RandAugment
  (``rand-m9-mstd0.5-inc1``) and random erasing 0.25 -- timm's ImageNet recipe.

Stages on cached features or activations see the same cached vectors every epoch, so they
are not augmented; ``train.augment_cached=true`` trains them on raw images instead, so the
augmentation reaches them -- at the cost of a forward pass through the frozen blocks at
every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

PRESETS: dict[str, dict[str, Any]] = {
    "light": {"scale": (0.8, 1.0), "hflip": 0.5, "color_jitter": 0.0},
    "strong": {"scale": (0.08, 1.0), "hflip": 0.5, "color_jitter": 0.4,
               "auto_augment": "rand-m9-mstd0.5-inc1", "re_prob": 0.25},
}


def target_tensor(targets: Sequence[Any]) -> torch.Tensor:
    """A batch's targets: int64 class codes, float32 numbers (regression) or float32 (B, L)
    multi-hot rows (label sets)."""
    values = np.asarray(targets)
    return torch.from_numpy(values.astype(np.float32 if values.dtype.kind == "f" else np.int64))


class FeatureDataset(torch.utils.data.Dataset):
    """(features, target) pairs over an in-memory or memory-mapped array; targets are
    class codes (int64), numbers (float64, regression) or multi-hot rows (float32, label sets)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = x
        y = np.asarray(y)
        if y.ndim == 2:  # label sets: (N, L) 0/1; tags per word: (N, W) int codes, -100 padding
            self.y = y.astype(np.int64) if y.dtype.kind == "i" else y.astype(np.float32)
        else:
            self.y = y.astype(np.float64) if y.dtype.kind == "f" else y.astype(np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Any]:
        target = self.y[i] if self.y.ndim >= 2 else self.y[i].item()  # masks: (H, W) each
        return torch.from_numpy(np.array(self.x[i], dtype=np.float32)), target


def tensor_collate(items: list[tuple[torch.Tensor, int | float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (features, target) items into a batch."""
    return torch.stack([x for x, _ in items]), target_tensor([y for _, y in items])


def make_collate(backbone: Any) -> Callable[[list], tuple[Any, torch.Tensor]]:
    """Collate raw (input, target) items through the backbone's preprocessing."""

    def collate(items: list) -> tuple[Any, torch.Tensor]:
        return backbone.collate([x for x, _ in items]), target_tensor([y for _, y in items])

    return collate


def augments(backbone: Any, preset: str) -> bool:
    """Whether ``preset`` applies to ``backbone`` (an image backbone with timm preprocessing)."""
    return preset in PRESETS and getattr(backbone, "modality", None) == "image" and hasattr(backbone, "mean")


def augmented_collate(backbone: Any, preset: str, targets: Callable[[list], torch.Tensor]
                      ) -> Callable[[list], tuple[torch.Tensor, torch.Tensor]]:
    """A training collate of raw ``(image, target)`` items: each uint8 image through timm's
    training transform of ``preset`` at the backbone's size and normalisation; ``targets``
    collates the targets."""
    from PIL import Image
    from timm.data import create_transform

    transform = create_transform(input_size=backbone.image_size, is_training=True,
                                 interpolation=backbone.interpolation, mean=tuple(backbone.mean),
                                 std=tuple(backbone.std), **PRESETS[preset])

    def collate(items: list) -> tuple[torch.Tensor, torch.Tensor]:
        images = []
        for x, _ in items:
            arr = np.asarray(x)
            if arr.ndim == 3 and arr.shape[-1] == 1:
                arr = arr[..., 0]
            images.append(transform(Image.fromarray(arr).convert("RGB")))
        batch = torch.stack(images).contiguous(memory_format=torch.channels_last)  # (B, 3, S, S)
        return batch, targets([y for _, y in items])

    return collate


__all__ = ["FeatureDataset", "PRESETS", "augmented_collate", "augments", "make_collate", "target_tensor", "tensor_collate"]
