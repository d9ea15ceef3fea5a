"""Encoders for series: a 1D CNN and an LSTM over ``(T, C)`` float arrays.

``sequence:cnn`` or ``sequence:lstm`` (``sequence`` alone is the CNN). Channels are
standardised with per-channel statistics that :meth:`adapt_to` fits on the training
data and keeps in buffers; series of different lengths are zero-padded at the end.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.backbones import BACKBONES
from transferkit.backbones._weights import load_checked, read_state_dict
from transferkit.backbones.base import Backbone
from transferkit.errors import ConfigError, DataError, NotFittedError

KINDS = ("cnn", "lstm")


class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.Conv1d(c_in, c_out, 5, padding=2), nn.BatchNorm1d(c_out), nn.ReLU())


@BACKBONES.register("sequence", help="1D-CNN and LSTM encoders for (T, C) series.")
class SequenceBackbone(Backbone):
    """``(B, T, C) -> (B, hidden)``: 3 conv blocks + global average pool, or a 2-layer LSTM
    whose last hidden state (at each series' true length) is the feature."""

    has_pretrained_weights = False  # a random-init encoder: it learns end to end
    family = "sequence"
    modality = "sequence"
    prefixes = ("sequence:", "sequence")
    usage = ("sequence:cnn", "sequence:lstm")

    def __init__(self, kind: str = "cnn", in_channels: int | None = None, hidden: int = 64) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"Unknown sequence encoder '{kind}'. Available: {', '.join(KINDS)} "
                              "(e.g. --backbone sequence:lstm).")
        self.kind, self.hidden = kind, int(hidden)
        self.name = f"sequence:{kind}"
        self.feature_dim = self.hidden
        self.in_channels: int | None = None
        self.source_head: nn.Linear | None = None
        self.source_classes: list[str] | None = None
        if in_channels:
            self._build(int(in_channels))

    def _build(self, c: int) -> None:
        self.in_channels = c
        self.register_buffer("mean", torch.zeros(c))
        self.register_buffer("std", torch.ones(c))
        h = self.hidden
        if self.kind == "cnn":
            self.convs = nn.ModuleList([_ConvBlock(c, h), _ConvBlock(h, h), _ConvBlock(h, h)])
        else:
            self.lstm = nn.LSTM(c, h, num_layers=2, batch_first=True)

    @property
    def adapted(self) -> bool:
        return self.in_channels is not None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> SequenceBackbone:
        kind, _, hidden = (spec or "cnn").partition(":")
        try:
            h = int(hidden) if hidden else 64
        except ValueError:
            raise ConfigError(f"The hidden size in 'sequence:{spec}' must be an int, e.g. "
                              f"'sequence:lstm:128'. Got {hidden!r} instead.") from None
        bb = cls(kind.lower(), hidden=h)
        if weights:
            raise ConfigError("A sequence backbone is built from its training data's channel count, so "
                              "--backbone-weights cannot be applied to it; pass the run directory that "
                              "trained it as --backbone instead.")
        return bb

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> SequenceBackbone:
        return cls(desc.get("kind", "cnn"), in_channels=desc.get("in_channels"), hidden=desc.get("hidden", 64))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[SequenceBackbone, Any]:
        from transferkit.data.dataset import TransferDataset

        x = np.random.default_rng(0).normal(size=(6, 30, 3)).astype(np.float32)
        data = TransferDataset("tiny-series", "sequence", x, np.arange(6) % 2, ["a", "b"])
        bb = cls("cnn", hidden=8)
        bb.adapt_to(data)
        return bb, data

    def load_weight_file(self, path: str | Path) -> None:
        load_checked(self, read_state_dict(path), f"'{path}'")

    # ------------------------------------------------------------------ preprocessing
    def adapt_to(self, data: Any) -> None:
        """Set the channel count and fit per-channel mean/std on training series."""
        items = [np.asarray(data.input(i), dtype=np.float32) for i in range(len(data))] \
            if hasattr(data, "input") else [np.asarray(a, dtype=np.float32) for a in data]
        if not items:
            raise DataError("Cannot adapt a sequence backbone to an empty dataset.")
        items = [a[:, None] if a.ndim == 1 else a for a in items]
        c = items[0].shape[1]
        if self.in_channels != c:
            self._build(c)
        flat = np.concatenate(items, axis=0)
        # missing values (NaN; data.impute=auto) are left out of the statistics, and forward
        # maps them to the channel's training mean
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing channel
            mean, std = np.nanmean(flat, 0), np.nanstd(flat, 0)
        self.mean.copy_(torch.as_tensor(np.nan_to_num(mean)))
        self.std.copy_(torch.as_tensor(np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)))

    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        """Series ``(T, C)`` -> ``{"x": (B, T_max, C), "lengths": (B,)}``, zero-padded."""
        if self.in_channels is None:
            raise NotFittedError("This sequence backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        arrays = [np.asarray(a, dtype=np.float32) for a in items]
        arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != self.in_channels or len(a) == 0:
                raise DataError(f"Series {i} of the batch has shape {a.shape}; expected (T, "
                                f"{self.in_channels}) with T >= 1.")
        lengths = torch.tensor([len(a) for a in arrays])
        x = torch.zeros((len(arrays), int(lengths.max()), self.in_channels))
        for i, a in enumerate(arrays):
            x[i, : len(a)] = torch.from_numpy(a)
        return {"x": x, "lengths": lengths}

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, hidden)
        if self.in_channels is None:
            raise NotFittedError("This sequence backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        x, lengths = inputs["x"], inputs["lengths"]
        t = torch.arange(x.shape[1], device=x.device)
        mask = (t[None, :] < lengths[:, None]).to(x.dtype)  # (B, T)
        x = torch.nan_to_num((x - self.mean) / self.std, nan=0.0) * mask.unsqueeze(-1)  # (B, T, C)
        if self.kind == "cnn":
            h = x.transpose(1, 2)  # (B, C, T)
            for block in self.convs:
                h = block(h) * mask.unsqueeze(1)
            return h.sum(-1) / mask.sum(-1, keepdim=True).clamp(min=1)
        out, _ = self.lstm(x)  # (B, T, H)
        last = (lengths - 1).clamp(min=0).to(x.device)
        return out[torch.arange(len(x), device=x.device), last]

    def blocks(self) -> list[nn.Module]:
        return list(self.convs) if self.kind == "cnn" else [self.lstm]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": self.kind, "hidden": self.hidden,
                "in_channels": self.in_channels,
                "preprocessing": "per-channel standardisation (training data), a missing value (NaN) "
                                 "-> the channel's training mean, zero-padding to the longest "
                                 "series in a batch"}
