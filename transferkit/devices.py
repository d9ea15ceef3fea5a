"""Where models run: ``--device auto|cpu|cuda|cuda:N|mps`` (``device=`` in Python).

One rule for every job (fit, adapt, pretrain, extraction, predict, evaluate, serve):
``auto`` is a CUDA GPU when torch sees one, else Apple's MPS when available, else the CPU.
A named device that is not there is an error, never a silent fall-back to the CPU.
Training runs through Accelerate on the resolved device; cached-feature extraction runs
the backbone there with torch (onnxruntime stays the CPU fast path); a loaded run moves
its model there, and every batch follows the model (:func:`transferkit.pipeline.to_device`).
This module imports torch only when a name is resolved.

>>> check_device_name("cuda:1")
'cuda:1'
"""

from __future__ import annotations

import contextlib
import functools
import re
from typing import Any

from transferkit.errors import ConfigError

DEVICE_HELP = ("Where models run: 'auto' (a CUDA GPU, else Apple's MPS, else the CPU), 'cpu', "
               "'cuda', 'cuda:N' or 'mps'.")
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(value: Any, parameter: str = "device") -> str:
    """``value`` as a device name, or a ConfigError naming the accepted forms."""
    name = "auto" if value is None else str(value).strip().lower()
    if not _PATTERN.match(name):
        raise ConfigError(f"The '{parameter}' parameter must be one of auto, cpu, cuda, cuda:N or mps. "
                          f"Got {value!r} instead.")
    return name


def resolve_device(value: Any = "auto", parameter: str = "device") -> Any:
    """The ``torch.device`` for ``value`` (see the module docstring)."""
    import torch

    name = check_device_name(value, parameter)
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= count:
            seen = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise ConfigError(f"The '{parameter}' parameter asks for {name!r}, but torch sees {seen} "
                              "on this machine. Use --device auto (or cpu).")
        return torch.device("cuda", index)
    if name == "mps" and not has_mps:
        raise ConfigError(f"The '{parameter}' parameter asks for 'mps', but Apple's MPS backend is not "
                          "available on this machine. Use --device auto (or cpu).")
    return torch.device(name)


@functools.cache
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX-BF16).

    There, ``--mixed-precision bf16`` runs a frozen transformer's forward pass about twice
    as fast as float32 (oneDNN's AMX kernels); elsewhere bf16 autocast on a CPU is emulated
    and gains little. Read from ``cpuinfo``'s first ``flags`` line; False where the file does not exist.
    """
    with contextlib.suppress(OSError), open(cpuinfo, encoding="utf-8") as f:
        for line in f:
            if line.startswith("flags"):
                return "amx_bf16" in line.split()
    return False


__all__ = ["DEVICE_HELP", "check_device_name", "cpu_has_native_bf16", "resolve_device"]

