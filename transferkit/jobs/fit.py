"""The main job: ``fit`` a transferred model on the target data and write a run directory.

``fit`` follows the flow of DESIGN.md: load and split the target data, build the
backbone, let the strategy say what trains in which stage, run every stage through the
engine's stage runner (stages that train only the head run on cached frozen features,
stages that train the top blocks on cached activations), evaluate on the test split
(never used before), optionally train the same architecture from scratch with the same
budget, and write the run directory.

>>> run = fit(data="digits", backbone="efficientnet_lite0", strategy="linear-probe",
...           shots=10)  # doctest: +SKIP
>>> run.summary["metrics"]["test"]["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transferkit.config import FitConfig, configure
from transferkit.devices import resolve_device
from transferkit.errors import ConfigError
from transferkit.logs import library_log
from transferkit.options import given_keys
from transferkit.pipeline import (
    Run,
    RunResult,
    check_compare,
    default_run_name,
    fit_configured,
)
from transferkit.tasks import get_task

# keys of fit(**kwargs) that are shortcuts for nested config keys
SHORTCUTS = {
    "data": "data.data", "shots": "data.shots", "seed": "data.seed", "domain": "data.domain",
    "text_column": "data.text_column", "label_column": "data.label_column",
    "group_column": "data.group_column", "time_column": "data.time_column",
    "label_separator": "data.label_separator", "label_columns": "data.label_columns",
    "max_test": "data.max_test", "max_val": "data.max_val", "skip_bad": "data.skip_bad",
    "backbone": "backbone.name", "backbone_weights": "backbone.weights",
    "pretrained": "backbone.pretrained", "image_size": "backbone.image_size",
    "pool_stages": "backbone.pool_stages", "max_length": "backbone.max_length",
    "epochs": "train.epochs", "max_steps": "train.max_steps", "lr": "train.lr",
    "batch_size": "train.batch_size", "checkpoint_every": "train.checkpoint_every",
    "patience": "train.patience", "device": "train.device", "report_to": "train.report_to",
    "mixed_precision": "train.mixed_precision", "grad_accum": "train.grad_accum", "augment": "train.augment",
    "horizon": "data.horizon", "context": "data.context", "season": "data.season",
    "origins": "data.origins", "stride": "data.stride", "history": "data.history",
}


def resolve_config(config: FitConfig | str | Path | None = None,
                   overrides: Sequence[str] = (), **kwargs: Any) -> FitConfig:
    """A FitConfig from a config object or YAML path, keyword shortcuts and overrides."""
    return configure(FitConfig, config, overrides, shortcuts=SHORTCUTS, **kwargs)


def fit(config: FitConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
        resume: bool = False, overwrite: bool = False, dry_run: bool = False,
        log: Callable[[str], None] | None = None, **kwargs: Any) -> RunResult | dict[str, Any]:
    """Fit a transferred model on the target data and write a run directory.

    ``config`` is a :class:`~transferkit.config.FitConfig` or a YAML path; keyword
    shortcuts (``data``, ``backbone``, ``strategy``, ``shots``, ``epochs``, ``compare``,
    ``task``, ``out`` ...) and ``overrides`` (``["train.lr=0.01"]``) take precedence.
    ``dry_run=True`` prints and returns the plan (data read, extractions, training steps,
    estimated time and memory) and trains and writes nothing. Progress lines go to ``log``
    (e.g. ``print``), by default to the ``"transferkit"`` logger (:mod:`transferkit.logs`).

    A run directory that already holds a run is refused unless ``resume=True`` (continue
    it, with the same configuration and data; a finished run resumed with more ``epochs``
    is extended, see :meth:`~transferkit.pipeline.run.Run.write_config`) or
    ``overwrite=True`` (replace it once the new run is complete).
    """
    t_start = time.perf_counter()
    cfg = resolve_config(config, overrides, **kwargs)
    if not cfg.data.data:
        raise ConfigError("The 'data' parameter of fit is required: a built-in dataset name "
                          "(see `transferkit datasets`) or a path.")
    log = log or library_log
    resolve_device(cfg.train.device, "train.device")  # a device that is not there: before any work
    choice = None
    given = given_keys(cfg)
    cfg = with_task_backbone(cfg, log)
    if cfg.strategy is None:
        cfg, choice = with_default_strategy(cfg, log)
    cfg = with_few_shot_recipe(cfg, given, log)
    if dry_run:
        return dry_run_plan(cfg, log)
    if cfg.strategy == "auto":
        from transferkit.jobs.auto import fit_auto

        return fit_auto(cfg, resume=resume, log=log, overwrite=overwrite)
    from transferkit.strategies import STRATEGIES

    STRATEGIES.entry(cfg.strategy)  # fail fast on an unknown strategy name
    check_compare(cfg.compare)
    if cfg.task is not None:
        get_task(cfg.task)  # fail fast on an unknown task name
    with Run("fit", out=cfg.out, name=cfg.name, resume=resume, overwrite=overwrite,
             default_name=default_run_name(cfg.data.data, cfg.backbone.name, cfg.strategy)) as run:
        return fit_configured(cfg, run, resume, log, t_start, choice=choice)


def with_task_backbone(cfg: FitConfig, log: Callable[[str], None]) -> FitConfig:
    """``cfg`` with its task's default backbone (``Task.default_backbone``, e.g. ``lags`` for
    forecasting) when the user named none (the config's default is an image backbone); a
    backbone the user gave (``--backbone``, a keyword, a config file or ``--set``, even the
    config's default by name) is kept; ``--strategy auto`` keeps its pool instead."""
    import dataclasses

    from transferkit.config import BackboneConfig

    named = cfg.backbone.name != BackboneConfig().name or bool({"backbone", "backbone.name"} & given_keys(cfg))
    if cfg.task is None or cfg.strategy == "auto" or named:
        return cfg
    default = get_task(cfg.task).default_backbone
    if not default:
        return cfg
    log(f"[bold]backbone[/bold] {default}: the {cfg.task} task's default (--backbone chooses another)")
    return dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, name=default))


def with_default_strategy(cfg: FitConfig, log: Callable[[str], None]) -> tuple[FitConfig, str]:
    """(``cfg`` with the strategy of :func:`~transferkit.pipeline.build.default_strategy` (a
    probe for pretrained backbones, full for random-init ones), the reason); the reason is
    logged."""
    import dataclasses

    from transferkit.pipeline.build import default_strategy

    b = cfg.backbone
    name, params, why = default_strategy(b.name, b.pretrained, b.weights)
    params = {**params, **cfg.strategy_params}  # the user's strategy_params win
    shown = f" with {', '.join(f'{k}={v}' for k, v in params.items())}" if params else ""
    log(f"[bold]strategy[/bold] {name}{shown} ({why}; --strategy chooses another)")
    return (dataclasses.replace(cfg, strategy=name, strategy_params=params),
            f"strategy '{name}' by default: {why}")


def with_few_shot_recipe(cfg: FitConfig, given: frozenset[str], log: Callable[[str], None]) -> FitConfig:
    """``cfg`` with its backbone family's end-to-end recipe for a few labels
    (``Backbone.few_shot_recipe``: Fracast-0's small batches, higher rate, encoder at the
    head's rate) for every key of it not in ``given`` (the keys the user set), when the fit
    has ``--shots`` and its strategy trains the backbone (not a probe, not ``auto``); the
    keys applied are logged. A strategy without a key of the recipe (``backbone_lr_ratio``)
    does not get it."""
    import dataclasses

    from transferkit.backbones import family_of
    from transferkit.pipeline.build import strategy_freezes_backbone
    from transferkit.strategies import STRATEGIES

    if cfg.data.shots is None or cfg.strategy in (None, "auto") or strategy_freezes_backbone(cfg.strategy):
        return cfg
    recipe = getattr(family_of(cfg.backbone.name), "few_shot_recipe", {})
    options = STRATEGIES.config(cfg.strategy)
    fields = {f.name for f in dataclasses.fields(options)} if dataclasses.is_dataclass(options) else set()
    train, params, applied = {}, dict(cfg.strategy_params), []
    for key, value in recipe.items():
        section, name = key.split(".", 1)
        if key in given or section in given:
            continue
        if section == "train":
            train[name] = value
        elif section == "strategy_params" and name in fields and name not in cfg.strategy_params:
            params[name] = value
        else:
            continue
        applied.append(f"{name} {value}")
    if not applied:
        return cfg
    log(f"[bold]recipe[/bold] {cfg.backbone.name}'s few-shot end-to-end recipe: {', '.join(applied)} "
        "(a flag or --set of any of them overrides it)")
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **train), strategy_params=params)


def dry_run_plan(cfg: FitConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """The plan of a fit; ``--strategy auto`` is planned as its first rung, the linear probe
    (the later rungs depend on what the probe reaches, within the time budget)."""
    import dataclasses

    from transferkit.pipeline.plan import plan_fit

    if cfg.strategy != "auto":
        return plan_fit(cfg, log)
    from transferkit.pipeline.budget import apply_label_budget

    cfg = apply_label_budget(cfg, lambda _m: None)  # auto's budget (a carve), not the probe's
    plan = plan_fit(dataclasses.replace(cfg, strategy="linear-probe"), log)
    plan["note"] = (f"--strategy auto starts with this linear probe and climbs further rungs while "
                    f"validation improves, within --time-budget ({cfg.time_budget or '10m'}).")
    log(f"  {plan['note']}")
    return plan


__all__ = ["SHORTCUTS", "dry_run_plan", "fit", "resolve_config", "with_default_strategy", "with_few_shot_recipe"]
