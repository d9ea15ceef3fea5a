"""Several processes on one machine (``accelerate launch --multi_gpu --num_processes N`` or
``torchrun``): which one this is, its slice of the work, and the slices gathered in order.

Without a GPU, Accelerate's process state only joins the other processes when asked for the
CPU (``PartialState(cpu=True)``: gloo); a plain ``PartialState()`` there sees one process.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def process_state() -> Any:
    """Accelerate's process state when launched with several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return state if state.num_processes > 1 else None


def my_slice(n: int, state: Any) -> np.ndarray:
    """The positions ``0..n-1`` this process handles: a contiguous slice, in rank order."""
    indices = np.arange(n)
    return indices if state is None else np.array_split(indices, state.num_processes)[state.process_index]


def gather_slices(part: Any, state: Any) -> list[Any]:
    """Every process's ``part``, in rank order, on every process."""
    if state is None:
        return [part]
    from accelerate.utils import gather_object

    return list(gather_object([part]))


__all__ = ["gather_slices", "my_slice", "process_state"]
