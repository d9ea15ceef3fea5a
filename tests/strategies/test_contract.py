"""Contract tests over every registered strategy (a new strategy file is tested here)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny_models import blobs, tiny_model

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError
from transferkit.strategies import STRATEGIES, Stage, create_strategy
from transferkit.train import Trainer

NAMES = STRATEGIES.names()


def test_the_issue_strategies_are_registered() -> None:
    assert {"linear-probe", "partial", "full", "gradual", "lora", "bitfit"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_strategy_lowers_the_training_loss(name: str) -> None:
    torch.manual_seed(0)
    model = tiny_model(seed=0)
    train = blobs(n=96)
    config = TrainConfig(epochs=6, batch_size=16, lr=0.05, patience=None)
    strategy = create_strategy(name)
    with torch.no_grad():
        x, y = train.tensors
        model.eval()
        before = torch.nn.functional.cross_entropy(model(x), y).item()
    for stage in strategy.stages(model, config):
        assert isinstance(stage, Stage)
        stage.activate(model)
        Trainer(model, stage.train_config(config), param_groups=stage.param_groups, train_data=train,
                stage=stage.name, log=None).fit()
    model = strategy.finalize(model)
    with torch.no_grad():
        model.eval()
        after = torch.nn.functional.cross_entropy(model(x), y).item()
    assert after < before - 0.1, (before, after)


@pytest.mark.parametrize("name", NAMES)
def test_stages_are_well_formed(name: str) -> None:
    model = tiny_model()
    stages = create_strategy(name).stages(model, TrainConfig(lr=0.01))
    assert stages
    for stage in stages:
        assert stage.name and stage.param_groups
        for g in stage.param_groups:
            assert {"params", "lr", "name"} <= set(g)
            assert g["lr"] > 0 and g["params"]
        assert stage.trainable_blocks is None or stage.trainable_blocks >= 0
    # The first stage's parameters are exactly the trainable ones.
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in stages[0].trainable_parameters()}
    # The head always trains.
    assert all(p.requires_grad for p in model.head.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_config_documents_itself_and_rejects_bad_values(name: str) -> None:
    config_cls = STRATEGIES.config(name)
    assert config_cls is not None and dataclasses.is_dataclass(config_cls)
    for f in dataclasses.fields(config_cls):
        assert f.metadata.get("help"), f"{name}.{f.name} has no help text"
    with pytest.raises(ConfigError, match="Valid keys"):
        create_strategy(name, {"no_such_key": 1})
    numeric = [f for f in dataclasses.fields(config_cls) if f.type in ("int", "float")]
    for f in numeric:
        with pytest.raises(ConfigError, match=f.name):
            create_strategy(name, {f.name: -1})
    bounded = [f for f in dataclasses.fields(config_cls) if f.metadata.get("bounds")]
    for f in bounded:  # YAML/--set and Python name the key their own way
        key = rf"'strategy_params \({STRATEGIES.entry(name).name}\)\.{f.name}' parameter must be"
        with pytest.raises(ConfigError, match=key):
            STRATEGIES.build(name, {f.name: -1})
        with pytest.raises(ConfigError, match=rf"^The '{f.name}' parameter must be"):
            config_cls(**{f.name: -1})


def test_unknown_strategy_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'linear-probe'"):
        create_strategy("lineer-probe")
