"""Multi-scale encoders for dense tasks: a timm image backbone as segmentation-models-pytorch's
``tu-<timm name>`` encoder, with the backbone's weights.

A dense task (segmentation) needs feature maps at several scales, not one pooled vector.
:class:`DenseEncoder` wraps the encoder that segmentation-models-pytorch builds for the
same timm architecture (``features_only``), copies the timm backbone's weights into it
(``encoder.model``; every encoder tensor must be found with the same shape -- the log says
how many were loaded and which of the backbone's were left out, e.g. the classifier's
``conv_head``) and returns ``[input, f_1, ..., f_5]`` (strides 1, 2, 4, 8, 16, 32).

It is not a registered family: it records the wrapped backbone's description (with
``"dense": true``), so a run directory rebuilds the timm backbone and wraps it again.
Images are resized to ``image_size`` x ``image_size`` (both sides, no crop: every pixel
keeps its place for the mask) and normalised with the backbone's mean and std.

A frozen encoder's maps are computed once per image and cached (the probe analogue of a
dense task): :meth:`DenseEncoder.packed_maps` is a view of the encoder whose output is one
flat vector per image (``f_1 ... f_5`` flattened and joined; the input itself is left out,
the U-Net decoder reads only its size), so the feature cache stores it like any feature
vector, and :meth:`PackedMaps.unpack` turns cached rows back into the decoder's list.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.backbones.base import Backbone
from transferkit.errors import BackboneError, DataError

logger = logging.getLogger("transferkit.backbones")

#: the encoder's total stride: inputs are a multiple of it
STRIDE = 32


class DenseEncoder(Backbone):
    """``images -> [x, f_1, ..., f_5]``: a timm backbone's multi-scale feature maps."""

    modality = "image"

    def __init__(self, description: dict[str, Any]) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        self.base = {k: v for k, v in description.items() if k != "dense"}
        self.family = str(self.base["family"])
        self.name = str(self.base.get("name") or self.base["model"])
        self.model_name = str(self.base["model"])
        size = int(self.base.get("image_size") or 224)
        self.image_size = STRIDE * math.ceil(size / STRIDE)
        self.mean = [float(v) for v in self.base["mean"]]
        self.std = [float(v) for v in self.base["std"]]
        try:
            self.encoder = smp.encoders.get_encoder(f"tu-{self.model_name}", weights=None, depth=5)
        except Exception as exc:  # timm's features_only refuses some architectures
            raise BackboneError(f"The backbone '{self.name}' ({self.model_name}) has no multi-scale "
                                f"encoder for dense tasks ({str(exc)[:200]}). Use a convolutional timm "
                                "model such as efficientnet_lite0 or timm:resnet18.") from None
        self.out_channels = [int(c) for c in self.encoder.out_channels]
        self.feature_dim = self.out_channels[-1]
        self.loaded: dict[str, Any] = {}

    @classmethod
    def from_backbone(cls, backbone: Any) -> DenseEncoder:
        """The encoder of ``backbone``'s timm architecture, with its weights."""
        desc = backbone.describe()
        if desc.get("modality") != "image" or "model" not in desc or not hasattr(backbone, "model"):
            raise BackboneError(f"Dense tasks need a timm image backbone (e.g. efficientnet_lite0); "
                                f"'{desc.get('name')}' is a {desc.get('modality')} backbone of the "
                                f"{desc.get('family')} family.")
        enc = cls(desc)
        enc.load_from(backbone.model)
        return enc

    def load_from(self, model: nn.Module) -> None:
        """Copy a timm model's tensors into the encoder: every encoder key must be there with
        the same shape (BackboneError otherwise); the ones the encoder lacks are listed."""
        own = self.encoder.model.state_dict()
        src = model.state_dict()
        missing = [k for k in own if k not in src or tuple(src[k].shape) != tuple(own[k].shape)]
        if missing:
            raise BackboneError(f"The weights of '{self.name}' do not fit its multi-scale encoder: "
                                f"{len(missing)} tensor(s) missing or of another shape, e.g. {missing[:3]}.")
        self.encoder.model.load_state_dict({k: src[k] for k in own})
        unused = sorted({k.split(".")[0] for k in src if k not in own})
        self.loaded = {"tensors": len(own), "unused": unused}
        logger.info("dense encoder %s: loaded %d of %d tensors of the backbone (unused: %s)",
                    self.name, len(own), len(src), ", ".join(unused) or "none")

    def describe_adapter(self) -> str:
        """One console line: the encoder and how many of the backbone's tensors it took."""
        if not self.loaded:
            return f"  encoder: smp tu-{self.model_name}, {self.image_size} px (weights loaded with the run)"
        return (f"  encoder: smp tu-{self.model_name}, {self.image_size} px, {self.loaded['tensors']} "
                f"tensors loaded from the backbone (every encoder tensor, checked by name and shape; "
                f"unused: {', '.join(self.loaded['unused']) or 'none'})")

    # ------------------------------------------------------------------ the contract
    def collate(self, items: list[Any] | np.ndarray) -> torch.Tensor:
        """uint8 images ``(H, W[, C])`` -> ``(B, 3, S, S)`` float: both sides resized to S
        (bilinear, antialiased when shrinking), then normalised."""
        arrays = [np.asarray(a) for a in items]
        if not arrays:
            raise DataError("Cannot collate an empty list of images.")
        out = torch.empty((len(arrays), 3, self.image_size, self.image_size), dtype=torch.float32)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        for i, a in enumerate(arrays):
            if a.ndim == 2:
                a = a[..., None]
            if a.ndim != 3:
                raise DataError(f"Image {i} of the batch has shape {a.shape}; expected (H, W) or (H, W, C).")
            a = np.repeat(a[..., :1], 3, axis=2) if a.shape[2] < 3 else a[..., :3]
            t = torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1).div_(255.0)
            if t.shape[1:] != (self.image_size, self.image_size):
                shrink = t.shape[1] > self.image_size or t.shape[2] > self.image_size
                t = F.interpolate(t[None], size=(self.image_size, self.image_size), mode="bilinear",
                                  align_corners=False, antialias=shrink)[0]
            out[i] = (t - mean) / std
        return out

    def forward(self, inputs: torch.Tensor) -> list[torch.Tensor]:  # (B, 3, S, S) -> [(B, C_i, S/2^i, S/2^i)]
        return self.encoder(inputs)

    def blocks(self) -> list[nn.Module]:
        """The stem, then the encoder's stages (timm's ``blocks``), input to output."""
        model = self.encoder.model
        children = dict(model.named_children())
        stages = list(children["blocks"]) if "blocks" in children else []
        if not stages:
            return [model]
        stem = nn.ModuleList([m for k, m in children.items() if k != "blocks"])
        return [stem, *stages]

    def packed_maps(self) -> PackedMaps:
        """This encoder as one flat vector per image (what the feature cache stores)."""
        return PackedMaps(self)

    def describe(self) -> dict[str, Any]:
        return {**self.base, "dense": True, "image_size": self.image_size,
                "input_size": [3, self.image_size, self.image_size], "crop_pct": 1.0,
                "encoder_channels": self.out_channels}

    def input_recipe(self) -> list[str]:
        return ["Decode to uint8 (H, W, 3) RGB (grey repeated to 3 channels).",
                f"Resize both sides to {self.image_size} px (bilinear, align_corners=False, antialiased "
                "when shrinking), no crop; convert to float x / 255.",
                f"Normalise each channel c: (x - mean[c]) / std[c] with mean {self.mean} and std {self.std}.",
                f"Input tensor: float32 (batch, 3, {self.image_size}, {self.image_size}) (NCHW); the "
                "output mask has the same size."]


class PackedMaps(Backbone):
    """``images -> (B, L)``: a :class:`DenseEncoder`'s maps ``f_1 ... f_5`` flattened and joined
    (``L = sum C_i * (S / 2^i)^2``, 112,640 floats for efficientnet_lite0 at 128 px); the input
    map is left out (the decoder skips it and reads only its size). It shares the encoder's
    weights and preprocessing, and its fingerprint covers both, so its cache entries follow the
    encoder's weights.

    >>> enc = DenseEncoder(desc)  # doctest: +SKIP
    >>> maps = enc.packed_maps().unpack(enc.packed_maps()(x))  # == enc(x), the input as (B, 0, S, S)
    """

    modality = "image"

    def __init__(self, encoder: DenseEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.family, self.name = encoder.family, encoder.name
        self.image_size = size = encoder.image_size
        self.mean, self.std = encoder.mean, encoder.std
        #: (channels, side) of each packed map, input to output
        self.shapes = [(c, size >> i) for i, c in enumerate(encoder.out_channels) if i > 0]
        self.feature_dim = sum(c * s * s for c, s in self.shapes)

    def collate(self, items: list[Any] | np.ndarray) -> torch.Tensor:
        return self.encoder.collate(items)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, L)
        return torch.cat([f.flatten(1) for f in self.encoder(inputs)[1:]], dim=1)

    def unpack(self, packed: torch.Tensor) -> list[torch.Tensor]:  # (B, L) -> [(B, 0, S, S), (B, C_i, S/2^i, S/2^i)]
        """Cached rows back into the encoder's list of maps (the input as an empty ``(B, 0, S, S)``)."""
        b = packed.shape[0]
        parts = packed.split([c * s * s for c, s in self.shapes], dim=1)
        return [packed.new_zeros((b, 0, self.image_size, self.image_size)),
                *(p.reshape(b, c, s, s) for p, (c, s) in zip(parts, self.shapes, strict=True))]

    def describe(self) -> dict[str, Any]:
        return {**self.encoder.describe(), "packed_maps": True, "feature_dim": self.feature_dim}


__all__ = ["DenseEncoder", "PackedMaps", "STRIDE"]
