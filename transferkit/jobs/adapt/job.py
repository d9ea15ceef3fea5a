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
from transferkit.logs import library_log
from transferkit.model import TransferModel
from transferkit.pipeline import Run, RunResult, Summary, default_run_name, is_main_process
from transferkit.pipeline.baselines import paired_plain

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
    #: the source-only model's outputs on the target test set, for the paired test
    source_only_outputs: np.ndarray | None = None


def adapt(config: AdaptConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
          log: Callable[[str], None] | None = None, overwrite: bool = False, dry_run: bool = False,
          **kwargs: Any) -> RunResult | dict[str, Any]:
    """Adapt a model from a labelled source to an unlabelled target; write a run directory.

    ``config`` is an :class:`AdaptConfig` or a YAML path; keyword arguments
    (``source``, ``target``, ``method``, ``backbone``, ``select``, ``sweep``,
    ``epochs`` ...) and ``overrides`` (``["train.lr=0.01"]``) take precedence. Returns the
    selected adapted model; ``summary["baselines"]`` holds the source-only model and the
    oracle (marked as such). ``overwrite=True`` replaces a run already in the run directory
    (once the new one is complete); without it, an existing run is refused. ``dry_run=True``
    prints and returns the plan (data read, extractions not in the cache, every candidate's
    training steps, estimated time and memory) and trains and writes nothing.

    >>> run = adapt(source="printed-digits", target="digits", method="cdan")  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    cfg = resolve_adapt_config(config, overrides, **kwargs)
    _check(cfg)
    log = log or library_log
    if dry_run:
        from transferkit.jobs.adapt.plan import plan_adapt

        return plan_adapt(cfg, log)
    with open_run(cfg, overwrite) as run:
        run.write_config(cfg)
        data = load_data(cfg, log)
        check_task(cfg, data.task)
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


def check_task(cfg: AdaptConfig, task: Any) -> None:
    """Refuse a method or validator that needs class probabilities when the task has no
    classes (regression) or predicts label sets (multi-label), naming the ones that work."""
    if task.targets == "classes":
        return
    if task.targets == "tags":
        check_token_task(cfg, task)
        return
    what = "numbers" if task.targets == "values" else "label sets (a probability per label)"
    from transferkit.alignment import ALIGNMENTS
    from transferkit.jobs.adapt.config import method_names
    from transferkit.validation import VALIDATORS, build_validator

    def needs_probs(method: str) -> bool:
        return method in ALIGNMENTS and bool(getattr(ALIGNMENTS.get(method), "needs_logits", False))

    if needs_probs(cfg.method):
        able = [m for m in method_names() if not needs_probs(m)]
        raise ConfigError(f"The '{cfg.method}' method of adapt needs class probabilities, and the "
                          f"{task.name} task predicts {what}, not one class per example. Methods that work for "
                          f"{task.name}: {', '.join(able)} (e.g. --method coral).")
    if build_validator(cfg.select).needs_class_probabilities:
        able = [v for v in VALIDATORS.names() if not build_validator(v).needs_class_probabilities]
        raise ConfigError(f"The '{cfg.select}' validator of adapt reads class probabilities, and the "
                          f"{task.name} task predicts {what}, not one class per example. Validators that work for "
                          f"{task.name}: {', '.join(able)} (e.g. --select {able[0] if able else 'dev'}).")


def check_token_task(cfg: AdaptConfig, task: Any) -> None:
    """The token task adapts on cached per-word features: the alignment losses act on the
    words of both domains, the validators score words (each word has class probabilities).
    The closed-form methods fit one transform and one sample weight per example, and an
    end-to-end strategy would re-encode raw sentences per step: both refuse, naming what works."""
    from transferkit.jobs.adapt.config import method_names
    from transferkit.pipeline import strategy_freezes_backbone

    able = [m for m in method_names() if m not in SHALLOW_METHODS]
    if cfg.method in SHALLOW_METHODS:
        raise ConfigError(f"The '{cfg.method}' method of adapt fits one closed-form transform and sample "
                          f"weight per example on frozen features, and the {task.name} task has a feature "
                          f"per word, not per example. Methods that work for {task.name} (on the words of "
                          f"both domains): {', '.join(able)} (e.g. --method coral).")
    if not strategy_freezes_backbone(cfg.strategy):
        raise ConfigError(f"The '{cfg.strategy}' strategy of adapt trains the encoder end to end, which "
                          f"adapt does not do for the {task.name} task: it aligns cached per-word features. "
                          "Use --strategy linear-probe (the default: the mapping and the per-word head "
                          "train on the frozen encoder's word vectors), or fine-tune on the target with "
                          f"transferkit fit --data {cfg.target.data} --task {task.name} --strategy "
                          f"{cfg.strategy}.")


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
    model, task = outcome.model, data.task
    calibration = calibrate_adapted(mode, model, data, log)
    if calibration is not None and calibration["method"] != "none":  # ECE changes; the argmax does not
        outcome.test = mode.test_metrics(model, detailed=True)
    test, oracle, source_only = outcome.test, outcome.oracle, outcome.source_only
    metric = task.selection_metric
    gain = test[metric] - source_only["test"][metric]
    test_outputs = mode.test_outputs(model)
    meta = {"classes": data.classes}
    ci = task.intervals(data.target_test.y, test_outputs, meta, seed=cfg.seed)
    if ci:  # bootstrap CIs of the target test metrics, as fit reports them
        test["ci"] = ci
    paired = paired_test(cfg, task, data, test_outputs, outcome, meta)
    warnings = list(data.warnings) + _report(cfg, outcome, gain, metric, log, paired)
    # baselines that need no training: fit on the source rows, scored on the target test set,
    # each judged against the adapted model by the paired test where it predicts per example
    plain, plain_outputs = task.baselines_with_outputs(data.source_train, data.target_test)
    for name, (scores, outputs) in feature_baselines(mode, cfg.seed, log).items():
        plain[name], plain_outputs[name] = scores, outputs
    paired_plain(task, data.target_test.y, test_outputs, plain, plain_outputs, meta, cfg.seed, log)
    floor = task.floor_warning({"test": test}, plain, {"classes": data.classes})
    if floor:
        warnings.append(floor)
        log(f"[bold red]{floor}[/bold red]")
    run.save_model(model, task, data.source_train, cfg.fit_config(mode.saved_mapping(model)),
                   extra={"adapt": {"source": cfg.source.data, "target": cfg.target.data,
                                    "method": cfg.method}})
    run.save_test_predictions(task, data.target_test.y, test_outputs)
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
              "classes": data.classes, "match_resolution": data.resolution,
              **({"target_values": task.describe_targets(data.source_train).get("target")}
                 if data.source_train.has_values else {})},
        backbone=cfg.backbone.name, strategy=cfg.strategy, choice=choice, metrics={"test": test},
        labels_used={"train": len(data.source_train), "val": len(data.source_val),
                     "target": int(len(data.shot_idx))},
        baselines={"scratch": None, "source_only": source_only, "oracle": oracle, **plain},
        transfer_gain=None,
        selection={"split": "target-unlabelled", "validator": cfg.select, "candidates": candidates,
                   "source_only_evaluations": outcome.source_only_candidate["evaluations"]},
        timings={"total_s": round(time.perf_counter() - t_start, 3),
                 "features_s": round(mode.timings["features_s"], 3),
                 "train_s": round(mode.timings["train_s"], 3)},
        warnings=warnings,
        calibration=calibration,
        adapt={"method": cfg.method, "mode": mode.name, "adaptation_gain": gain,
               **({"paired_test": paired} if paired is not None else {})},
    )
    data = run.finish(summary)  # the run is renamed into place here
    return RunResult(run.dir, data, model)


#: adapt's source-only model checked against the plain tool on the very same inputs
SOURCE_ONLY_LOGISTIC = "source_only_logistic"


def feature_baselines(mode: AdaptMode, seed: int,
                      log: Callable[[str], None]) -> dict[str, tuple[dict[str, Any], np.ndarray]]:
    """The plain tool on the source-only model's inputs: scikit-learn's logistic regression on
    the standardised frozen features of the source rows (and target shots), scored on the
    target test set -- so a source-only model weaker than the plain tool shows beside it and
    the adaptation gain can be read against both. Single-label classification on cached
    features only (empty otherwise: the backbone trains, or the task is another)."""
    from transferkit.tasks._plain import logistic_on_features

    task, data = mode.task, mode.data
    feats = mode.plain_features()
    if feats is None or task.name != "classification" or mode.per_token:
        return {}
    x, y, x_test = feats
    probs, seconds = logistic_on_features(x, y, x_test, len(data.classes), seed)
    scores = {**task.metrics(np.asarray(data.target_test.y), probs, {"classes": data.classes}),
              "train_rows": int((np.asarray(y) >= 0).sum()), "train_s": round(seconds, 3),
              "inputs": "the source-only model's frozen features, standardised"}
    log(f"[bold]source-only, plain tool[/bold] logistic regression on the same frozen features: "
        f"{task.headline(scores)} on the target test set")
    return {SOURCE_ONLY_LOGISTIC: (scores, probs)}


def calibrate_adapted(mode: AdaptMode, model: Any, data: AdaptData,
                      log: Callable[[str], None]) -> dict[str, Any] | None:
    """Temperature scaling of the adapted classifier, as ``fit`` does (``task_params.calibration``;
    'bcts' adds one bias per class), fitted on the **labelled source validation split** -- the
    only labels adapt has besides the target test set, which is never read for it. Stored in
    the head (saved, so predict, serve and exports apply it); the section holds the target test
    ECE before and after. None for a head without calibration (not a classifier)."""
    from transferkit.tasks._calibration import CalibratedLinear, fit_bcts, fit_temperature, nll

    head = getattr(model, "head", None)
    if not isinstance(head, CalibratedLinear):
        return None
    method = str(getattr(data.task.config, "calibration", "none"))
    y = np.asarray(data.source_val.y, dtype=np.int64)
    labelled = y >= 0
    before = mode.test_metrics(model, detailed=True)
    section: dict[str, Any] = {"method": "none", "why": "", "temperature": 1.0, "fitted_on": None,
                               "n_val": int(labelled.sum()), "ece_before": before["ece"],
                               "ece_after": before["ece"], "accuracy_before": before["accuracy"],
                               "accuracy_after": before["accuracy"],
                               "curve_before": before.get("calibration")}
    if method == "none" or labelled.sum() < 2:
        section["why"] = "set to 'none'" if method == "none" else "no labelled source validation split"
        return section
    was = model.training
    model.eval()
    _, raw = mode.embed_eval(model, "source_val")  # the head's logits (T = 1, no bias yet)
    if was:
        from transferkit.train.modes import set_train_mode

        set_train_mode(model)
    z = np.asarray(raw, dtype=np.float64)[labelled]
    if method == "auto" and bool((z.argmax(1) == y[labelled]).all()):
        section["why"] = "'auto': every source validation example is already right (the fitted T would be 0)"
        return section
    method = "temperature" if method == "auto" else method
    temperature, bias = fit_temperature(z, y[labelled]), np.zeros(z.shape[1])
    if method == "bcts":
        temperature, bias = fit_bcts(z, y[labelled])
    head.set_adjustment(temperature, bias if bias.any() else None)
    after = mode.test_metrics(model)
    words = (f"the {int(labelled.sum())} labelled source validation examples (the target has no "
             "labels to fit on; a temperature fitted on the source holds on the target only as far "
             "as the shift leaves the model's over- or under-confidence unchanged)")
    section.update(method=method, why="'auto': temperature scaling on the labelled source validation split"
                   if str(data.task.config.calibration) == "auto" else f"set to '{method}'",
                   temperature=temperature, fitted_on="source-val", fitted_on_words=words,
                   val_nll_before=nll(z, y[labelled]), val_nll_after=nll(z / temperature + bias, y[labelled]),
                   ece_after=after["ece"], accuracy_after=after["accuracy"],
                   **({"bias": [float(b) for b in bias]} if method == "bcts" else {}))
    log(f"[bold]calibration[/bold] {method} T {temperature:.3f} fitted on the source validation split: "
        f"target test ECE {before['ece']:.4f} -> {after['ece']:.4f}")
    return section


def paired_test(cfg: AdaptConfig, task: Any, data: AdaptData, test_outputs: np.ndarray,
                outcome: Outcome, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The task's paired test of the adapted model against the source-only model on the same
    target test examples (None: a source-only run, or a task without a paired test)."""
    if cfg.method == SOURCE_ONLY or outcome.source_only_outputs is None:
        return None
    wording = {"what": "adaptation", "subject": f"the adapted model ({cfg.method}, selected by "
                                                f"{cfg.select})",
               "advice": "Adaptation did not help here: use the source-only model, or try another "
                         "method, lambda or validator."}
    return task.compare(data.target_test.y, test_outputs, outcome.source_only_outputs, meta,
                        SOURCE_ONLY, seed=cfg.seed, wording=wording)


def _report(cfg: AdaptConfig, outcome: Outcome, gain: float, metric: str,
            log: Callable[[str], None], paired: dict[str, Any] | None = None) -> list[str]:
    """Log the target test figures; the negative-transfer warning when adapting hurt -- with
    a paired test, only when the test detects it."""
    test, oracle, so = outcome.test, outcome.oracle, outcome.source_only["test"][metric]
    log(f"[bold]target test[/bold] adapted ({cfg.method}, selected by {cfg.select}) {metric} "
        f"{test[metric]:.4f}; source-only {so:.4f}"
        + (f"; oracle {oracle['test'][metric]:.4f} (uses target labels)" if oracle else ""))
    if paired is not None:  # the paired test decides the wording; the sign alone does not
        if paired["verdict"] != "negative":
            log(f"[bold]paired test[/bold] {paired['sentence']}")
            return []
        log(f"[bold red]{paired['sentence']}[/bold red]")
        return [paired["sentence"]]
    if cfg.method == SOURCE_ONLY or gain >= 0:
        return []
    below = f"{-gain * 100:.1f} points" if metric == "accuracy" else f"{-gain:.4f} ({metric})"
    msg = (f"negative transfer: the adapted model ({cfg.method}, selected by {cfg.select}) is "
           f"{below} BELOW the source-only model on the target test set "
           f"({metric} {test[metric]:.4f} vs {so:.4f}); adaptation "
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
    backbone = data.task.prepare_backbone(build_backbone(cfg, data.source_train))
    mode = mode_class(cfg)(cfg, data, backbone, validator, run_dir, log)
    log(f"[bold]backbone[/bold] {cfg.backbone.name} ({backbone.feature_dim}-d), "
        f"method {cfg.method}, {mode.name}, selection by {cfg.select} (label-free)")
    mode.prepare()
    weights = candidate_weights(cfg, log)
    so_model, so_sel = mode.train_candidate(0.0, SOURCE_ONLY)
    source_only = _describe(cfg, mode, SOURCE_ONLY, 0.0, so_model, so_sel)
    so_outputs = mode.test_outputs(so_model)  # on the 'plain' setup it was trained on
    if cfg.method == SOURCE_ONLY:
        chosen, model, candidates = SOURCE_ONLY, so_model, [source_only]
    else:
        models: dict[str, TransferModel] = {}
        candidates = []
        for w in weights:
            tag = f"{cfg.method}" if w is None else f"{cfg.method}-lambda-{w:g}"
            models[tag], sel = mode.train_candidate(w, tag)
            candidates.append(_describe(cfg, mode, tag, w, models[tag], sel))
        chosen = choose_candidate(candidates, cfg.source_tolerance, data.task.selection_metric)["name"]
        model = models[chosen]
    for c in candidates:
        c["chosen"] = c["name"] == chosen
    mode.use("plain" if chosen == SOURCE_ONLY else "adapted")
    test = mode.test_metrics(model, detailed=True)
    baseline = {"test": dict(source_only["target_test"]), "validator": source_only["validator"],
                "train_s": None}
    return mode, Outcome(model=model, chosen=chosen, candidates=candidates,
                         source_only_candidate=source_only, source_only=baseline, test=test,
                         oracle=_oracle(candidates, data.task.selection_metric),
                         source_only_outputs=so_outputs)


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
    task = mode.task
    metric = task.selection_metric
    shown = [k for k in task.directions if k != "loss"]  # e.g. accuracy, balanced_accuracy
    full = mode.test_metrics(model)
    test = {k: full[k] for k in shown if k in full}
    alignment_weight = weight
    if weight is None and mode.aligns and cfg.method != SOURCE_ONLY:
        alignment_weight = default_weight(cfg.method, cfg.method_params)
    oracle_best = max((h for h in sel.history if h.get("oracle")),
                      key=lambda h: h["oracle"][metric] * (1 if task.direction(metric) == "max" else -1),
                      default=None)
    cand = {
        "name": tag, "weight": alignment_weight, "validator": sel.best_score,
        f"source_val_{metric}": next((h[f"source_val_{metric}"] for h in sel.history if h.get("selected")),
                                     None),
        "selected_step": sel.best_step, "selected_stage": sel.best_stage,
        **{f"target_test_{k}": v for k, v in test.items()},
        "target_test": test,
        "evaluations": sel.history,
        "oracle": oracle_best and {**oracle_best["oracle"], "step": oracle_best["step"],
                                   "stage": oracle_best["stage"]},
    }
    score = "—" if sel.best_score is None else f"{sel.best_score:.4f}"
    mode.log(f"  {tag}: {cfg.select} {score} at step {sel.best_step} -> "
             f"target test {metric} {test[metric]:.4f} (evaluation only)")
    return cand


def _oracle(candidates: list[dict[str, Any]], metric: str = "accuracy") -> dict[str, Any] | None:
    """The checkpoint and lambda the target test labels would pick (reported, never used)."""
    best = max((c for c in candidates if c.get("oracle")), key=lambda c: c["oracle"][metric],
               default=None)
    if best is None:
        return None
    return {"test": {k: v for k, v in best["oracle"].items() if k not in ("step", "stage")},
            "candidate": best["name"], "weight": best["weight"], "step": best["oracle"]["step"],
            "note": "oracle: the checkpoint and lambda chosen with the target test labels; "
                    "an upper bound for model selection, not a deployable result"}
