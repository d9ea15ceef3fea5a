"""Running the loop on several processes: Accelerate, and DDP under ``accelerate launch``.

One process on a CPU is the default; the same loop runs unchanged on N processes, each
on its own share of every batch (see :func:`~transferkit.train.batches.epoch_batches`).

Several processes: ``accelerate launch --multi_gpu --num_processes N script.py`` runs DDP
(gloo on a machine without GPUs; ``torchrun`` works too). Each process gets its own share
of every global batch of ``batch_size * N`` examples. ``accelerate launch --cpu
--num_processes N`` starts a single process unless an MPI hostfile is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def make_accelerator(cpu: bool, find_unused_parameters: bool, mixed_precision: str = "no") -> Any:
    """The ``accelerate.Accelerator`` of a fit. With ``mixed_precision="fp16"`` it autocasts
    the prepared module and owns the gradient scaler (:func:`optimizer_step`); bf16 needs no
    scaler and is the loop's own autocast, so it works on CPUs as on GPUs."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    return Accelerator(
        cpu=cpu, mixed_precision="fp16" if mixed_precision == "fp16" else "no",
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)])


def optimizer_step(accelerator: Any, optimizer: torch.optim.Optimizer, grad_clip: float | None) -> None:
    """Clip (``grad_clip``: the gradient norm, None: off) and step; under fp16 through
    Accelerate's gradient scaler: gradients unscaled before clipping, and a step whose
    gradients overflowed skipped (the scale then shrinks)."""
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None:
        accelerator.unscale_gradients(optimizer)
    if grad_clip is not None:
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


class StepModule(nn.Module):
    """Model + objective in one module, so that DDP sees every forward the objective makes
    (an objective may call ``model.features`` or a discriminator, not only ``model()``)."""

    def __init__(self, model: nn.Module, objective: Callable[..., Any]) -> None:
        super().__init__()
        self.model = model
        if isinstance(objective, nn.Module):
            self.objective = objective
        else:
            self._objective_fn = objective

    def forward(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        fn = self.objective if "objective" in self._modules else self._objective_fn
        return fn(self.model, batch, step)


def finite_everywhere(loss: torch.Tensor, accelerator: Any) -> bool:
    """Whether ``loss`` is finite on every process (all stop together when one is not)."""
    bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0], device=accelerator.device)
    if accelerator.num_processes > 1:
        bad = accelerator.reduce(bad, reduction="sum")
    return not float(bad.sum()) > 0


def broadcast_buffers(model: nn.Module) -> None:
    """Give every process the main process's buffers (BatchNorm statistics).

    Each process updated its BatchNorm statistics on its own shard; taking the main
    process's (as DDP does at the next forward) makes every process evaluate the same model
    and make the same early-stopping decision.
    """
    for buffer in model.buffers():
        torch.distributed.broadcast(buffer.data, src=0)


__all__ = ["StepModule", "broadcast_buffers", "finite_everywhere", "make_accelerator"]
