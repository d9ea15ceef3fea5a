"""Encoders for series: a 1D CNN, a 1D ResNet and an LSTM over ``(T, C)`` float arrays.

``sequence:cnn``, ``sequence:resnet`` (the three residual blocks of Wang et al. 2017,
``hidden``/2x/2x channels) or ``sequence:lstm`` (``sequence`` alone is the CNN);
``:<hidden>`` sets the width and ``:global`` turns per-series normalisation off
(``sequence:cnn:64:global``).

Preprocessing: each series is z-normalised per channel over its own valid steps
(per-series or *instance* normalisation, on by default, so one encoder can pretrain
across series of different scales; missing values then take the series' mean), then
standardised with per-channel statistics that :meth:`adapt_to` fits on the training data
and keeps in buffers. Series of different lengths are zero-padded at the end and masked.

An encoder that already knows its channels (a ``pretrain`` run directory) keeps its
pretrained weights on data with another channel count: :meth:`adapt_to` puts a learned
:class:`~transferkit.mapping.channel_adapter.ChannelAdapter` (C_t -> C_s) in front of it
instead of rebuilding it, and :meth:`describe_adapter` says what matched.
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
from transferkit.mapping.channel_adapter import ChannelAdapter

KINDS = ("cnn", "lstm", "resnet")
GLOBAL = "global"  # the spec word that turns per-series normalisation off



def padded_batch(arrays: list[np.ndarray], channels: int) -> dict[str, torch.Tensor]:
    """Checked ``(T_i, C)`` series -> ``{"x": (B, T_max, C), "lengths": (B,)}``, zero-padded at the end."""
    lengths = torch.tensor([len(a) for a in arrays])
    x = torch.zeros((len(arrays), int(lengths.max()), channels))
    for i, a in enumerate(arrays):
        x[i, : len(a)] = torch.tensor(a)  # a copy: the array may be read-only
    return {"x": x, "lengths": lengths}

class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.Conv1d(c_in, c_out, 5, padding=2), nn.BatchNorm1d(c_out), nn.ReLU())


class _ResBlock(nn.Module):
    """The residual block of the 1D ResNet of Wang et al. (IJCNN 2017,
    https://arxiv.org/abs/1611.06455): convolutions of widths 8, 5, 3 with batch norm, a
    1x1-convolution shortcut; every layer's output is re-masked so padding stays zero."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        # "same" length; the even width 8 pads 3 before and 4 after, as padding="same" would
        self.convs = nn.ModuleList([nn.Sequential(nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0),
                                                  nn.Conv1d(a, c_out, k))
                                    for a, k in ((c_in, 8), (c_out, 5), (c_out, 3))])
        self.norms = nn.ModuleList([nn.BatchNorm1d(c_out) for _ in range(3)])
        self.shortcut = nn.Sequential(nn.Conv1d(c_in, c_out, 1), nn.BatchNorm1d(c_out))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, C, T), (B, 1, T)
        h = x
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = norm(conv(h))
            h = (torch.relu(h) if i < 2 else h) * mask
        return torch.relu(h + self.shortcut(x)) * mask


@BACKBONES.register("sequence", help="1D-CNN, 1D-ResNet and LSTM encoders for (T, C) series.")
class SequenceBackbone(Backbone):
    """``(B, T, C) -> (B, hidden)``: 3 conv blocks + global average pool, 3 residual blocks +
    global average pool (``resnet``: ``(B, 2 * hidden)``), or a 2-layer LSTM whose last hidden
    state (at each series' true length) is the feature."""

    has_pretrained_weights = False  # a random-init encoder: it learns end to end
    family = "sequence"
    modality = "sequence"
    prefixes = ("sequence:", "sequence")
    usage = ("sequence:cnn", "sequence:resnet", "sequence:lstm")

    def __init__(self, kind: str = "cnn", in_channels: int | None = None, hidden: int = 64,
                 instance_norm: bool = True, channels: list[str] | None = None,
                 adapter_channels: list[str] | None = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"Unknown sequence encoder '{kind}'. Available: {', '.join(KINDS)} "
                              "(e.g. --backbone sequence:lstm).")
        self.kind, self.hidden = kind, int(hidden)
        self.instance_norm = bool(instance_norm)
        self.name = f"sequence:{kind}" + ("" if self.instance_norm else f":{hidden}:{GLOBAL}")
        self.feature_dim = 2 * self.hidden if kind == "resnet" else self.hidden  # resnet: h, 2h, 2h channels
        self.in_channels: int | None = None
        self.channels: list[str] | None = None
        self.adapter: ChannelAdapter | None = None
        self.source_head: nn.Linear | None = None
        self.source_classes: list[str] | None = None
        if in_channels:
            self._build(int(in_channels), channels)
            if adapter_channels:
                self.adapter = ChannelAdapter(self.channels or [], adapter_channels)

    def _build(self, c: int, channels: list[str] | None = None) -> None:
        self.in_channels = c
        self.channels = list(channels) if channels else [str(j) for j in range(c)]
        self.register_buffer("mean", torch.zeros(c))
        self.register_buffer("std", torch.ones(c))
        h = self.hidden
        if self.kind == "cnn":
            self.convs = nn.ModuleList([_ConvBlock(c, h), _ConvBlock(h, h), _ConvBlock(h, h)])
        elif self.kind == "resnet":
            self.convs = nn.ModuleList([_ResBlock(c, h), _ResBlock(h, 2 * h), _ResBlock(2 * h, 2 * h)])
        else:
            self.lstm = nn.LSTM(c, h, num_layers=2, batch_first=True)

    @property
    def adapted(self) -> bool:
        return self.in_channels is not None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> SequenceBackbone:
        kind, *rest = (spec or "cnn").split(":")
        norm = not (rest and rest[-1].lower() == GLOBAL)
        rest = rest[:-1] if not norm else rest
        hidden = rest[0] if rest else ""
        try:
            if len(rest) > 1:
                raise ValueError
            h = int(hidden) if hidden else 64
        except ValueError:
            raise ConfigError(f"'sequence:{spec}' is not a sequence encoder: use sequence:<kind>"
                              f"[:<hidden>][:{GLOBAL}], e.g. 'sequence:lstm:128'. Got "
                              f"{':'.join(rest)!r} after the kind.") from None
        bb = cls(kind.lower(), hidden=h, instance_norm=norm)
        if weights:
            raise ConfigError("A sequence backbone is built from its training data's channel count, so "
                              "--backbone-weights cannot be applied to it; pass the run directory that "
                              "trained it as --backbone instead.")
        return bb

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> SequenceBackbone:
        adapter = desc.get("adapter") or {}
        # runs written before per-series normalisation existed did without it
        return cls(desc.get("kind", "cnn"), in_channels=desc.get("in_channels"), hidden=desc.get("hidden", 64),
                   instance_norm=bool(desc.get("instance_norm", False)), channels=desc.get("channels"),
                   adapter_channels=adapter.get("target_channels"))

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
        """Set the channel count and fit per-channel mean/std on training series.

        A fresh encoder is built for the data's channels. An encoder that already has
        channels (pretrained) is never rebuilt: on another channel count a
        :class:`ChannelAdapter` maps the data's channels onto its own.
        """
        items = [np.asarray(data.input(i), dtype=np.float32) for i in range(len(data))] \
            if hasattr(data, "input") else [np.asarray(a, dtype=np.float32) for a in data]
        if not items:
            raise DataError("Cannot adapt a sequence backbone to an empty dataset.")
        items = [a[:, None] if a.ndim == 1 else a for a in items]
        c = items[0].shape[1]
        names = (getattr(data, "meta", None) or {}).get("channels") or [str(j) for j in range(c)]
        if len(names) != c:
            names = [str(j) for j in range(c)]
        if self.in_channels is None:
            self._build(c, names)
        elif c != self.in_channels:
            keep = self.adapter is not None and self.adapter.target_channels == list(names)
            if not keep:  # pretrained weights stay; a learned map from the data's channels
                self.adapter = ChannelAdapter(self.channels or [], names)
        elif self.adapter is not None:
            self.adapter = None  # the data has the encoder's own channels again
        flat = np.concatenate([self.normalise_items(a) for a in items], axis=0)
        # missing values (NaN; data.impute=auto) are left out of the statistics, and forward
        # maps them to the channel's training mean
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing channel
            mean, std = np.nanmean(flat, 0), np.nanstd(flat, 0)
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        if self.adapter is not None:  # the target's channels; the encoder's own stay as pretrained
            self.adapter.fit_stats(mean, std)
        else:
            self.mean.copy_(torch.as_tensor(mean))
            self.std.copy_(torch.as_tensor(std))

    def normalise_items(self, a: np.ndarray) -> np.ndarray:
        """One series ``(T, C)`` z-normalised per channel (when instance_norm is on)."""
        if not self.instance_norm:
            return a
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m, s = np.nanmean(a, 0), np.nanstd(a, 0)
        return (a - np.nan_to_num(m)) / np.where(np.isfinite(s) & (s > 1e-8), s, 1.0)

    def describe_adapter(self) -> str | None:
        """What the channel adapter matched (None: the data has the encoder's channels)."""
        return self.adapter.describe() if self.adapter is not None else None

    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        """Series ``(T, C)`` -> ``{"x": (B, T_max, C), "lengths": (B,)}``, zero-padded."""
        if self.in_channels is None:
            raise NotFittedError("This sequence backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        arrays = [np.asarray(a, dtype=np.float32) for a in items]
        arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
        c = self.adapter.in_channels if self.adapter is not None else self.in_channels
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != c or len(a) == 0:
                how = (f" (its channel adapter maps {c} channel(s) onto the pretrained encoder's "
                       f"{self.in_channels}; a model adapts to one channel count: refit it on data with "
                       f"{a.shape[-1] if a.ndim == 2 else 'these'} channel(s))" if self.adapter is not None
                       else "")
                raise DataError(f"Series {i} of the batch has shape {a.shape}; this model takes series of "
                                f"shape (T, {c}) with T >= 1{how}.")
        return padded_batch(arrays, c)

    def prepared(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's input and the valid-step mask: ``x`` (B, T, C) normalised (and mapped
        through the channel adapter), 0 on padding; ``mask`` (B, T) of 0/1."""
        if self.in_channels is None:
            raise NotFittedError("This sequence backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        x, lengths = inputs["x"], inputs["lengths"]
        t = torch.arange(x.shape[1], device=x.device)
        mask = (t[None, :] < lengths[:, None].to(x.device)).to(x.dtype)  # (B, T)
        if self.instance_norm:
            x = instance_normalise(x, mask)
        if self.adapter is not None:
            x = self.adapter(x)  # (B, T, C_t) -> (B, T, C_s), standardised like the source
        else:
            x = torch.nan_to_num((x - self.mean) / self.std, nan=0.0)
        return x * mask.unsqueeze(-1), mask  # (B, T, C), (B, T)

    def encode_steps(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, T, hidden)
        """Per-step features of a prepared input (what masked-value pretraining decodes)."""
        if self.kind == "cnn":
            h = x.transpose(1, 2)  # (B, C, T)
            for block in self.convs:
                h = block(h) * mask.unsqueeze(1)
            return h.transpose(1, 2)
        if self.kind == "resnet":
            h = x.transpose(1, 2)
            for block in self.convs:
                h = block(h, mask.unsqueeze(1))
            return h.transpose(1, 2)
        out, _ = self.lstm(x)  # (B, T, H)
        return out

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, hidden)
        x, mask = self.prepared(inputs)
        h = self.encode_steps(x, mask)  # (B, T, H)
        if self.kind in ("cnn", "resnet"):  # masked mean over the valid steps
            return (h * mask.unsqueeze(-1)).sum(1) / mask.sum(-1, keepdim=True).clamp(min=1)
        last = (inputs["lengths"] - 1).clamp(min=0).to(x.device)  # the LSTM's state at each end
        return h[torch.arange(len(x), device=x.device), last]

    def blocks(self) -> list[nn.Module]:
        body = [self.lstm] if self.kind == "lstm" else list(self.convs)
        return ([self.adapter] if self.adapter is not None else []) + body

    def describe(self) -> dict[str, Any]:
        norm = ("per-series z-normalisation of each channel (a missing value -> the series' mean), "
                if self.instance_norm else "")
        adapter = ("a learned channel adapter (target channels standardised with training "
                   "statistics -> the encoder's channels), " if self.adapter is not None else "")
        return {**super().describe(), "kind": self.kind, "hidden": self.hidden,
                "in_channels": self.in_channels, "channels": self.channels,
                "instance_norm": self.instance_norm,
                "adapter": self.adapter.to_dict() if self.adapter is not None else None,
                "preprocessing": f"{norm}{adapter}per-channel standardisation (training data), a "
                                 "missing value (NaN) -> the channel's training mean, zero-padding "
                                 "to the longest series in a batch"}


def instance_normalise(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each series' channels z-normalised over its valid steps, NaN ignored and mapped to 0
    (the series' mean). ``x`` (B, T, C), ``mask`` (B, T) -> (B, T, C)."""
    valid = mask.unsqueeze(-1) * (~torch.isnan(x)).to(x.dtype)  # (B, T, C)
    filled = torch.nan_to_num(x, nan=0.0) * valid
    n = valid.sum(1, keepdim=True).clamp(min=1)  # (B, 1, C)
    mean = filled.sum(1, keepdim=True) / n
    var = (((filled - mean) * valid) ** 2).sum(1, keepdim=True) / n
    std = torch.where(var > 1e-16, var.sqrt(), torch.ones_like(var))
    return torch.where(valid > 0, (filled - mean) / std, torch.zeros_like(x))
