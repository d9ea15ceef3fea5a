from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError
from transferkit.strategies import create_strategy


def test_only_the_last_k_blocks_and_the_head_train() -> None:
    model = tiny_model(n_blocks=3)  # blocks: stem + 3 layers
    (stage,) = create_strategy("partial", {"blocks": 2, "head_epochs": 0}).stages(model, TrainConfig())
    assert stage.trainable_blocks == 2
    blocks = model.backbone.blocks()
    for block in blocks[:2]:
        assert not any(p.requires_grad for p in block.parameters())
    for block in blocks[2:]:
        assert all(p.requires_grad for p in block.parameters())
    assert all(p.requires_grad for p in model.head.parameters())


def test_the_cached_bottom_reproduces_the_backbone() -> None:
    model = tiny_model(n_blocks=3).eval()
    (stage,) = create_strategy("partial", {"blocks": 1, "head_epochs": 0}).stages(model, TrainConfig())
    bottom, top = model.backbone.split_at(stage.trainable_blocks)
    x = torch.randn(5, 8)
    assert torch.allclose(top(bottom(x)), model.backbone(x))
    assert not any(p.requires_grad for p in bottom.parameters())


def test_more_blocks_than_the_backbone_has_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'blocks' parameter .* <= the backbone's 4 blocks. Got 9"):
        create_strategy("partial", {"blocks": 9}).stages(tiny_model(n_blocks=3), TrainConfig())


def test_by_default_the_head_trains_alone_first_on_cached_features() -> None:
    model = tiny_model(n_blocks=3)
    head, both = create_strategy("partial", {"blocks": 2}).stages(model, TrainConfig())
    assert (head.name, head.trainable_blocks, head.epochs, head.info["min_steps"]) == ("head", 0, 1, 500)
    head_ids = {id(p) for p in model.head.parameters()}
    assert {id(p) for p in head.trainable_parameters()} <= head_ids | {id(p) for p in model.mapping.parameters()}
    # the first stage is active: the backbone is frozen until the second stage activates
    assert not any(p.requires_grad for p in model.backbone.parameters())
    both.activate(model)
    assert both.trainable_blocks == 2
    assert all(p.requires_grad for block in model.backbone.blocks()[2:] for p in block.parameters())


@pytest.mark.parametrize("bad", [{"head_epochs": -1}, {"head_min_steps": 1.5}])
def test_bad_head_stage_parameters_are_named(bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        create_strategy("partial", bad)
