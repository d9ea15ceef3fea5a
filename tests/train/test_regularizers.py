from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import blobs, tiny_model

from transferkit.config import TrainConfig
from transferkit.errors import DataError
from transferkit.strategies import create_strategy
from transferkit.train import L2SP, CrossEntropyObjective, Trainer, class_weights


def test_l2_sp_matches_a_direct_computation() -> None:
    model = tiny_model()
    create_strategy("full").stages(model, TrainConfig())
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    penalty = L2SP(model, alpha=0.3, beta=0.05)
    assert penalty().item() == pytest.approx(0.05 / 2 * sum((p ** 2).sum().item() for p in model.head.parameters()))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    source = sum(((p - w0[n]) ** 2).sum() for n, p in model.named_parameters() if n.startswith("backbone."))
    new = sum((p ** 2).sum() for n, p in model.named_parameters() if not n.startswith("backbone."))
    assert penalty().item() == pytest.approx((0.3 / 2 * source + 0.05 / 2 * new).item(), rel=1e-5)
    assert L2SP(model, alpha=0.3).beta == pytest.approx(0.03)  # the paper's beta = alpha / 10


def test_l2_sp_ignores_frozen_parameters_and_pulls_toward_the_start() -> None:
    model = tiny_model()
    (stage,) = create_strategy("partial", {"blocks": 1, "head_epochs": 0}).stages(model, TrainConfig())
    penalty = L2SP(model, alpha=1.0)
    trainable = {id(p) for p in stage.trainable_parameters()}
    assert {id(p) for p, _ in penalty.source} | {id(p) for p in penalty.new} == trainable
    # Strong L2-SP keeps the trained backbone block close to its pretrained weights.
    start = model.backbone.layers[-1][0].weight.detach().clone()
    drift = {}
    for alpha in (0.0, 10.0):
        m = tiny_model()
        config = TrainConfig(epochs=3, batch_size=16, lr=0.05, l2_sp=alpha, patience=None, optimizer="sgd",
                             momentum=0.0)
        (st,) = create_strategy("partial", {"blocks": 1, "backbone_lr_ratio": 1.0, "head_epochs": 0}).stages(m, config)
        Trainer(m, config, param_groups=st.param_groups, train_data=blobs(), log=None).fit()
        drift[alpha] = (m.backbone.layers[-1][0].weight - start).norm().item()
    assert drift[10.0] < 0.5 * drift[0.0], drift


def test_auto_class_weights_are_inverse_frequency() -> None:
    w = class_weights(np.array([0, 0, 0, 1, -1]), 3)
    assert torch.allclose(w, torch.tensor([4 / (2 * 3), 4 / (2 * 1), 0.0]))
    with pytest.raises(DataError, match="out of range"):
        class_weights([0, 5], 3)


def test_auto_class_weights_reach_the_loss() -> None:
    x = torch.randn(6, 8)
    y = torch.tensor([0, 0, 0, 0, 1, 2])
    data = torch.utils.data.TensorDataset(x, y)
    model = tiny_model()
    (stage,) = create_strategy("full").stages(model, TrainConfig())
    trainer = Trainer(model, TrainConfig(class_weights="auto"), param_groups=stage.param_groups,
                      train_data=data, log=None)
    weight = trainer.objective.weight
    assert torch.allclose(weight, torch.tensor([6 / 12, 6 / 3, 6 / 3]))
    model.eval()
    loss, _ = trainer.objective(model, (x, y), 0)
    expected = torch.nn.functional.cross_entropy(model(x), y, weight=weight)
    assert loss.item() == pytest.approx(expected.item())


def test_objective_applies_label_smoothing() -> None:
    model = tiny_model().eval()
    x, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    objective = CrossEntropyObjective(lambda m, inp: m(inp), label_smoothing=0.2)
    loss, logs = objective(model, (x, y), 0)
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.2).item())
    assert "ce" in logs
