from __future__ import annotations

import torch
from tiny_models import TinyConvBackbone, blobs, image_blobs, tiny_model

from transferkit.config import TrainConfig
from transferkit.model import TransferModel
from transferkit.strategies import create_strategy
from transferkit.train import Trainer, freeze_batchnorm, set_train_mode


def _bn_stats(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k}


def test_frozen_batchnorm_keeps_its_running_stats_during_training() -> None:
    torch.manual_seed(0)
    model = TransferModel(TinyConvBackbone(), num_classes=2)
    before = _bn_stats(model)
    config = TrainConfig(epochs=2, batch_size=8, lr=0.05, patience=None)
    (stage,) = create_strategy("linear-probe").stages(model, config)
    # The full forward runs through the frozen backbone (no feature cache here).
    Trainer(model, config, param_groups=stage.param_groups, train_data=image_blobs(), log=None).fit()
    after = _bn_stats(model)
    assert before.keys() == after.keys() and before
    assert all(torch.equal(before[k], after[k]) for k in before)
    # Without the helper, model.train() would have let the frozen BatchNorm drift.
    model.train()
    model(image_blobs(n=8).tensors[0])
    assert any(not torch.equal(before[k], v) for k, v in _bn_stats(model).items())


def test_trainable_batchnorm_still_updates() -> None:
    model = tiny_model()
    before = _bn_stats(model)
    config = TrainConfig(epochs=1, batch_size=16, patience=None)
    (stage,) = create_strategy("full").stages(model, config)
    Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(), log=None).fit()
    assert any(not torch.equal(before[k], v) for k, v in _bn_stats(model).items())


def test_partial_freezes_only_the_bottom_batchnorms() -> None:
    model = tiny_model(n_blocks=3)
    create_strategy("partial", {"blocks": 1, "head_epochs": 0}).stages(model, TrainConfig())
    set_train_mode(model)
    modes = {n: m.training for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm1d)}
    assert modes == {"backbone.layers.0.1": False, "backbone.layers.1.1": False, "backbone.layers.2.1": True}
    assert model.training and model.backbone.layers[0][3].training  # dropout etc. still train


def test_affine_free_batchnorm_follows_its_parent() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3, affine=False))
    net.train()
    assert freeze_batchnorm(net) == []
    for p in net.parameters():
        p.requires_grad_(False)
    assert freeze_batchnorm(net) == ["1"]
