"""Early stopping waits for the warmup and the stage's minimum, and watches a quantity
that moves (the selection metric, with validation loss as the tie-break)."""

from __future__ import annotations

import torch
from tiny_models import blobs, tiny_model

from transferkit.config import TrainConfig
from transferkit.strategies import create_strategy
from transferkit.tasks import get_task
from transferkit.train import Trainer


def _shifted_fit(min_steps: int = 0, **train):
    # Validation labels are shifted, so validation accuracy falls as training succeeds.
    val = blobs(n=48, seed=1)
    val = torch.utils.data.TensorDataset(val.tensors[0], (val.tensors[1] + 1) % 3)
    model = tiny_model()
    config = TrainConfig(**{"epochs": 30, "batch_size": 16, "lr": 0.05, "patience": 2,
                            "eval_every": 2, "warmup": 0.0, **train})
    (stage,) = create_strategy("full").stages(model, config)
    return Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=96),
                   val_data=val, log=None, min_steps=min_steps).fit()


def test_early_stopping_waits_for_min_steps() -> None:
    early = _shifted_fit()
    assert early.stopped == "early_stopping" and early.steps < 40
    held = _shifted_fit(min_steps=40)
    assert held.stopped == "early_stopping"
    assert held.steps >= 40


def test_early_stopping_waits_for_the_warmup() -> None:
    result = _shifted_fit(warmup=0.3)  # 30 epochs x 6 batches: 54 warmup steps
    assert result.steps >= 54


def test_equal_accuracy_with_lower_loss_is_an_improvement() -> None:
    task = get_task()
    best = {"accuracy": 0.5, "loss": 0.7}
    assert task.improves({"accuracy": 0.5, "loss": 0.6}, best)
    assert not task.improves({"accuracy": 0.5, "loss": 0.8}, best)
    assert not task.improves({"accuracy": 0.5, "loss": 0.7}, best)
    assert not task.improves({"accuracy": 0.4, "loss": 0.1}, best)
    assert task.improves({"accuracy": 0.6, "loss": 0.9}, best)
    assert task.improves({"accuracy": 0.1, "loss": 0.9}, None)
    # selecting on the loss itself: no tie-break on itself
    assert not task.improves({"accuracy": 0.9, "loss": 0.7}, best, metric="loss")


def test_a_flat_accuracy_with_a_falling_loss_keeps_training() -> None:
    # one class only in validation: accuracy reaches 1.0 and stays flat while the loss
    # keeps falling; on accuracy alone patience 2 would stop 2 evaluations later.
    val = blobs(n=48, seed=1)
    keep = val.tensors[1] == 0
    val = torch.utils.data.TensorDataset(val.tensors[0][keep], val.tensors[1][keep])
    model = tiny_model()
    config = TrainConfig(epochs=10, batch_size=16, lr=0.05, patience=2, eval_every=2, warmup=0.0)
    (stage,) = create_strategy("full").stages(model, config)
    result = Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=96),
                     val_data=val, log=None).fit()
    first_full = next(r["step"] for r in result.history if r["val_accuracy"] == 1.0)
    assert result.best_metric == 1.0
    assert result.best_step > first_full + 2 * 2
    assert result.steps > first_full + 2 * 2
