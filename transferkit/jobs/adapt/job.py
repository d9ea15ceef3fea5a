"""The adapt job: data, candidates (source-only and one per lambda), the label-free choice,
and the run directory."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError
from transferkit.jobs.adapt.config import (
    SHALLOW_METHODS,
    SOURCE_ONLY,
    AdaptConfig,
    check_method,
    check_validator,
    resolve_adapt_config,
)
from transferkit.jobs.adapt.data import AdaptData, load_data
from transferkit.jobs.adapt.modes import AdaptMode, mode_class
from transferkit.jobs.adapt.objective import default_weight
from transferkit.jobs.adapt.selection import ValidatorSelection, choose_candidate
from transferkit.model import TransferModel
from transferkit.pipeline import Run, RunResult, Summary, default_run_name, is_main_process
from transferkit.pipeline import console_log as _log
from transferkit.tasks import get_task
from transferkit.tasks.classification import classification_metrics, majority_baseline

PROJECTION = "projection.npz"


@dataclass
class Outcome:
    """The trained candidates and the chosen model, with its target test metrics."""

    model: TransferModel
    chosen: str
    candidates: list[dict[str, Any]]
    source_only_candidate: dict[str, Any]
    source_only: dict[str, Any]  # the baseline: its test metrics and validator score
    test: dict[str, Any]
    oracle: dict[str, Any] | None


def adapt(config: AdaptConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
          log: Callable[[str], None] | None = _log, overwrite: bool = False, **kwargs: Any) -> RunResult:
    """Adapt a model from a labelled source to an unlabelled target; write a run directory.

    ``config`` is an :class:`AdaptConfig` or a YAML path; keyword arguments
    (``source``, ``target``, ``method``, ``backbone``, ``select``, ``sweep``,
    ``epochs`` ...) and ``overrides`` (``["train.lr=0.01"]``) take precedence. Returns the
    selected adapted model; ``summary["baselines"]`` holds the source-only model and the
    oracle (marked as such). ``overwrite=True`` replaces a run already in the run directory
    (once the new one is complete); without it, an existing run is refused.

    >>> run = adapt(source="printed-digits", target="digits", method="cdan")  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    cfg = resolve_adapt_config(config, overrides, **kwargs)
    _check(cfg)
    log = log or (lambda _m: None)
    with open_run(cfg, overwrite) as run:
        run.write_config(cfg)
        data = load_data(cfg, log)
        mode, outcome = _train(cfg, data, run.dir, log)
        return write_run(run, cfg, data, mode, outcome, t_start, log)


def _check(cfg: AdaptConfig) -> None:
    """Fail before any data is loaded; canonical method and validator names in ``cfg``."""
    for side in ("source", "target"):
        if not getattr(cfg, side).data:
            raise ConfigError(f"The '{side}.data' parameter of adapt (--{side}) is required: a "
                              "built-in dataset name (see `transferkit datasets`) or a path.")
    cfg.method = check_method(cfg.method)
    cfg.select = check_validator(cfg.select)
    from transferkit.mapping import MAPPINGS
    from transferkit.strategies import STRATEGIES

    STRATEGIES.entry(cfg.strategy)
    MAPPINGS.entry(cfg.mapping)


# ----------------------------------------------------------------------------- the run directory


def open_run(cfg: AdaptConfig, overwrite: bool = False) -> Run:
    """The engine's Run for ``cfg``: ``cfg.out``, else ``runs/<name>`` (``cfg.name`` or one
    made from source, target, method and time); entering it takes the run lock."""
    return Run("adapt", out=cfg.out, name=cfg.name, overwrite=overwrite,
               default_name=default_run_name("adapt", cfg.source.data, "to", cfg.target.data,
                                             cfg.method))


def run_dir_for(cfg: AdaptConfig) -> Path:
    """Where :func:`open_run` writes (a name is one path component: it cannot leave runs/)."""
    return open_run(cfg).final


def write_run(run: Run, cfg: AdaptConfig, data: AdaptData, mode: AdaptMode, outcome: Outcome,
              t_start: float, log: Callable[[str], None]) -> RunResult:
    """The end of every adapt run: weights and manifest, projection.npz, summary.json, the
    report and the runs index."""
    test, oracle, source_only = outcome.test, outcome.oracle, outcome.source_only
    gain = test["accuracy"] - source_only["test"]["accuracy"]
    warnings = list(data.warnings) + _report(cfg, outcome, gain, log)
    model, task = outcome.model, get_task("classification")
    majority = majority_baseline(data.source_train.y, data.target_test.y)
    floor = task.floor_warning({"test": test}, {"majority": majority}, {"classes": data.classes})
    if floor:
        warnings.append(floor)
        log(f"[bold red]{floor}[/bold red]")
    run.save_model(model, task, data.source_train, cfg.fit_config(mode.saved_mapping(model)),
                   extra={"adapt": {"source": cfg.source.data, "target": cfg.target.data,
                                    "method": cfg.method}})
    if is_main_process():
        np.savez(run.path(PROJECTION), **{k: np.asarray(v, dtype=np.float16) for k, v in
                                          zip(("before_s", "before_t", "after_s", "after_t"),
                                              mode.projection(model), strict=True)})
    candidates = [dict(c) for c in outcome.candidates]  # with each evaluation: the selection trace
    choice = (f"method '{cfg.method}' given explicitly; "
              + (f"lambda chosen among {len(candidates)} candidates " if len(candidates) > 1 else "")
              + f"checkpoint chosen by the label-free validator '{cfg.select}'")
    summary = Summary(
        task=task.name, command="adapt",
        data={"source": cfg.source.data, "target": cfg.target.data, "source_domain": cfg.source.domain,
              "target_domain": cfg.target.domain,
              "n_train": len(data.source_train), "n_val": len(data.source_val),
              "n_target_unlabelled": len(data.target_unlabelled),
              "n_target_labelled": int(len(data.shot_idx)), "n_test": len(data.target_test),
              "classes": data.classes, "match_resolution": data.resolution},
        backbone=cfg.backbone.name, strategy=cfg.strategy, choice=choice, metrics={"test": test},
        labels_used={"train": len(data.source_train), "val": len(data.source_val),
                     "target": int(len(data.shot_idx))},
        baselines={"scratch": None, "source_only": source_only, "oracle": oracle,
                   "majority": majority},
        transfer_gain=None,
        selection={"split": "target-unlabelled", "validator": cfg.select, "candidates": candidates,
                   "source_only_evaluations": outcome.source_only_candidate["evaluations"]},
        timings={"total_s": round(time.perf_counter() - t_start, 3),
                 "features_s": round(mode.timings["features_s"], 3),
                 "train_s": round(mode.timings["train_s"], 3)},
        warnings=warnings,
        adapt={"method": cfg.method, "mode": mode.name, "adaptation_gain": gain},
    )
    data = run.finish(summary)  # the run is renamed into place here
    return RunResult(run.dir, data, model)


def _report(cfg: AdaptConfig, outcome: Outcome, gain: float, log: Callable[[str], None]) -> list[str]:
    """Log the target test figures; the negative-transfer warning when adapting hurt."""
    test, oracle, so_acc = outcome.test, outcome.oracle, outcome.source_only["test"]["accuracy"]
    log(f"[bold]target test[/bold] adapted ({cfg.method}, selected by {cfg.select}) accuracy "
        f"{test['accuracy']:.4f}; source-only {so_acc:.4f}"
        + (f"; oracle {oracle['test']['accuracy']:.4f} (uses target labels)" if oracle else ""))
    if cfg.method == SOURCE_ONLY or gain >= 0:
        return []
    msg = (f"negative transfer: the adapted model ({cfg.method}, selected by {cfg.select}) is "
           f"{-gain * 100:.1f} points BELOW the source-only model on the target test set "
           f"({test['accuracy']:.4f} vs {so_acc:.4f}); adaptation "
           "did not help here: use the source-only model, or try another method, lambda or "
           "validator.")
    log(f"[bold red]{msg}[/bold red]")
    return [msg]


# ----------------------------------------------------------------------------- candidates


def _train(cfg: AdaptConfig, data: AdaptData, run_dir: Path,
           log: Callable[[str], None]) -> tuple[AdaptMode, Outcome]:
    """Train the source-only model and one candidate per lambda; keep the validator's choice."""
    from transferkit.validation import build_validator

    validator = build_validator(cfg.select)
    backbone = build_backbone(cfg, data.source_train)
    mode = mode_class(cfg)(cfg, data, backbone, validator, run_dir, log)
    log(f"[bold]backbone[/bold] {cfg.backbone.name} ({backbone.feature_dim}-d), "
        f"method {cfg.method}, {mode.name}, selection by {cfg.select} (label-free)")
    mode.prepare()
    weights = candidate_weights(cfg, log)
    so_model, so_sel = mode.train_candidate(0.0, SOURCE_ONLY)
    source_only = _describe(cfg, mode, SOURCE_ONLY, 0.0, so_model, so_sel)
    if cfg.method == SOURCE_ONLY:
        chosen, model, candidates = SOURCE_ONLY, so_model, [source_only]
    else:
        models: dict[str, TransferModel] = {}
        candidates = []
        for w in weights:
            tag = f"{cfg.method}" if w is None else f"{cfg.method}-lambda-{w:g}"
            models[tag], sel = mode.train_candidate(w, tag)
            candidates.append(_describe(cfg, mode, tag, w, models[tag], sel))
        chosen = choose_candidate(candidates, cfg.source_tolerance)["name"]
        model = models[chosen]
    for c in candidates:
        c["chosen"] = c["name"] == chosen
    mode.use("plain" if chosen == SOURCE_ONLY else "adapted")
    test = classification_metrics(data.target_test.y, mode.test_probs(model), data.classes, detailed=True)
    baseline = {"test": {"accuracy": source_only["target_test_accuracy"],
                         "balanced_accuracy": source_only["target_test_balanced_accuracy"]},
                "validator": source_only["validator"], "train_s": None}
    return mode, Outcome(model=model, chosen=chosen, candidates=candidates,
                         source_only_candidate=source_only, source_only=baseline, test=test,
                         oracle=_oracle(candidates))


def build_backbone(cfg: AdaptConfig, source_train: Any) -> Any:
    """The backbone of ``cfg``, adapted to the source's inputs (seeded: tabular backbones
    built from scratch start the same)."""
    import torch

    from transferkit.backbones import create_backbone
    from transferkit.pipeline import apply_pool_stages
    from transferkit.pipeline.build import data_resolution

    b = cfg.backbone
    torch.manual_seed(cfg.seed)
    backbone = create_backbone(b.name, weights=b.weights, pretrained=b.pretrained,
                               image_size=b.image_size or data_resolution(source_train),
                               max_length=b.max_length)
    backbone.adapt_to(source_train)
    apply_pool_stages(backbone, b.pool_stages, cfg.strategy)
    return backbone


def candidate_weights(cfg: AdaptConfig, log: Callable[[str], None]) -> list[float | None]:
    """The lambdas to train a candidate with (None: the method's default)."""
    if cfg.method in SHALLOW_METHODS or cfg.method == SOURCE_ONLY:
        if cfg.sweep:
            log(f"[yellow]--sweep: method '{cfg.method}' has no trade-off weight to "
                "sweep; training it once.[/yellow]")
        return [None]
    if cfg.sweep:
        return [float(w) for w in cfg.sweep_weights]
    if cfg.weight is not None:
        return [float(cfg.weight)]
    return [None]


def _describe(cfg: AdaptConfig, mode: AdaptMode, tag: str, weight: float | None,
              model: TransferModel, sel: ValidatorSelection) -> dict[str, Any]:
    """A candidate's record: its lambda, selection trace, target test figures and oracle."""
    test = classification_metrics(mode.data.target_test.y, mode.test_probs(model))
    alignment_weight = weight
    if weight is None and mode.aligns and cfg.method != SOURCE_ONLY:
        alignment_weight = default_weight(cfg.method, cfg.method_params)
    oracle_best = max((h for h in sel.history if h.get("oracle")),
                      key=lambda h: h["oracle"]["accuracy"], default=None)
    cand = {
        "name": tag, "weight": alignment_weight, "validator": sel.best_score,
        "source_val_accuracy": next((h["source_val_accuracy"] for h in sel.history if h.get("selected")),
                                    None),
        "selected_step": sel.best_step, "selected_stage": sel.best_stage,
        "target_test_accuracy": test["accuracy"],
        "target_test_balanced_accuracy": test["balanced_accuracy"],
        "evaluations": sel.history,
        "oracle": oracle_best and {"accuracy": oracle_best["oracle"]["accuracy"],
                                   "balanced_accuracy": oracle_best["oracle"]["balanced_accuracy"],
                                   "step": oracle_best["step"], "stage": oracle_best["stage"]},
    }
    score = "—" if sel.best_score is None else f"{sel.best_score:.4f}"
    mode.log(f"  {tag}: {cfg.select} {score} at step {sel.best_step} -> "
             f"target test accuracy {test['accuracy']:.4f} (evaluation only)")
    return cand


def _oracle(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The checkpoint and lambda the target test labels would pick (reported, never used)."""
    best = max((c for c in candidates if c.get("oracle")), key=lambda c: c["oracle"]["accuracy"],
               default=None)
    if best is None:
        return None
    return {"test": {"accuracy": best["oracle"]["accuracy"],
                     "balanced_accuracy": best["oracle"]["balanced_accuracy"]},
            "candidate": best["name"], "weight": best["weight"], "step": best["oracle"]["step"],
            "note": "oracle: the checkpoint and lambda chosen with the target test labels; "
                    "an upper bound for model selection, not a deployable result"}
