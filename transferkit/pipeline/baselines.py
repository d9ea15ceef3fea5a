"""Evaluation of a trained model on its splits, and the baselines it is judged against:
the task's own (e.g. the majority class), the same architecture from scratch, and the
transfer gain with its plain-words warning."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from transferkit.errors import ConfigError
from transferkit.pipeline.stages import StageRunner
from transferkit.tasks import Task

#: baselines a fit can train beside the transferred model (``--compare``)
COMPARABLE = ("scratch",)


def check_compare(names: Sequence[str]) -> None:
    """Refuse unknown ``--compare`` names before anything runs."""
    for name in names:
        if name not in COMPARABLE:
            raise ConfigError(f"Unknown baseline '{name}' in compare. Available: "
                              f"{', '.join(COMPARABLE)}.")


def evaluate_splits(model: Any, runner: StageRunner, splits: Any, frozen: bool,
                    log: Callable[[str], None]) -> dict[str, Any]:
    """Validation and test metrics of a trained model; the test split is read here, once,
    after every choice has been made. The task's tuning of the head's decisions on the
    validation split (``Task.tune_head``, e.g. multi-label thresholds) and its adjustment of
    the trained model (``Task.adjust``, e.g. calibration) run first; the adjustment's summary
    sections are left in ``runner.adjustments``."""
    task, val = runner.task, splits.val
    val_outputs = runner.outputs(model, val, frozen) if len(val) else None
    tuned = task.tune_head(model.head, val.y if len(val) else None, val_outputs)
    if tuned is not None and tuned.get("sentence"):
        log(f"[bold]head[/bold] {tuned['sentence']}")
    if tuned is not None and tuned.get("outputs_changed") and val_outputs is not None:
        val_outputs = runner.outputs(model, val, frozen)  # the tuned head's answers
    test_outputs = runner.outputs(model, splits.test, frozen)
    pool_outputs(task, model, runner, splits.train, log)
    # what the task fits on top of the trained model (calibration), stored in the model
    val_outputs, test_outputs, runner.adjustments = task.adjust(model, splits, val_outputs,
                                                                test_outputs, log)
    meta = task_meta(task, splits.train, model)  # after the adjustment, which may add a decision rule
    metrics: dict[str, Any] = {
        "val": task.metrics(val.y, val_outputs, meta) if val_outputs is not None else {},
    }
    runner.test_outputs = test_outputs  # for the paired tests against the baselines
    metrics["test"] = task.metrics(splits.test.y, test_outputs, meta, detailed=True)
    ci = task.intervals(splits.test.y, test_outputs, meta, seed=runner.cfg.data.seed)
    if ci:
        metrics["test"]["ci"] = ci
    log(f"[bold]test[/bold] {task.headline(metrics['test'])}")
    return metrics


def pool_outputs(task: Task, model: Any, runner: StageRunner, train: Any,
                 log: Callable[[str], None]) -> None:
    """The model's outputs on the user's unlabelled pool (``task_params.prior_pool``), read as
    predict reads inputs, left in ``task.pool_outputs_`` for the prior correction's EM."""
    path = getattr(getattr(task, "config", None), "prior_pool", None)
    if not path:
        return
    from transferkit.data.inputs import to_raw_items
    from transferkit.pipeline.stages import predict_items

    schema = getattr(train, "schema", None)
    meta = {"text_column": runner.cfg.data.text_column, "schema": schema.to_dict() if schema else None}
    items = to_raw_items(str(path), train.modality, meta)
    task.pool_outputs_ = predict_items(model, items, task)
    log(f"[bold]prior pool[/bold] {len(items)} unlabelled inputs read from '{path}'")


def task_meta(task: Task, train: Any, model: Any = None) -> dict[str, Any]:
    """What the task's metrics need to know about the targets (e.g. the class names) and,
    given the trained ``model``, about its head (e.g. the thresholds it decides with)."""
    meta = task.describe_targets(train)
    if model is not None:
        meta.update(task.describe_head(model.head))
    return meta


def scratch_baseline(cfg: Any, task: Task, splits: Any, run_dir: Any, resume: bool,
                     log: Callable[[str], None]) -> tuple[dict[str, Any], Any]:
    """The same architecture from random initialisation, trained end to end with the same
    budget, evaluated on the same test split: (its summary entry, its test outputs)."""
    from transferkit.pipeline.build import build_model

    log("[bold]baseline[/bold] same architecture from scratch, same budget")
    scratch = build_model(cfg, splits.train, task, pretrained=False)
    runner = StageRunner(cfg, splits, cfg.cache_dir, run_dir, resume, log, task=task)
    runner.run(scratch, "full", {}, tag="scratch-")
    if len(splits.val):  # its own decision settings, chosen on validation data like the model's
        task.tune_head(scratch.head, splits.val.y, runner.outputs(scratch, splits.val, frozen=False))
    outputs = runner.outputs(scratch, splits.test, frozen=False)
    meta = task_meta(task, splits.train, scratch)
    result = {"test": task.metrics(splits.test.y, outputs, meta),
              "train_s": round(runner.timings["train_s"], 3)}
    if task.describe_head(scratch.head):
        result["head"] = task.describe_head(scratch.head)
    log(f"[bold]scratch[/bold] test {task.headline(result['test'])}")
    return result, outputs


def judge(cfg: Any, task: Task, splits: Any, metrics: dict[str, Any], run_dir: Any, resume: bool,
          log: Callable[[str], None], test_outputs: Any = None,
          model: Any = None) -> tuple[dict[str, Any], float | None, list[str]]:
    """(baselines, transfer gain, warnings) of a fitted model: the task's baselines, the
    ``--compare`` baselines, the gain over scratch and the data's warnings. With the model's
    ``test_outputs``, the gain is judged by the task's paired test on the same test examples
    (``baselines.scratch.paired_test``), and "negative transfer" is said only when the test
    detects it. ``model``: the trained model (its head's settings, e.g. thresholds, judge
    its outputs)."""
    plain, plain_outputs = task.baselines_with_outputs(splits.train, splits.test)
    baselines: dict[str, Any] = {"scratch": None, "source_only": None, "oracle": None, **plain}
    warnings = data_warnings(splits)
    meta = task_meta(task, splits.train, model)
    if test_outputs is not None:
        paired_plain(task, splits.test.y, test_outputs, baselines, plain_outputs, meta,
                     cfg.data.seed, log)
    paired = None
    if "scratch" in cfg.compare:
        baselines["scratch"], scratch_outputs = scratch_baseline(cfg, task, splits, run_dir, resume, log)
        if test_outputs is not None:
            # the baseline's own head settings (e.g. thresholds) travel as meta["baseline_head"]
            paired = task.compare(splits.test.y, test_outputs, scratch_outputs,
                                  {**meta, "baseline_head": baselines["scratch"].get("head", {})},
                                  "scratch", seed=cfg.data.seed)
    gain = task.transfer_gain(metrics, baselines["scratch"])
    if paired is not None:  # the paired test decides the wording; the sign alone does not
        baselines["scratch"]["paired_test"] = paired
        gain_warning = paired["sentence"] if paired["verdict"] == "negative" else None
        if gain_warning is None:
            log(f"[bold]paired test[/bold] {paired['sentence']}")
    else:
        gain_warning = task.gain_warning(gain)
    for warn in (gain_warning, task.floor_warning(metrics, baselines, meta)):
        if warn:
            warnings.append(warn)
            log(f"[bold red]{warn}[/bold red]")
    return baselines, gain, warnings


#: a plain baseline (the majority class, ridge) is not a transfer comparison: beating it says
#: the model is worth having, losing to it says a plain tool is enough
PLAIN_WORDING = {"what": "the model", "better": "beats the plain baseline",
                 "worse": "below a plain baseline",
                 "subject": "the model", "advice": "A plain model does as well here: prefer it, or "
                 "try a pretrained backbone, another strategy or more epochs."}


def paired_plain(task: Task, y: Any, outputs: Any, baselines: dict[str, Any],
                 plain_outputs: dict[str, Any], meta: dict[str, Any], seed: int,
                 log: Callable[[str], None], wording: dict[str, str] | None = None) -> None:
    """The task's paired test of the model against every plain baseline that predicts per
    example (e.g. ridge and gradient boosting on a table, the majority class), on the same
    test examples: ``baselines[name]["paired_test"]``, its sentence on the console. The
    warnings stay the task's (``floor_warning`` reads these tests)."""
    wording = wording or PLAIN_WORDING
    for name, base_outputs in plain_outputs.items():
        paired = task.compare(y, outputs, base_outputs, meta, name, seed=seed, wording=wording)
        if paired is not None and isinstance(baselines.get(name), dict):
            baselines[name]["paired_test"] = paired
            log(f"[bold]paired test[/bold] {paired['sentence']}")


def data_warnings(splits: Any) -> list[str]:
    """Leakage between splits, skipped files and the data's own warnings (imputed values,
    empty texts), as summary warnings."""
    warnings = list(splits.leakage) + list(getattr(splits, "warnings", []))
    if splits.skipped:
        warnings.append(f"skipped {len(splits.skipped)} unreadable file(s): "
                        + ", ".join(s.get("file", "?") for s in splits.skipped[:5]))
    return warnings


__all__ = ["COMPARABLE", "check_compare", "data_warnings", "evaluate_splits", "judge",
           "paired_plain", "scratch_baseline", "task_meta"]
