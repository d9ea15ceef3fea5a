"""Input adapter for images whose channels or size differ from the source's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import ConfigError, DataError
from transferkit.mapping import INPUT_ADAPTERS
from transferkit.mapping._base import check_dim
from transferkit.options import Options, option, resolve_config

_MODES = ("bilinear", "bicubic", "nearest", "area")


@dataclass
class ImageAdapterConfig(Options):
    """Channel mixing and resizing in front of an image backbone."""

    mode: str = option("bilinear", "Interpolation used to resize.", choices=_MODES)
    antialias: bool = option(True, "Antialias when shrinking (bilinear/bicubic only).")
    trainable: bool = option(True, "Train the 1x1 channel-mixing convolution.")


def _size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"The 'size' parameter of ImageAdapter must be an int, (height, width) or "
                          f"None. Got {size!r} instead.") from None
    if h < 1 or w < 1:
        raise ConfigError(f"The 'size' parameter of ImageAdapter must be positive. Got {size!r}.")
    return h, w


def channel_init(in_channels: int, out_channels: int) -> torch.Tensor:
    """Initial 1x1 mixing weights (C_s, C_t): the conversion a person would pick.

    Same count: identity. Grey -> C_s: replicate. C_t -> grey: average. Otherwise the
    shared channels pass through (RGBA -> RGB drops alpha) and extra output channels
    get the average of the inputs.
    """
    w = torch.zeros(out_channels, in_channels)
    if in_channels == 1:
        w[:, 0] = 1.0
    elif out_channels == 1:
        w[0, :] = 1.0 / in_channels
    else:
        shared = min(in_channels, out_channels)
        w[:shared, :shared] = torch.eye(shared)
        w[shared:, :] = 1.0 / in_channels
    return w


@INPUT_ADAPTERS.register("image", config=ImageAdapterConfig,
                         help="A 1x1 convolution from the target's channels to the source's, "
                              "then a resize to the source's input size.")
class ImageAdapter(nn.Module):
    """x_s = resize(conv1x1(x_t)): other channel counts and sizes in front of a backbone.

    The 1x1 convolution (C_t -> C_s, with bias) starts as the usual conversion -- grey
    replicated to RGB, RGB averaged to grey (:func:`channel_init`) -- and can be trained
    with the model; then the image is resized to the source's input ``size`` (if given).
    Shapes: (B, C_t, H, W) -> (B, C_s, H_s, W_s); (B, H, W) is read as C_t = 1.
    """

    def __init__(self, in_channels: int, out_channels: int = 3, size: Any = None,
                 config: Any = None, **params: Any) -> None:
        super().__init__()
        self.config = resolve_config(ImageAdapterConfig, config, params)
        self.in_channels = check_dim(in_channels, "in_channels", "ImageAdapter")
        self.out_channels = check_dim(out_channels, "out_channels", "ImageAdapter")
        self.size = _size(size)
        self.mix = nn.Conv2d(self.in_channels, self.out_channels, kernel_size=1)
        with torch.no_grad():
            self.mix.weight.copy_(channel_init(self.in_channels, self.out_channels)[:, :, None, None])
            self.mix.bias.zero_()
        self.mix.requires_grad_(self.config.trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_t, H, W) -> (B, C_s, H_s, W_s)
        if x.ndim == 3 and self.in_channels == 1:
            x = x[:, None]  # (B, 1, H, W)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise DataError(
                f"ImageAdapter expects images of shape (B, {self.in_channels}, H, W). "
                f"Got shape {tuple(x.shape)}."
            )
        x = self.mix(x.float())  # (B, C_s, H, W)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            smooth = self.config.mode in ("bilinear", "bicubic")
            x = F.interpolate(x, size=self.size, mode=self.config.mode,
                              align_corners=False if smooth else None,
                              antialias=self.config.antialias and smooth)
        return x

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, size={self.size}"
