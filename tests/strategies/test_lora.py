from __future__ import annotations

import pytest
import torch
from tiny_models import BertBackbone, TimmBackbone, TinyConvBackbone, image_blobs, token_blobs

from transferkit.config import TrainConfig
from transferkit.model import TransferModel
from transferkit.strategies import create_strategy
from transferkit.strategies.lora import target_modules
from transferkit.train import Trainer

pytest.importorskip("peft")


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_bert_adapts_query_and_value_with_the_expected_parameter_count() -> None:
    pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = TransferModel(BertBackbone(), num_classes=2)
    n_before = _count(model)
    strategy = create_strategy("lora", {"r": 4, "alpha": 8})
    (stage,) = strategy.stages(model, TrainConfig())
    assert sorted(strategy.targets_) == sorted(
        f"bert.encoder.layer.{i}.attention.self.{m}" for i in range(2) for m in ("query", "value"))
    # 2 layers x (query, value) x r * (in + out) = 2 * 2 * 4 * (32 + 32)
    assert _count(model) - n_before == 1024
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if "lora_" in n} | {"head.weight", "head.bias"}
    assert sum(p.numel() for p in stage.param_groups[0]["params"]) == 1024


def test_timm_cnn_adapts_1x1_convs_of_the_blocks() -> None:
    pytest.importorskip("timm")
    backbone = TimmBackbone("test_efficientnet")
    names = target_modules(backbone)
    expected = 0
    for name, m in backbone.named_modules():
        if name in names:
            assert name.startswith("net.blocks.")
            if isinstance(m, torch.nn.Conv2d):
                assert m.kernel_size == (1, 1) and m.groups == 1
            in_f = getattr(m, "in_channels", getattr(m, "in_features", 0))
            out_f = getattr(m, "out_channels", getattr(m, "out_features", 0))
            expected += 3 * (in_f + out_f)
    assert names and "net.conv_head" not in names  # outside the blocks
    model = TransferModel(backbone, num_classes=2)
    n_before = _count(model)
    create_strategy("lora", {"r": 3}).stages(model, TrainConfig())
    assert _count(model) - n_before == expected


def test_training_then_merge_gives_the_plain_architecture_with_the_same_outputs() -> None:
    torch.manual_seed(0)
    model = TransferModel(TinyConvBackbone(), num_classes=2)
    plain_keys = set(model.state_dict())
    strategy = create_strategy("lora", {"r": 2, "alpha": 4})
    config = TrainConfig(epochs=3, batch_size=16, lr=0.05, patience=None)
    (stage,) = strategy.stages(model, config)
    frozen_before = model.backbone.stem[0].weight.detach().clone()
    Trainer(model, config, param_groups=stage.param_groups, train_data=image_blobs(), log=None).fit()
    assert torch.equal(model.backbone.stem[0].weight, frozen_before)  # base weights frozen
    x = image_blobs(n=6, seed=3).tensors[0]
    model.eval()
    with torch.no_grad():
        adapted = model(x)
    strategy.finalize(model)
    assert set(model.state_dict()) == plain_keys
    assert not any("lora" in type(m).__name__.lower() for m in model.modules())
    with torch.no_grad():
        assert torch.allclose(model(x), adapted, atol=1e-5)


def test_bert_lora_trains_and_lowers_the_loss() -> None:
    pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = TransferModel(BertBackbone(), num_classes=2)
    data = token_blobs()
    config = TrainConfig(epochs=4, batch_size=16, lr=0.01, patience=None)
    (stage,) = create_strategy("lora", {"r": 4}).stages(model, config)
    collate = lambda items: (model.backbone.collate([i[0] for i in items]),  # noqa: E731
                             torch.stack([i[1] for i in items]))
    result = Trainer(model, config, param_groups=stage.param_groups, train_data=data,
                     collate_fn=collate, log=None).fit()
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
