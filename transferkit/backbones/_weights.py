"""Reading weight files safely and loading them with shape checks.

Weights come from safetensors files, or from PyTorch state dicts read with
``torch.load(weights_only=True)`` -- never by unpickling arbitrary objects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from transferkit.errors import BackboneError, UnsafeFileError

# Wrappers that training scripts commonly put in front of every key.
_PREFIXES = ("module.", "model.", "state_dict.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a plain state dict (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise BackboneError(
            f"The weight file '{path}' does not exist. Pass an existing .safetensors file "
            "(or a PyTorch state dict) to --backbone-weights."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as exc:
            raise BackboneError(f"The weight file '{path}' is not a valid safetensors file: {exc}") from exc
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UnsafeFileError(
            f"The weight file '{path}' cannot be read as a plain state dict without unpickling "
            f"arbitrary objects ({type(exc).__name__}). Convert it to .safetensors "
            "(safetensors.torch.save_file(model.state_dict(), 'weights.safetensors'))."
        ) from exc
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BackboneError(
            f"The weight file '{path}' does not hold a state dict (a mapping of names to tensors)."
        )
    return {str(k): v for k, v in obj.items()}


def strip_prefixes(state: Mapping[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """Drop wrapper prefixes (``module.``, ``model.``) when that makes the keys fit."""
    state = dict(state)
    for prefix in _PREFIXES:
        if not any(k in expected for k in state) and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_checked(module: nn.Module, state: Mapping[str, torch.Tensor], source: str,
                 allow_missing: tuple[str, ...] = (), ignore_unexpected: tuple[str, ...] = ()) -> None:
    """``module.load_state_dict(state)`` with an error that lists what does not fit.

    Keys starting with ``allow_missing`` may be absent; keys starting with
    ``ignore_unexpected`` are dropped when the module has no such key.
    """
    own = module.state_dict()
    state = strip_prefixes(state, set(own))
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
                  if k in own and tuple(v.shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")
               and not k.startswith(allow_missing)]
    unexpected = [k for k in state if k not in own and not k.startswith(ignore_unexpected)]
    if mismatched or missing or unexpected:
        parts = []
        if mismatched:
            parts.append("shape mismatch for " + "; ".join(
                f"'{k}': file {a} vs model {b}" for k, a, b in mismatched[:5])
                + (f" (and {len(mismatched) - 5} more)" if len(mismatched) > 5 else ""))
        if missing:
            parts.append(f"{len(missing)} missing keys, first: {missing[:5]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys, first: {unexpected[:5]}")
        raise BackboneError(
            f"The weights in {source} do not fit the backbone {type(module).__name__}: "
            + "; ".join(parts) + ". Check that the file was saved from the same architecture "
            "(same model name and sizes)."
        )
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def hub_offline() -> bool:
    """True when the user (or the environment) says there is no network."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TRANSFERKIT_OFFLINE"))


def offline_message(what: str, reason: str = "") -> str:
    """The one wording for hub weights that cannot be fetched."""
    from transferkit.backbones import builtins  # the families declare them

    return (
        f"Backbone '{what}' needs weights from the network and this machine is offline"
        + (f" ({reason})" if reason else "")
        + f". Use an offline built-in ({', '.join(builtins())}; see `transferkit models`), pass "
        "--backbone-weights FILE with a local weight file, or --no-pretrained for random "
        "initialisation."
    )
