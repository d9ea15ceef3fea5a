from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError
from transferkit.strategies import create_strategy


def test_only_the_last_k_blocks_and_the_head_train() -> None:
    model = tiny_model(n_blocks=3)  # blocks: stem + 3 layers
    (stage,) = create_strategy("partial", {"blocks": 2}).stages(model, TrainConfig())
    assert stage.trainable_blocks == 2
    blocks = model.backbone.blocks()
    for block in blocks[:2]:
        assert not any(p.requires_grad for p in block.parameters())
    for block in blocks[2:]:
        assert all(p.requires_grad for p in block.parameters())
    assert all(p.requires_grad for p in model.head.parameters())


def test_the_cached_bottom_reproduces_the_backbone() -> None:
    model = tiny_model(n_blocks=3).eval()
    (stage,) = create_strategy("partial", {"blocks": 1}).stages(model, TrainConfig())
    bottom, top = model.backbone.split_at(stage.trainable_blocks)
    x = torch.randn(5, 8)
    assert torch.allclose(top(bottom(x)), model.backbone(x))
    assert not any(p.requires_grad for p in bottom.parameters())


def test_more_blocks_than_the_backbone_has_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'blocks' parameter .* <= the backbone's 4 blocks. Got 9"):
        create_strategy("partial", {"blocks": 9}).stages(tiny_model(n_blocks=3), TrainConfig())
