from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_models import blobs, tiny_model

import transferkit.train.checkpoint as ckpt_module
from transferkit.config import TrainConfig
from transferkit.errors import TrainingError
from transferkit.strategies import create_strategy
from transferkit.train import Trainer, list_checkpoints, load_checkpoint
from transferkit.train.checkpoint import rng_state, set_rng_state


def _trainer(run_dir, resume=False):
    model = tiny_model(dropout=0.2)
    config = TrainConfig(epochs=2, batch_size=16, checkpoint_every=3, patience=None)
    (stage,) = create_strategy("full").stages(model, config)
    return model, Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=100),
                          val_data=blobs(n=30, seed=1), run_dir=run_dir, resume=resume, log=None)


def test_a_failure_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch) -> None:
    real_save = torch.save
    calls = {"n": 0}

    def flaky_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # the second checkpoint (3 files each), half written
            raise OSError(28, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(ckpt_module.torch, "save", flaky_save)
    _, trainer = _trainer(tmp_path)
    with pytest.raises(TrainingError, match="checkpoint of step 6 .*No space left.*previous checkpoint is intact"):
        trainer.fit()
    directory = tmp_path / "checkpoints" / "main"
    assert [p.name for p in list_checkpoints(directory)] == ["step-000000003"]
    assert [p.name for p in directory.iterdir()] == ["step-000000003"]  # no temporary leftovers
    monkeypatch.setattr(ckpt_module.torch, "save", real_save)

    reference, trainer = _trainer(tmp_path / "ref")
    trainer.fit()
    resumed, trainer = _trainer(tmp_path, resume=True)
    assert trainer.fit().resumed_from == 3
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in resumed.state_dict().items())


def test_checkpoint_contents_are_pickle_free(tmp_path) -> None:
    model, trainer = _trainer(tmp_path)
    trainer.fit()
    (last,) = list_checkpoints(tmp_path / "checkpoints" / "main")
    assert {p.name for p in last.iterdir()} >= {"model.safetensors", "optimizer.pt", "scheduler.pt",
                                                "rng.pt", "state.json"}
    weights = load_file(str(last / "model.safetensors"))
    assert all(torch.equal(weights[f"model.{k}"], v) for k, v in model.state_dict().items())
    loaded = load_checkpoint(last)  # torch.load(weights_only=True) inside
    assert loaded.state["done"] is True and loaded.optimizer["param_groups"]


def test_rng_state_round_trip() -> None:
    state = rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
