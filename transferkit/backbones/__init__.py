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

Each family is a :class:`~transferkit.backbones.base.BackboneFamily`: it declares the
names it reads (``prefixes``, ``builtins``, ``folder_files``) and offers
``from_spec(spec, **options)``, ``from_description(desc)`` and ``tiny_example(workdir)``
(a small random-init instance plus matching data, used by the contract tests). Adding a
family is one file; :func:`create_backbone` asks the families, it names none of them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from transferkit.backbones.base import Backbone, BackboneFamily
from transferkit.errors import BackboneError
from transferkit.registry import Registry, did_you_mean

BACKBONES: Registry[Any] = Registry("backbone family", package="transferkit.backbones",
                                    factory="from_spec")


def families() -> dict[str, type[BackboneFamily]]:
    """Every registered family by name."""
    return {name: BACKBONES.get(name) for name in BACKBONES.names()}


def builtins() -> dict[str, dict[str, Any]]:
    """The built-in backbones whose weights ship in pip packages (see RESOURCES.md), as
    their families declare them: name -> info, with the family's name under ``"family"``."""
    found = {name: {"family": family, **info}
             for family, cls in families().items() for name, info in cls.builtins.items()}
    return dict(sorted(found.items()))


def __getattr__(name: str) -> Any:
    if name == "BUILTINS":  # the families' declarations, read when first asked for
        return builtins()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve(spec: str) -> tuple[str, str]:
    """``(family, from_spec argument)`` for what a user typed; BackboneError when no family
    reads it."""
    path = Path(spec).expanduser()
    if path.is_dir():
        marks = [(name, file, what) for name, cls in families().items()
                 for file, what in cls.folder_files.items()]
        for name, file, _ in marks:
            if (path / file).is_file():
                return name, str(path)
        raise BackboneError(f"The folder '{path}' is none of: "
                            + ", ".join(f"{what} (no {file})" for _, file, what in marks) + ".")
    for name, cls in families().items():
        rest = cls.read_spec(spec)
        if rest is not None:
            return name, rest
    for name, cls in families().items():
        if cls.reads_name(spec):
            return name, spec
    usage = [form for cls in families().values() for form in cls.usage]
    names = [*builtins(), *(form for form in usage if "<" not in form)]
    hint = did_you_mean(spec, names) or next(
        (h for h in (cls.suggest(spec) for cls in families().values()) if h), "")
    raise BackboneError(
        f"Unknown backbone '{spec}'.{hint} Available built-ins: {', '.join(builtins())}; or one "
        f"of {', '.join(repr(form) for form in usage)}. See `transferkit models`."
    )


def starts_pretrained(spec: str | Path, pretrained: bool = True, weights: str | None = None) -> bool:
    """Whether the backbone named ``spec`` starts from learned weights: a weight file, or
    ``pretrained`` and a family that has pretrained weights (asks the family)."""
    if weights:
        return True
    if not pretrained:
        return False
    family, rest = resolve(str(spec).strip())
    return bool(BACKBONES.get(family).starts_pretrained(rest))


def family_of(spec: str | Path) -> type[BackboneFamily] | None:
    """The registered family that reads the backbone name ``spec``; None for a name no
    family reads."""
    try:
        family, _ = resolve(str(spec).strip())
    except BackboneError:
        return None
    return BACKBONES.get(family)


def installed(spec: str) -> bool:
    """Whether the package the backbone named ``spec`` needs (its family's ``requires``; a
    composite's parts': ``lags+fracast`` needs fracast) is installed; False for a name no
    family reads."""
    try:
        family, rest = resolve(str(spec).strip())
    except BackboneError:
        return False
    return bool(BACKBONES.get(family).is_installed(rest))


def create_backbone(spec: str | Path, *, weights: str | None = None, pretrained: bool = True,
                    image_size: int | None = None, max_length: int | None = None) -> Backbone:
    """Build the backbone named by ``spec`` (see the module docstring for the forms).

    >>> bb = create_backbone("efficientnet_lite0", image_size=64)  # doctest: +SKIP
    >>> bb.feature_dim  # doctest: +SKIP
    1280
    """
    text = str(spec).strip()
    if not text:
        usage = [form for cls in families().values() for form in cls.usage]
        raise BackboneError("The 'backbone' parameter is empty. Pass a built-in name (see `transferkit "
                            f"models`) or one of {', '.join(repr(form) for form in usage)}.")
    family, rest = resolve(text)
    return BACKBONES.build(family, spec=rest, weights=weights, pretrained=pretrained,
                           image_size=image_size, max_length=max_length)


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
    return importlib.util.find_spec(builtins()[name]["module"]) is not None


def list_models() -> list[dict[str, Any]]:
    """The built-in backbones, whether their weights are installed, and how to install them."""
    rows = []
    for name, info in builtins().items():
        available = weights_available(name)
        rows.append({
            "name": name, "family": info["family"], "modality": info["modality"],
            "feature_dim": info["feature_dim"], "params": int(info["params"]),
            "available": available, "description": info["help"],
            "install": None if available else f"pip install {info['package']}",
        })
    return rows


__all__ = ["BACKBONES", "BUILTINS", "Backbone", "BackboneFamily", "builtins", "create_backbone", "family_of", "installed",
           "families", "from_description", "list_models", "resolve", "starts_pretrained",
           "weights_available"]
