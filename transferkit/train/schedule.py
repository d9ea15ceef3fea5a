"""Learning-rate schedules with linear warmup, as multipliers for ``LambdaLR``.

Each group's peak rate is its own ``lr`` (so discriminative rates keep their ratios);
the schedule scales all of them by the same factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
