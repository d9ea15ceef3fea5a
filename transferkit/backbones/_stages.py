"""Stage layouts of timm models: ``(stem, stages, tail)`` with ``tail(stages(stem(x))) == m(x)``.

They let a timm backbone list its blocks (strategies that train by depth), split at a
block (cached activations below it) and pool intermediate stages (multi-scale features).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class Part(nn.Module):
    """A piece of a timm model's forward pass, owning only the modules it runs."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], modules: dict[str, nn.Module]) -> None:
        super().__init__()
        for key, module in modules.items():
            self.add_module(key, module)
        object.__setattr__(self, "_fn", fn)  # not a submodule: the modules above are the parameters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)


def structure(m: nn.Module) -> tuple[nn.Module, list[nn.Module], nn.Module] | None:
    """``(stem, stages, tail)`` of known timm layouts, so that tail(stages(stem(x))) == m(x)."""
    kind = type(m).__name__
    children = dict(m.named_children())

    def rest(exclude: set[str], fn: Callable[[torch.Tensor], torch.Tensor]) -> Part:
        return Part(fn, {k: v for k, v in children.items() if k not in exclude})

    if kind in ("EfficientNet", "MobileNetV3") and "conv_stem" in children:
        stem = Part(lambda x: m.bn1(m.conv_stem(x)), {"conv_stem": m.conv_stem, "bn1": m.bn1})
        if kind == "EfficientNet":
            tail = rest({"conv_stem", "bn1", "blocks"},
                        lambda x: m.forward_head(m.bn2(m.conv_head(x)), pre_logits=True))
        else:
            tail = rest({"conv_stem", "bn1", "blocks"}, lambda x: m.forward_head(x, pre_logits=True))
        return stem, list(m.blocks), tail
    if kind == "ResNet":
        names = ("conv1", "bn1", "act1", "maxpool")
        stem = Part(lambda x: m.maxpool(m.act1(m.bn1(m.conv1(x)))), {k: children[k] for k in names})
        stages = [m.layer1, m.layer2, m.layer3, m.layer4]
        tail = rest({*names, "layer1", "layer2", "layer3", "layer4"},
                    lambda x: m.forward_head(x, pre_logits=True))
        return stem, stages, tail
    if "stem" in children and "stages" in children:
        norm_pre = getattr(m, "norm_pre", nn.Identity())
        stem = Part(lambda x: m.stem(x), {"stem": m.stem})
        tail = rest({"stem", "stages"}, lambda x: m.forward_head(norm_pre(x), pre_logits=True))
        return stem, list(m.stages), tail
    if kind == "VisionTransformer":
        def vit_stem(x: torch.Tensor) -> torch.Tensor:
            return m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))

        names = ("patch_embed", "pos_drop", "patch_drop", "norm_pre")
        stem_mods: dict[str, nn.Module] = {k: children[k] for k in names if k in children}
        stem = Part(vit_stem, stem_mods)
        # _pos_embed reads these parameters; the stem owns them by holding the model's tensors.
        for pname in ("cls_token", "reg_token", "pos_embed"):
            p = getattr(m, pname, None)
            if isinstance(p, nn.Parameter):
                stem.register_parameter(pname, p)
        tail = rest({*names, "blocks"}, lambda x: m.forward_head(m.norm(x), pre_logits=True))
        return stem, list(m.blocks), tail
    return None


def pool(h: torch.Tensor) -> torch.Tensor:
    """Global average over space (B, C, H, W) or tokens (B, N, C) -> (B, C)."""
    return h.mean((2, 3)) if h.ndim == 4 else h.mean(1)


def tapped(stages: Sequence[nn.Module], tail: nn.Module, n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Run ``stages`` then ``tail``; return the tail's features followed by the pooled outputs
    of the last ``n`` stages (all of them lie in ``stages``)."""
    def run(h: torch.Tensor) -> torch.Tensor:
        taps = []
        for i, stage in enumerate(stages):
            h = stage(h)
            if i >= len(stages) - n:
                taps.append(pool(h))
        return torch.cat([tail(h), *taps], dim=1)
    return run
