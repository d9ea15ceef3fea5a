"""The auto job: which backbone, which strategy? (``fit --strategy auto``)

:func:`fit_auto` is what ``fit(strategy="auto")`` runs: it picks the backbone whose linear
probe on cached features does best on the validation split (the highest LogME when there
is no validation data), then climbs a ladder of strategies chosen by data size — linear probe on
cached features first, then partial, gradual, LoRA or full fine-tuning — until two rungs
in a row do not improve the validation accuracy or the time budget is spent (each step's
cost is estimated from a measured forward pass and calibrated on the previous step's
measured cost; LoRA is skipped when full fine-tuning is on the ladder: same cost). The
model with the best validation accuracy is kept; test labels are read once, at the end,
to report the kept model. ``summary.json`` carries the ``choice`` text and an ``auto``
section listing every step tried, its validation metric and its time. Backbone ranking
lives in :mod:`transferkit.pipeline.candidates` (shared with ``transferkit rank``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from transferkit.config import FitConfig
from transferkit.errors import ConfigError, TransferkitError
from transferkit.pipeline import (
    Run,
    RunResult,
    StageRunner,
    Summary,
    build_model,
    check_compare,
    default_run_name,
    evaluate_splits,
    frozen_stages,
    judge,
    stage_warnings,
    task_meta,
    task_splits,
    timings,
)
from transferkit.pipeline.budget import apply_label_budget
from transferkit.pipeline.candidates import choose_backbone, parse_candidate
from transferkit.pipeline.fitting import log_data, near_duplicate_warnings
from transferkit.pipeline.plan import forward_seconds

#: Budget of ``--strategy auto`` when ``time_budget`` is not set.
DEFAULT_BUDGET = "10m"
#: Top blocks that the ``partial`` rung trains (more when the probe pools more stages).
PARTIAL_BLOCKS = 2

#: Below this many training examples per class, the ladder stops before full fine-tuning.
FULL_MIN_PER_CLASS = 20

#: A rung skipped when the later rung named here is on the ladder: it costs about as much
#: and can reach everything the skipped one can. LoRA's low-rank updates are a subspace of
#: full fine-tuning's, and LoRA saves optimizer memory, not compute (the backward pass still
#: runs through every layer), so :func:`estimate_cost` prices both alike.
DOMINATED_BY = {"lora": "full"}

#: The climb stops after this many rungs in a row that do not improve the validation metric.
MAX_NO_GAIN = 2

_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
          "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
          "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0}


def parse_budget(value: str | float | None) -> float | None:
    """A time budget in seconds: ``"90s"``, ``"10m"``, ``"1h"``, ``"1h30m"``, ``"1.5h"`` or a
    number of seconds. ``None`` stays ``None``.

    >>> parse_budget("90s"), parse_budget("10m"), parse_budget("1h30m"), parse_budget(45)
    (90.0, 600.0, 5400.0, 45.0)
    """
    if value is None:
        return None
    fix = ("Pass a duration such as 90s, 10m, 1h or 1h30m (a bare number means seconds).")
    if isinstance(value, bool):
        raise ConfigError(f"The 'time_budget' parameter must be a duration. Got {value!r} instead. {fix}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = re.findall(r"(\d+(?:\.\d+)?)([a-z]*)", text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ConfigError(f"The 'time_budget' parameter must be a duration. Got {value!r} "
                              f"instead. {fix}")
        seconds = 0.0
        for number, unit in parts:
            if unit and unit not in _UNITS:
                raise ConfigError(f"The 'time_budget' parameter has an unknown unit {unit!r} in "
                                  f"{value!r}. Use s, m or h. {fix}")
            if not unit and len(parts) > 1:
                raise ConfigError(f"The 'time_budget' parameter {value!r} mixes units with a bare "
                                  f"number. {fix}")
            seconds += float(number) * _UNITS.get(unit, 1.0)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"The 'time_budget' parameter must be a positive duration. Got {value!r} "
                          f"instead. {fix}")
    return seconds


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"



# ----------------------------------------------------------------------------- auto


def strategy_ladder(backbone: Any, n_train: int, n_classes: int,
                    unit: str = "training examples per class") -> tuple[list[str], str]:
    """The strategies ``auto`` may climb, cheapest first, and why this ladder.

    Linear probe first (on cached features). Backbones with blocks then try partial (top
    blocks on cached activations), then gradual unfreezing (image and other encoders) or
    LoRA (transformer text encoders); full fine-tuning only with at least ``FULL_MIN_PER_CLASS`` examples per class,
    since with fewer it overfits more than it adapts (Kornblith et al. 2019,
    https://arxiv.org/abs/1805.08974; Kumar et al. 2022, https://arxiv.org/abs/2202.10054).
    """
    per_class = n_train / max(n_classes, 1)
    try:
        blocks = list(backbone.blocks())
    except TransferkitError:
        blocks = []
    text = getattr(backbone, "modality", "") == "text"
    ladder = ["linear-probe"]
    reasons = []
    if len(blocks) > 2:
        # transformers adapt through low-rank updates of attention (LoRA); convnets unfreeze
        ladder += ["partial", "lora" if text else "gradual"]
    else:
        reasons.append("the backbone lists no blocks to unfreeze gradually")
        if text:
            ladder.append("lora")
    fixed = getattr(backbone, "fixed_features", "")
    if fixed:  # e.g. lags: "full" would only retrain the probe's head by SGD
        reasons.append(f"the backbone {fixed}, so the ladder stops at the probe")
    elif per_class >= FULL_MIN_PER_CLASS:
        ladder.append("full")
    else:
        reasons.append(f"{per_class:.0f} {unit} (< {FULL_MIN_PER_CLASS}) is "
                       "too few for full fine-tuning, so the ladder stops before it")
    why = f"ladder {' -> '.join(ladder)}" + (f" ({'; '.join(reasons)})" if reasons else "")
    return ladder, why


def estimate_cost(strategy: str, *, per_example: float, n_train: int, n_val: int, epochs: int,
                  blocks: int, partial_blocks: int = 2) -> float:
    """Seconds a strategy should take, from the measured forward cost per example.

    A training step costs about 3 forwards (forward + backward), an evaluation one; the
    linear probe and the frozen bottom of ``partial`` cost one forward to extract (cached
    afterwards), ``partial`` trains only ``partial_blocks / blocks`` of the network.
    """
    extract = (n_train + n_val) * per_example
    epoch = (3 * n_train + n_val) * per_example
    if strategy == "linear-probe":
        return extract
    if strategy == "partial":
        return extract + epochs * epoch * min(1.0, partial_blocks / max(blocks, 1))
    return epochs * epoch


class _Deadline:
    """Trainer callback: stop the loop (keeping its best weights) at the time budget."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def on_fit_start(self, trainer: Any) -> None: ...

    def on_step_end(self, trainer: Any, step: int, logs: dict[str, float]) -> None:
        if time.perf_counter() >= self.deadline:
            trainer.should_stop = True

    def on_evaluate(self, trainer: Any, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Any, result: Any) -> None: ...


def fit_auto(cfg: FitConfig, resume: bool = False,
             log: Callable[[str], None] = lambda _m: None, overwrite: bool = False) -> RunResult:
    """``fit --strategy auto``: choose the backbone and the strategy, and explain why.

    Backbone: the best linear-probe validation accuracy among ``cfg.backbones`` (default:
    the installed built-in pool of the data's modality). Strategy: the linear probe on
    cached features, then each next rung of :func:`strategy_ladder` (a rung that a later one
    dominates, :data:`DOMINATED_BY`, is skipped) until ``MAX_NO_GAIN`` rungs in a row do not
    improve the validation metric or a rung's estimated cost exceeds the remaining budget (``time_budget``,
    default 10m; a rung that does not fit with the configured epochs runs with fewer, or
    is skipped). Later rungs start from the probe's head (LP-FT, Kumar et al. 2022,
    https://arxiv.org/abs/2202.10054). The model with the best validation metric is
    kept; test labels are used only to report it.
    """
    t_start = time.perf_counter()
    if cfg.out or cfg.name:  # refuse to replace a run before any data is read
        Run("fit", out=cfg.out, name=cfg.name, resume=resume, overwrite=overwrite).check()
    budget = parse_budget(cfg.time_budget if cfg.time_budget is not None else DEFAULT_BUDGET) or 0.0
    check_compare(cfg.compare)
    if cfg.strategy_params:
        raise ConfigError("The 'strategy_params' parameter cannot be used with --strategy auto: "
                          "auto chooses the strategy and uses each one's defaults. Name a "
                          f"strategy instead, or drop strategy_params (got {cfg.strategy_params}).")
    if cfg.joint_source:
        raise ConfigError("The 'joint_source' parameter cannot be used with --strategy auto yet. Name a "
                          "strategy (e.g. --strategy gradual), or drop joint_source.")
    cfg = apply_label_budget(cfg, log)  # auto climbs to end-to-end rungs: validation carved from the shots
    splits, task = task_splits(cfg, log)
    train = splits.train
    log_data(cfg, splits, task, log)
    log(f"[bold]auto[/bold] time budget {_fmt_s(budget)}")

    spec, backbone_why, ranking = choose_backbone(cfg, train, log, splits.val, task)
    name, pretrained = parse_candidate(spec)
    chosen_cfg = dataclasses.replace(
        cfg, backbone=dataclasses.replace(cfg.backbone, name=name,
                                          pretrained=cfg.backbone.pretrained and pretrained))
    default_name = default_run_name(cfg.data.data, name, "auto")
    with Run("fit", out=cfg.out, name=cfg.name, default_name=default_name, resume=resume,
             overwrite=overwrite) as run:
        climb = _Climb(cfg, chosen_cfg, splits, task, run, budget, t_start, resume, log)
        run.write_config(chosen_cfg)
        run.fingerprint_splits(splits)
        log(f"[bold]auto[/bold] {backbone_why}")
        climb.climb()
        return climb.finish(spec, name, backbone_why, ranking)


class _Climb:
    """The strategy ladder of :func:`fit_auto` on the chosen backbone, and its run."""

    def __init__(self, cfg: FitConfig, chosen_cfg: FitConfig, splits: Any, task: Any, run: Run,
                 budget: float, t_start: float, resume: bool, log: Callable[[str], None]) -> None:
        self.cfg, self.chosen_cfg, self.splits, self.task, self.run = cfg, chosen_cfg, splits, task, run
        self.budget, self.t_start, self.resume, self.log = budget, t_start, resume, log
        self.tried: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.best: dict[str, Any] | None = None
        self.best_model: Any = None
        self.probe_model: Any = None
        self.calibration = 1.0
        self.stop_reason = "every rung of the ladder was tried"
        #: each tried rung's validation metric, keyed by the task's selection metric (val_r2 ...)
        self.val_key = f"val_{task.selection_metric}"

    def _prepare(self) -> None:
        train, val, test = self.splits.train, self.splits.val, self.splits.test
        torch.manual_seed(self.cfg.data.seed)
        # The ladder starts with the linear probe, so the backbone gets the probe's multi-scale
        # features (backbone.pool_stages); later rungs fine-tune from the probe (LP-FT).
        self.base = build_model(dataclasses.replace(self.chosen_cfg, strategy="linear-probe"), train,
                                self.task)
        backbone = self.base.backbone
        # partial trains the top blocks on cached activations: the pooled stages must be among
        # them, and it starts from the trained probe, so it skips partial's own head stage
        self.partial_params = {"blocks": max(PARTIAL_BLOCKS, int(getattr(backbone, "pool_stages", 0)) + 1),
                               "head_epochs": 0}
        n_examples, n_classes, unit = self.task.ladder_examples(train)
        self.ladder, self.ladder_why = strategy_ladder(backbone, n_examples, n_classes, unit)
        if len(val) == 0:
            self.ladder = ["linear-probe"]
            self.ladder_why = "no validation data to compare strategies on, so only the linear probe"
        self.log(f"[bold]auto[/bold] {self.ladder_why}")
        try:
            self.n_blocks = len(list(backbone.blocks()))
        except TransferkitError:
            self.n_blocks = 1
        self.per_example = forward_seconds(backbone, train)
        # Reserve the final evaluation (one forward over val and test) inside the budget.
        reserve = (len(val) + len(test)) * self.per_example
        self.deadline = max(time.perf_counter(), self.t_start + self.budget - reserve)
        self.callbacks = [_Deadline(self.deadline)]
        self.runner = self._runner(self.chosen_cfg)

    def _runner(self, cfg: FitConfig) -> StageRunner:
        return StageRunner(cfg, self.splits, self.cfg.cache_dir, self.run.dir, self.resume, self.log,
                           callbacks=self.callbacks, task=self.task)

    def _epochs_for(self, i: int, strategy: str) -> tuple[int | None, float]:
        """(epochs to run the rung with, or None to stop the climb; its estimated seconds)."""
        epochs = self.cfg.train.epochs
        remaining = self.deadline - time.perf_counter()
        estimate = estimate_cost(strategy, per_example=self.per_example, n_train=len(self.splits.train),
                                 n_val=len(self.splits.val), epochs=epochs, blocks=self.n_blocks,
                                 partial_blocks=self.partial_params["blocks"]) * self.calibration
        if i == 0:
            return epochs, estimate
        if remaining <= 0:
            self.stop_reason = f"the time budget ({_fmt_s(self.budget)}) was spent"
        elif estimate > remaining:
            run_epochs = int(epochs * remaining / estimate)
            if run_epochs >= 1:
                return run_epochs, estimate * run_epochs / epochs
            self.stop_reason = (f"{strategy} would take about {_fmt_s(estimate)} and only "
                                f"{_fmt_s(remaining)} of the budget is left")
        else:
            return epochs, estimate
        self.skipped.append({"strategy": strategy, "reason": self.stop_reason})
        return None, estimate

    def _train_rung(self, i: int, strategy: str, run_epochs: int) -> tuple[Any, list, list, float]:
        """Train one rung; returns (model, stages, its stage history, seconds)."""
        # Later rungs start from the probe's trained head on the untouched backbone (LP-FT).
        model = self.base if i == 0 else copy.deepcopy(self.probe_model)
        runner = self.runner
        if run_epochs != self.cfg.train.epochs:
            runner = self._runner(dataclasses.replace(
                self.chosen_cfg, train=dataclasses.replace(self.chosen_cfg.train, epochs=run_epochs)))
            self.log(f"[bold]auto[/bold] {strategy} with {run_epochs} epoch(s) instead of "
                     f"{self.cfg.train.epochs} to fit the budget")
        n_hist = len(runner.history)
        t0 = time.perf_counter()
        stages = runner.run(model, strategy, self.partial_params if strategy == "partial" else {},
                            tag=f"{strategy}-")
        seconds = time.perf_counter() - t0
        if runner is not self.runner:
            self.runner.history.extend(runner.history[n_hist:])
            for k, v in runner.timings.items():
                self.runner.timings[k] += v
        return model, stages, runner.history[n_hist:], seconds

    def climb(self) -> None:
        """Run the ladder while the validation metric improves and the budget allows."""
        self._prepare()
        metric = self.task.selection_metric
        no_gain = 0
        for i, strategy in enumerate(self.ladder):
            dominant = DOMINATED_BY.get(strategy)
            if i > 0 and dominant in self.ladder[i + 1:]:
                reason = (f"{dominant} comes later on the ladder, costs about as much and can reach "
                          f"everything {strategy} can")
                self.skipped.append({"strategy": strategy, "reason": reason})
                self.log(f"[bold]auto[/bold] {strategy} skipped: {reason}")
                continue
            run_epochs, estimate = self._epochs_for(i, strategy)
            if run_epochs is None:
                break
            model, stages, hist, seconds = self._train_rung(i, strategy, run_epochs)
            val_score = hist[-1]["best_metric"] if hist else None
            frozen = frozen_stages(stages)
            if val_score is None and len(self.splits.val):
                val_score = self.task.metrics(self.splits.val.y, self.runner.outputs(model, self.splits.val, frozen),
                                              task_meta(self.task, self.splits.train))[metric]
            improved = self.best is None or (val_score is not None
                                             and self.task.better(val_score, self.best[self.val_key]))
            entry = {"strategy": strategy, self.val_key: val_score, "seconds": round(seconds, 3),
                     "estimated_s": round(estimate, 3), "epochs": run_epochs,
                     "stopped": hist[-1]["stopped"] if hist else None, "improved": improved}
            self.tried.append(entry)
            shown = val_score if val_score is None else f"{val_score:.4f}"
            self.log(f"[bold]auto[/bold] {strategy}: val {metric} {shown} in {_fmt_s(seconds)} "
                     f"(estimated {_fmt_s(estimate)})" + ("" if improved else ", no improvement"))
            if i > 0 and estimate > 0:
                self._calibrate(stages, hist, seconds, estimate, run_epochs)
            if i == 0:
                self.probe_model = model
            if not improved:
                no_gain += 1
                why = (f"{strategy} did not improve the validation {metric} "
                       f"({val_score:.4f} <= {self.best[self.val_key]:.4f})"
                       if val_score is not None else f"{strategy} gave no validation {metric}")
                if no_gain >= MAX_NO_GAIN:
                    self.stop_reason = f"{why}: {no_gain} rungs in a row without a gain"
                    break
                self.stop_reason = f"every rung of the ladder was tried ({why})"
                continue
            no_gain = 0
            self.best, self.best_model = {**entry, "frozen": frozen}, model
            if hist and hist[-1]["stopped"] == "callback":
                self.stop_reason = f"the time budget ({_fmt_s(self.budget)}) ran out during {strategy}"
                break
        seen = {t["strategy"] for t in [*self.tried, *self.skipped]}
        for later in self.ladder:
            if later not in seen:
                self.skipped.append({"strategy": later, "reason": "not reached: " + self.stop_reason})

    def _calibrate(self, stages: list, hist: list, seconds: float, estimate: float,
                   run_epochs: int) -> None:
        """Scale later estimates by how long this rung's steps really took."""
        steps_run = sum(h["steps"] for h in hist) or 1
        planned = sum(max(1, (s.epochs or run_epochs)) for s in stages) * math.ceil(
            len(self.splits.train) / self.cfg.train.batch_size)
        self.calibration = float(np.clip((seconds / steps_run) / (estimate / planned), 0.25, 8.0))

    def finish(self, spec: str, name: str, backbone_why: str, ranking: list[dict]) -> RunResult:
        """Evaluate the kept model, judge it against its baselines and write the run."""
        assert self.best is not None  # the first rung always counts as an improvement
        model, strategy, frozen = self.best_model, self.best["strategy"], self.best["frozen"]
        val = self.best[self.val_key]
        val_txt = "n/a" if val is None else f"{val:.4f}"
        tried = ", ".join(f"{t['strategy']} (val {t[self.val_key] if t[self.val_key] is None else round(t[self.val_key], 4)}, "
                          f"{t['seconds']:.1f} s)" for t in self.tried)
        metric = self.task.selection_metric
        choice = (f"{backbone_why}; {self.ladder_why}; tried {tried}; stopped because "
                  f"{self.stop_reason}; kept {strategy}, the best validation {metric} ({val_txt}).")
        self.log(f"[bold]auto[/bold] kept {strategy} (val {metric} {val_txt}); stopped because "
                 f"{self.stop_reason}")
        metrics = evaluate_splits(model, self.runner, self.splits, frozen, self.log)
        baselines, gain, warnings = judge(self.chosen_cfg, self.task, self.splits, metrics, self.run.dir,
                                          self.resume, self.log, test_outputs=self.runner.test_outputs)
        near = near_duplicate_warnings(self.chosen_cfg, model.backbone, self.splits)
        for w in near:
            self.log(f"[yellow]warning: {w}[/yellow]")
        final_cfg = dataclasses.replace(self.chosen_cfg, strategy=strategy, strategy_params=dict(
            self.partial_params) if strategy == "partial" else {})
        self.run.save_model(model, self.task, self.splits.train, final_cfg)
        self.run.save_test_predictions(self.task, self.splits.test.y, self.runner.test_outputs)
        auto = {"budget_s": self.budget, "backbone": {"chosen": spec, "why": backbone_why, "ranking": ranking},
                "ladder": self.ladder, "ladder_why": self.ladder_why,
                "forward_s_per_example": round(self.per_example, 6), "tried": self.tried,
                "skipped": self.skipped, "stopped_because": self.stop_reason, "chosen": strategy}
        summary = Summary(
            task=self.task.name, command="fit", data={**self.splits.describe(), "source": None},
            backbone=name, strategy=strategy, choice=choice, metrics=metrics,
            labels_used=self.task.labels_used(self.splits), baselines=baselines, transfer_gain=gain,
            selection={"split": "val", "validator": None}, stages=self.runner.history,
            timings=timings(self.t_start, self.runner),
            warnings=[*warnings, *near, *stage_warnings(self.runner.history)], auto=auto,
            **self.runner.adjustments)
        data = self.run.finish(summary)  # the run is renamed into place here
        return RunResult(self.run.dir, data, model)


__all__ = ["DEFAULT_BUDGET", "DOMINATED_BY", "MAX_NO_GAIN", "estimate_cost", "fit_auto", "parse_budget",
           "strategy_ladder"]
