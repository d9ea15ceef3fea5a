"""Learning-rate schedules with linear warmup, as multipliers for ``LambdaLR``.

Each group's peak rate is its own ``lr`` (so discriminative rates keep their ratios);
the schedule scales all of them by the same factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from transferkit.errors import RunDirError

ONECYCLE_DIV = 25.0  # start at peak / 25, as torch.optim.lr_scheduler.OneCycleLR
ONECYCLE_FINAL_DIV = 1e4  # end at start / 1e4


def lr_factor(kind: str, total_steps: int, warmup: float) -> Callable[[int], float]:
    """``factor(step)`` for ``kind`` in {"cosine", "onecycle", "constant"}.

    - warmup: ``W = round(warmup * T)`` steps rising linearly to 1
      (one-cycle: from ``1/25``);
    - cosine: ``0.5 * (1 + cos(pi * (s - W) / (T - W)))`` after warmup;
    - onecycle (Smith & Topin 2017, https://arxiv.org/abs/1708.07120): cosine from 1 down
      to ``1 / (25 * 1e4)``;
    - constant: 1 after warmup.
    """
    total = max(1, int(total_steps))
    warm = min(int(round(warmup * total)), total - 1) if warmup > 0 else 0
    if kind == "onecycle" and warm == 0 and total > 1:
        warm = max(1, int(round(0.05 * total)))
    low = 1.0 / ONECYCLE_DIV if kind == "onecycle" else 0.0
    end = 1.0 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV) if kind == "onecycle" else 0.0

    def factor(step: int) -> float:
        if step < warm:
            return low + (1.0 - low) * (step + 1) / warm
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def continued_factor(kind: str, steps: int, start: float) -> Callable[[int], float]:
    """``factor(step)`` of a schedule that continues a finished one for ``steps`` more steps
    from the multiplier ``start`` it ended at (no warmup: the weights are trained already).

    - constant: ``start`` throughout;
    - cosine and onecycle: ``start * 0.5 * (1 + cos(pi * s / S))``, from ``start`` down to 0
      (one-cycle: to its final ``1 / (25 * 1e4)``, never above ``start``).
    """
    total = max(1, int(steps))
    end = min(start, 1.0 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)) if kind == "onecycle" else 0.0

    def factor(step: int) -> float:
        if kind == "constant":
            return start
        progress = min(1.0, step / total)
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def extension_plan(cfg: Any, state: dict[str, Any], total_steps: int, stage: str,
                   extendable: bool) -> tuple[float, int]:
    """How a finished stage (``state``: its final checkpoint's state) continues to
    ``total_steps``: the multiplier its schedule ended at and the steps added. A stage that
    later stages started from (not ``extendable``), or that early stopping ended, cannot."""
    done_steps, planned = int(state["step"]), int(state["total_steps"])
    again = ("Start a new run with the new settings: --overwrite replaces this run, another "
             "--name/--out keeps it.")
    if not extendable:
        raise RunDirError(
            f"Stage '{stage}' finished after {done_steps} steps and this run plans {total_steps} for "
            "it, but it cannot be continued: the stages after it started from its final weights, "
            f"and only a strategy's last stage can train longer. {again}")
    stopped = (state.get("result") or {}).get("stopped")
    if stopped not in ("completed", "max_steps"):
        raise RunDirError(
            f"Stage '{stage}' ended by {stopped} after {done_steps} of {planned} planned steps, not "
            f"by its epochs or max_steps, so more of them would not train it further. {again}")
    before = state.get("extension")
    if before is None:
        start = lr_factor(cfg.scheduler, planned, cfg.warmup)(done_steps - 1)
    else:
        start = continued_factor(cfg.scheduler, before["steps"], before["start"])(
            done_steps - 1 - before["from_step"])
    return start, total_steps - done_steps
