from __future__ import annotations

from tiny_models import tiny_model

from transferkit.config import TrainConfig
from transferkit.strategies import create_strategy


def test_only_biases_and_the_head_train() -> None:
    model = tiny_model()
    (stage,) = create_strategy("bitfit").stages(model, TrainConfig())
    for name, p in model.backbone.named_parameters():
        assert p.requires_grad == name.endswith(".bias"), name
    assert all(p.requires_grad for p in model.head.parameters())
    n_bias = sum(p.numel() for n, p in model.backbone.named_parameters() if n.endswith("bias"))
    assert sum(p.numel() for p in stage.param_groups[0]["params"]) == n_bias
