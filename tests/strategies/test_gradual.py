from __future__ import annotations

import pytest
from tiny_models import tiny_model

from transferkit.config import TrainConfig
from transferkit.strategies import create_strategy
from transferkit.strategies.gradual import discriminative_lrs


def test_head_stage_then_unfrozen_stage_with_lrs_increasing_with_depth() -> None:
    model = tiny_model(n_blocks=3)
    strategy = create_strategy("gradual", {"head_epochs": 2, "lr_ratio": 0.01})
    head, unfrozen = strategy.stages(model, TrainConfig(lr=0.01))
    assert (head.name, head.epochs, head.trainable_blocks) == ("head", 2, 0)
    assert not any(p.requires_grad for p in model.backbone.parameters())  # first stage active
    assert [g["lr"] for g in head.param_groups] == [0.01]

    assert unfrozen.epochs is None and unfrozen.trainable_blocks is None
    blocks = [g for g in unfrozen.param_groups if g["name"].startswith("block")]
    lrs = [g["lr"] for g in blocks]
    assert len(blocks) == len(model.backbone.blocks())
    assert all(a < b for a, b in zip(lrs, lrs[1:], strict=False))
    base = 0.01 * 0.5  # fastai halves the base rate when unfreezing
    assert lrs[0] == pytest.approx(base * 0.01) and lrs[-1] == pytest.approx(base)
    assert unfrozen.param_groups[-1]["name"] == "head" and unfrozen.param_groups[-1]["lr"] == pytest.approx(base)
    # The geometric ratio between neighbouring blocks is constant.
    ratios = [b / a for a, b in zip(lrs, lrs[1:], strict=False)]
    assert ratios == pytest.approx([ratios[0]] * len(ratios))

    unfrozen.activate(model)
    assert all(p.requires_grad for p in model.parameters())


def test_discriminative_lrs_single_block() -> None:
    assert discriminative_lrs(1, 0.1, 0.01) == [0.1]
