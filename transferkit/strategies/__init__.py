"""Fine-tuning strategies: what trains, and how fast.

A strategy turns a :class:`~transferkit.model.TransferModel` into one or more
:class:`Stage` s, each a list of optimizer parameter groups plus what the pipeline may
cache. It never owns a training loop: the one loop is :class:`transferkit.train.Trainer`.
Adding a strategy is one file in this folder that registers itself::

    @STRATEGIES.register("linear-probe", config=LinearProbeConfig)
    class LinearProbeStrategy(Strategy): ...

    >>> strategy = STRATEGIES.build("gradual", {"lr_ratio": 0.01})
    >>> stages = strategy.stages(model, TrainConfig())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transferkit.registry import Registry
from transferkit.strategies.base import Stage, Strategy

STRATEGIES: Registry[type[Strategy]] = Registry("strategy", package="transferkit.strategies",
                                                 params_key="strategy_params")


def create_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """``STRATEGIES.build(name, params)``: the strategy ``name`` from its config keys.

    Unknown names and unknown or invalid keys raise :class:`~transferkit.errors.ConfigError`
    listing what is valid.
    """
    return STRATEGIES.build(name, params)


__all__ = ["STRATEGIES", "Stage", "Strategy", "create_strategy"]
