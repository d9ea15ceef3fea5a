"""Checkpoint selection in `adapt`: the best validator score among the checkpoints whose
source-validation accuracy is within the tolerance of the best, keeping weights only for
checkpoints that can still win."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from transferkit.jobs.adapt import ValidatorSelection, Views


class _Trainer:
    def __init__(self) -> None:
        self.model = nn.Linear(2, 2)
        self.stage, self.step = "head", 0


def _run(pairs: list[tuple[float, float]], tolerance: float) -> ValidatorSelection:
    scores = iter([s for _, s in pairs])
    views = Views(lambda model, which: (np.zeros((2, 2)), np.zeros((2, 2))), np.array([0, 1]))
    sel = ValidatorSelection(lambda ctx: next(scores), views, source_tolerance=tolerance)
    trainer = _Trainer()
    for i, (src, _) in enumerate(pairs):
        trainer.step = i + 1
        with torch.no_grad():
            trainer.model.bias.fill_(float(i))  # the weights identify the checkpoint
        sel.on_evaluate(trainer, {"val_accuracy": src})
    return sel


def _brute_force(pairs: list[tuple[float, float]], tolerance: float) -> int:
    top = max(src for src, _ in pairs)
    eligible = [i for i, (src, _) in enumerate(pairs) if src >= top - tolerance - 1e-12]
    return max(eligible, key=lambda i: (pairs[i][1], pairs[i][0], -i))


def test_an_undertrained_first_checkpoint_is_not_chosen_for_its_soft_predictions() -> None:
    pairs = [(0.60, 5.0), (0.90, 4.0), (0.95, 4.5), (0.96, 4.2)]  # (source-val acc, validator)
    sel = _run(pairs, tolerance=0.05)
    assert sel.best_step == 3 and sel.best_score == 4.5
    assert float(sel.best_state["bias"][0]) == 2.0  # the weights of that checkpoint
    assert [h["selected"] for h in sel.history] == [False, False, True, False]
    assert _run(pairs, tolerance=1.0).best_step == 1  # no constraint: the validator alone


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.5, 0.7, 0.8, 0.9, 0.95, 1.0]),
                          st.floats(-5, 5, allow_nan=False)), min_size=1, max_size=12),
       st.sampled_from([0.0, 0.05, 0.1, 1.0]))
def test_choice_equals_brute_force_and_keeps_only_the_front(pairs, tolerance) -> None:
    sel = _run(pairs, tolerance)
    want = _brute_force(pairs, tolerance)
    assert pairs[sel.best_step - 1][1] == pairs[want][1]
    assert pairs[sel.best_step - 1][0] >= max(s for s, _ in pairs) - tolerance - 1e-12
    assert float(sel.best_state["bias"][0]) == float(sel.best_step - 1)
    kept = [(a, b) for a, b, *_ in sel._front]  # non-dominated: no kept pair dominates another
    assert not any(i != j and a2 >= a1 and b2 >= b1 for i, (a1, b1) in enumerate(kept)
                   for j, (a2, b2) in enumerate(kept))
