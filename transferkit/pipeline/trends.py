"""A stage's training-loss trend: whether it went downhill, and the warning when it did not."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from transferkit.train.callbacks import Callback


class LossTrend(Callback):
    """Keeps a stage's training losses, to tell whether it went downhill."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_step_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
        value = logs.get("loss")
        if value is not None and math.isfinite(value):
            self.losses.append(float(value))

    def ends(self) -> dict[str, float]:
        """Mean loss of the first and of the last steps (a quarter of them, at most 10 each:
        one mini-batch is too noisy to compare); empty for fewer than 2 steps."""
        n = len(self.losses)
        if n < 2:
            return {}
        k = max(1, min(10, n // 4))
        return {"loss_first": round(sum(self.losses[:k]) / k, 6),
                "loss_last": round(sum(self.losses[-k:]) / k, 6)}


#: how far (relative) a stage's last losses may sit above its first before it is called
#: uphill: a stage that starts converged (a second stage after the head's) wobbles a little
LOSS_RISE_TOLERANCE = 0.05


def stage_warnings(stages: Sequence[dict[str, Any]]) -> list[str]:
    """A summary warning for each stage whose training loss ended above where it started:
    it trained uphill (a learning rate far too high, a wrong sign somewhere)."""
    return [f"stage '{s['stage']}': the training loss rose from {s['loss_first']:.4g} (first steps) "
            f"to {s['loss_last']:.4g} (last steps); the model trained uphill. Lower --lr, keep "
            "train.grad_clip positive (or None), and check the inputs for extreme values."
            for s in stages if "loss_first" in s
            and s["loss_last"] > s["loss_first"] + LOSS_RISE_TOLERANCE * abs(s["loss_first"])]


__all__ = ["LOSS_RISE_TOLERANCE", "LossTrend", "stage_warnings"]
