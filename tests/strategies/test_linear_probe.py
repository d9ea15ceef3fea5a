from __future__ import annotations

from tiny_models import tiny_model

from transferkit.config import TrainConfig
from transferkit.strategies import create_strategy


def test_only_the_head_trains_on_cached_features() -> None:
    model = tiny_model()
    (stage,) = create_strategy("linear-probe").stages(model, TrainConfig(lr=0.02))
    assert stage.trainable_blocks == 0
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert [g["lr"] for g in stage.param_groups] == [0.02]
