"""The linear probe's head gets enough steps on cached features (min_steps)."""

from __future__ import annotations

import math

import pytest

import transferkit as tk
from transferkit.errors import ConfigError
from transferkit.strategies import STRATEGIES


def test_min_steps_lengthens_a_short_head_stage(tmp_path):
    run = tk.fit(data="breast-cancer-wdbc", backbone="tabular", strategy="linear-probe", epochs=1,
                 strategy_params={"min_steps": 60, "solver": "sgd"}, overrides=["data.val_fraction=0"],
                 out=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"), log=None)
    n_train = run.summary["data"]["n_train"]
    per_epoch = math.ceil(n_train / 32)
    steps = run.summary["stages"][0]["steps"]
    assert steps == math.ceil(60 / per_epoch) * per_epoch >= 60


def test_min_steps_is_validated():
    from transferkit.strategies.linear_probe import LinearProbeConfig

    with pytest.raises(ConfigError, match=r"The 'min_steps' parameter must be an int >= 0\. Got -1"):
        LinearProbeConfig(min_steps=-1)
    with pytest.raises(ConfigError, match=r"'strategy_params \(linear-probe\)\.min_steps' parameter"):
        STRATEGIES.build("probe", {"min_steps": -1})


def test_depth_strategies_explain_a_backbone_without_blocks():
    import torch

    from transferkit.backbones.base import Backbone
    from transferkit.config import TrainConfig
    from transferkit.errors import BackboneError
    from transferkit.model import TransferModel
    from transferkit.strategies import create_strategy

    class Flat(Backbone):
        feature_dim = 4

        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, inputs):
            return self.lin(inputs)

    model = TransferModel(Flat(), num_classes=2)
    with pytest.raises(BackboneError, match="does not list its blocks.*--strategy full"):
        create_strategy("partial").stages(model, TrainConfig())
