from __future__ import annotations

import pytest
from tiny_models import tiny_model

from transferkit.config import TrainConfig
from transferkit.strategies import create_strategy


def test_everything_trains_with_a_smaller_backbone_lr() -> None:
    model = tiny_model()
    (stage,) = create_strategy("full", {"backbone_lr_ratio": 0.1}).stages(model, TrainConfig(lr=0.01))
    assert stage.trainable_blocks is None
    assert all(p.requires_grad for p in model.parameters())
    lrs = {g["name"]: g["lr"] for g in stage.param_groups}
    assert lrs == {"backbone": pytest.approx(0.001), "head": 0.01}
