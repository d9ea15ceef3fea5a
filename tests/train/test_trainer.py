from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from tiny_models import blobs, tiny_model
from torch import nn

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError, RunDirError, TrainingError
from transferkit.strategies import create_strategy
from transferkit.train import Callback, Trainer, epoch_batches, latest_checkpoint, list_checkpoints


class Crash(Callback):
    """Simulates a killed run: raises after ``at`` optimizer steps."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, trainer, step, logs) -> None:
        if step == self.at:
            raise KeyboardInterrupt(f"simulated crash at step {step}")


class Discriminator(nn.Module):
    """A stand-in for a domain-adaptation objective with parameters of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 8), nn.Dropout(0.2), nn.Linear(8, 1))

    def forward(self, model, batch, step):
        (x_s, y_s), (x_t, _) = batch
        f_s, f_t = model.features(x_s), model.features(x_t)  # (B, D)
        ce = nn.functional.cross_entropy(model.forward_features(f_s), y_s)
        d = self.net(torch.cat([f_s, f_t])).squeeze(1)
        domain = torch.cat([torch.ones(len(f_s)), torch.zeros(len(f_t))])
        return ce + 0.1 * nn.functional.binary_cross_entropy_with_logits(d, domain), {"ce": ce.item()}


def _make(run_dir=None, *, strategy="full", callbacks=(), resume=False, objective=None, target=False,
          seed=0, **train):
    model = tiny_model(seed=seed, dropout=0.2)
    config = TrainConfig(**{"epochs": 3, "batch_size": 16, "lr": 0.02, "patience": None, **train})
    (stage,) = create_strategy(strategy).stages(model, config)
    trainer = Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=100),
                      val_data=blobs(n=48, seed=1), run_dir=run_dir, resume=resume, callbacks=callbacks,
                      objective=objective() if objective else None,
                      target_data=blobs(n=40, seed=5) if target else None, log=None)
    return model, trainer


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("case", [
    {"checkpoint_every": 4},
    {"checkpoint_every": 7, "eval_every": 3, "patience": 50, "scheduler": "onecycle", "optimizer": "sgd"},
    {"checkpoint_every": 5, "objective": Discriminator, "target": True},
], ids=["per-epoch-eval", "eval-every-sgd-onecycle", "objective-with-target-data"])
def test_resume_after_a_crash_gives_bitwise_identical_weights(tmp_path, case) -> None:
    reference, trainer = _make(tmp_path / "a", **case)
    full = trainer.fit()

    crashed, trainer = _make(tmp_path / "b", callbacks=[Crash(at=13)], **case)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert not (tmp_path / "b" / ".lock").exists()
    saved = latest_checkpoint(tmp_path / "b" / "checkpoints" / "main")
    assert saved is not None and 0 < saved.state["step"] < 13

    resumed_model, trainer = _make(tmp_path / "b", resume=True, seed=99, **case)  # other init: overwritten
    result = trainer.fit()
    assert result.resumed_from == saved.state["step"]
    assert result.steps == full.steps and result.best_step == full.best_step
    assert _same_weights(reference, resumed_model)
    # metrics.jsonl holds each evaluation once, as in the uninterrupted run.
    lines = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    reference_lines = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [r["step"] for r in reference_lines]
    assert [r.get("val_accuracy") for r in lines] == [r.get("val_accuracy") for r in reference_lines]


def test_resume_of_a_finished_stage_loads_its_final_weights(tmp_path) -> None:
    trained, trainer = _make(tmp_path)
    first = trainer.fit()
    fresh, trainer = _make(tmp_path, resume=True, seed=7)
    again = trainer.fit()
    assert _same_weights(trained, fresh)
    assert again.steps == first.steps and again.best_metric == first.best_metric


def test_resume_with_other_data_is_refused(tmp_path) -> None:
    _, trainer = _make(tmp_path, checkpoint_every=3, max_steps=6)
    trainer.fit()
    _, trainer = _make(tmp_path, resume=True, batch_size=8)
    with pytest.raises(RunDirError, match="batch size"):
        trainer.fit()


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path) -> None:
    def objective(model, batch, step):
        x, y = batch
        loss = nn.functional.cross_entropy(model(x), y)
        return (loss * float("nan") if step == 6 else loss), {}

    model, _ = _make()
    config = TrainConfig(epochs=3, batch_size=16, checkpoint_every=3, patience=None)
    (stage,) = create_strategy("full").stages(model, config)
    trainer = Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=100),
                      objective=objective, run_dir=tmp_path, log=None)
    with pytest.raises(TrainingError, match=r"nan at step 7 .*step-000000006.*lower learning rate"):
        trainer.fit()
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints" / "main")] == ["step-000000006"]
    assert latest_checkpoint(tmp_path / "checkpoints" / "main").state["step"] == 6
    assert not (tmp_path / ".lock").exists()


def test_early_stopping_restores_the_best_weights(tmp_path) -> None:
    # Validation labels are shifted, so validation accuracy falls as training succeeds.
    train, val = blobs(n=96), blobs(n=48, seed=1)
    val = torch.utils.data.TensorDataset(val.tensors[0], (val.tensors[1] + 1) % 3)
    snapshots = {}

    class Keep(Callback):
        def on_evaluate(self, trainer, record) -> None:
            snapshots[record["step"]] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    model = tiny_model()
    config = TrainConfig(epochs=30, batch_size=16, lr=0.05, patience=2, eval_every=2)
    (stage,) = create_strategy("full").stages(model, config)
    result = Trainer(model, config, param_groups=stage.param_groups, train_data=train, val_data=val,
                     callbacks=[Keep()], run_dir=tmp_path, log=None).fit()
    assert result.stopped == "early_stopping"
    assert result.steps < 30 * 6
    assert result.best_step < result.steps
    best = snapshots[result.best_step]
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    accuracies = [r["val_accuracy"] for r in result.history]
    assert result.best_metric == max(accuracies)
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == len(result.history)
    assert {"stage", "step", "epoch", "train_loss", "val_accuracy", "val_loss", "lr", "time"} <= set(records[0])


def test_max_steps_stops_the_run_and_reports_why() -> None:
    _, trainer = _make(max_steps=5)
    result = trainer.fit()
    assert (result.steps, result.stopped, result.epochs_run) == (5, "max_steps", 1)
    _, trainer = _make(epochs=2)
    result = trainer.fit()
    assert (result.steps, result.stopped, result.epochs_run) == (14, "completed", 2)


def test_objective_module_parameters_train() -> None:
    model, trainer = _make(objective=Discriminator, target=True, epochs=1)
    disc = trainer.objective
    before = [p.detach().clone() for p in disc.parameters()]
    assert trainer.param_groups[-1]["name"] == "objective"
    trainer.fit()
    assert all(not torch.equal(a, b) for a, b in zip(before, disc.parameters(), strict=True))


def test_bf16_autocast_trains() -> None:
    _, trainer = _make(bf16=True, epochs=2)
    result = trainer.fit()
    assert result.history[-1]["val_accuracy"] > 0.5


def test_tensorboard_missing_warns_and_training_goes_on(tmp_path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    _, trainer = _make(tmp_path, tensorboard=True, epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainer.fit()
    assert result.steps > 0
    assert any("tensorboard is not installed" in str(w.message) for w in caught)


def test_bad_arguments_give_documented_errors(tmp_path) -> None:
    model = tiny_model()
    (stage,) = create_strategy("full").stages(model, TrainConfig())
    with pytest.raises(ConfigError, match="'metric' parameter .* accuracy, balanced_accuracy, loss. Got 'f2'"):
        Trainer(model, TrainConfig(), param_groups=stage.param_groups, train_data=blobs(), metric="f2")
    with pytest.raises(ConfigError, match="needs a run directory"):
        Trainer(model, TrainConfig(), param_groups=stage.param_groups, train_data=blobs(), resume=True)
    other = tiny_model()
    with pytest.raises(ConfigError, match="not part of the model"):
        Trainer(model, TrainConfig(), param_groups=[{"params": list(other.parameters()), "name": "x"}],
                train_data=blobs())


def test_epoch_batches_cover_the_data_once_and_shard_across_processes() -> None:
    one = epoch_batches(50, 8, seed=3, epoch=2)
    assert sorted(i for b in one for i in b) == list(range(50))
    assert one == epoch_batches(50, 8, seed=3, epoch=2) != epoch_batches(50, 8, seed=3, epoch=3)
    assert all(len(b) >= 2 for b in epoch_batches(17, 8, 0, 0))  # no batch of one
    ranks = [epoch_batches(50, 8, 3, 2, rank=r, world=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])
    assert sorted(i for r in ranks for b in r for i in b) == list(range(50))


def test_progress_bar_runs() -> None:
    model, _ = _make()
    config = TrainConfig(epochs=1, batch_size=16)
    (stage,) = create_strategy("full").stages(model, config)
    result = Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(), progress=True,
                     log=None).fit()
    assert result.steps == 6


def test_length_grouped_batches_cover_the_data_and_pad_less() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 300, size=203)
    grouped = epoch_batches(203, 8, seed=1, epoch=0, lengths=lengths)
    plain = epoch_batches(203, 8, seed=1, epoch=0)
    assert sorted(i for b in grouped for i in b) == list(range(203))
    assert len(grouped) == len(plain)  # same number of steps per epoch
    assert grouped == epoch_batches(203, 8, seed=1, epoch=0, lengths=lengths)  # resumable
    assert grouped != epoch_batches(203, 8, seed=1, epoch=1, lengths=lengths)

    def padded(batches: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    assert padded(grouped) < 0.7 * padded(plain)
    with pytest.raises(ConfigError, match="one length per example"):
        epoch_batches(10, 4, 0, 0, lengths=[1, 2])
