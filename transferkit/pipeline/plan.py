"""``--dry-run``: what a fit would read and compute, and about how long it would take,
before any minute of CPU is spent.

The plan loads and splits the data (sizes per split, labels used), builds the model and
asks the strategy for its stages, looks up which feature extractions are already cached,
counts the training steps of every stage, and times a few forward passes of the backbone
to estimate the time of each part. Peak memory is measured, not guessed: the process's
peak resident set size after the data and the model are loaded, plus the cached
features the fit would hold.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from transferkit.config import FitConfig
from transferkit.pipeline.stages import stage_min_steps

#: a training step costs about this many forward passes (forward + backward)
STEP_FORWARDS = 3.0


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS


@torch.inference_mode()
def forward_seconds(backbone: Any, data: Any, n: int = 16, repeats: int = 2) -> float:
    """Seconds of one frozen forward pass per example (collate included), the fastest of
    ``repeats`` timings after a warm-up."""
    if len(data) == 0:
        return 0.0
    items = [data.input(i) for i in range(min(n, len(data)))]
    backbone.eval()
    backbone(backbone.collate(items[:2]))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        backbone(backbone.collate(items))
        best = min(best, time.perf_counter() - t0)
    return best / len(items)


def _cached(backbone: Any, data: Any, cache_dir: str | None, upto: int | None, bf16: bool) -> bool:
    from transferkit.features import FeatureCache, cache_key

    return FeatureCache(cache_dir).get(cache_key(backbone, data, upto, bf16)) is not None


def _solves(task: Any) -> bool:
    """Whether ``task`` has a convex head solver (it overrides ``Task.solve_head``)."""
    from transferkit.tasks._base import Task

    return task is not None and task.cached_inputs and type(task).solve_head is not Task.solve_head


def _stage_plan(stage: Any, cfg: FitConfig, splits: Any, backbone: Any, per_example: float,
                n_blocks: int, task: Any = None) -> dict[str, Any]:
    k = stage.trainable_blocks
    epochs = stage.epochs or cfg.train.epochs
    per_epoch = max(1, math.ceil(len(splits.train) / cfg.train.batch_size))
    min_steps = stage_min_steps(stage, task)
    if min_steps:
        epochs = max(epochs, math.ceil(min_steps / per_epoch))
    steps = epochs * per_epoch
    if cfg.train.max_steps:
        steps = min(steps, cfg.train.max_steps)
    inputs = ("head on cached features" if k == 0 else
              f"top {k} block(s) on cached activations" if k else "end to end on raw inputs")
    maps = k == 0 and task is not None and task.cached_maps
    grid = task.head_lr_grid() if maps else ()
    runs = len(grid) if len(grid) > 1 and len(splits.val) else 1  # one rate: no choice to make
    if maps:
        inputs = "head on the encoder's cached multi-scale maps" + (
            f", once per learning rate of task_params.lr_grid ({runs} runs, chosen on validation)" if runs > 1 else "")
        steps *= runs
    fraction = 0.0 if k == 0 else (min(1.0, k / max(n_blocks, 1)) if k else 1.0)
    if maps:  # a decoder's step on cached maps costs about a forward pass of the encoder
        fraction = 1.0
    seconds = steps * cfg.train.batch_size * STEP_FORWARDS * per_example * fraction
    evals = epochs * len(splits.val) * per_example * fraction
    plan = {"stage": stage.name, "inputs": inputs, "epochs": epochs, "steps": steps,
            "estimated_s": round(seconds + evals, 1)}
    if k == 0 and stage.info.get("convex_head") and _solves(task):
        solver = stage.info.get("solver", "auto")
        solver = getattr(backbone, "probe_solver", "lbfgs") if solver == "auto" else solver
        # no SGD step runs unless the solver declines (then the stage trains as counted here)
        plan.update(inputs=f"{inputs}, solved in closed form by the task's convex solver ({solver})",
                    epochs=0, steps=0, sgd_steps_if_declined=steps, solved=solver)
    return plan


def plan_fit(cfg: FitConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """The plan of ``fit`` for ``cfg`` (nothing is trained or written); printed through ``log``."""
    from transferkit.pipeline.budget import apply_label_budget
    from transferkit.pipeline.build import build_model
    from transferkit.pipeline.fitting import task_splits
    from transferkit.strategies import STRATEGIES

    t0 = time.perf_counter()
    torch.manual_seed(cfg.data.seed)  # the backbone the fit would build (and the cache keys it has)
    cfg = apply_label_budget(cfg, log)  # the validation split the fit would make
    splits, task = task_splits(cfg, log)  # the task is read from the raw labels, as fit does
    model = build_model(cfg, splits.train, task)
    backbone = model.backbone
    stages = STRATEGIES.build(cfg.strategy, dict(cfg.strategy_params)).stages(model, cfg.train)
    try:
        n_blocks = len(list(backbone.blocks()))
    except Exception:  # a backbone without blocks: every stage is the head or end to end
        n_blocks = 1
    per_example = forward_seconds(backbone, splits.train)
    extractions = []
    maps = task.cached_maps and hasattr(backbone, "packed_maps")  # a frozen encoder's maps, cached
    for k in sorted({s.trainable_blocks for s in stages if s.trainable_blocks is not None}):
        upto = k or None
        source = backbone.packed_maps() if maps and k == 0 else backbone
        for name in ("train", "val") if k or maps else ("train", "val", "test"):
            data = getattr(splits, name)
            cached = _cached(source, data, cfg.cache_dir, upto, cfg.train.bf16)
            extractions.append({"split": name, "what": "features" if k == 0 else f"activations below "
                                f"the top {k} block(s)", "n": len(data), "cached": cached,
                                "estimated_s": 0.0 if cached else round(len(data) * per_example, 1)})
    stage_plans = [_stage_plan(s, cfg, splits, backbone, per_example, n_blocks, task) for s in stages]
    frozen = all(s.trainable_blocks == 0 for s in stages)
    evaluate_s = 0.0 if frozen else round(len(splits.test) * per_example, 1)
    width = backbone.packed_maps().feature_dim if maps else backbone.feature_dim
    feature_mb = sum(e["n"] for e in extractions) * width * 4 / 2**20
    plan = {
        "data": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test),
                 "classes": len(splits.train.classes)},
        "task": task.name, "labels_used": task.labels_used(splits),
        "backbone": {"name": cfg.backbone.name, "feature_dim": backbone.feature_dim,
                     "forward_s_per_example": round(per_example, 5)},
        "strategy": cfg.strategy, "extractions": extractions, "stages": stage_plans,
        **plan_totals(extractions, stage_plans, evaluate_s, feature_mb, t0),
    }
    _print(plan, log)
    return plan


def plan_totals(extractions: list[dict[str, Any]], work: list[dict[str, Any]], evaluate_s: float,
                feature_mb: float, t0: float) -> dict[str, Any]:
    """The keys every plan ends with: evaluation time, the estimated total (extractions,
    training ``work`` and evaluation), memory, and how long planning took."""
    return {"evaluation_s": evaluate_s,
            "estimated_total_s": round(sum(e["estimated_s"] for e in extractions)
                                       + sum(w["estimated_s"] for w in work) + evaluate_s, 1),
            "memory": {"peak_rss_mb_after_loading": round(peak_rss_mb(), 1),
                       "features_mb": round(feature_mb, 1)},
            "planned_in_s": round(time.perf_counter() - t0, 2)}


def _print(plan: dict[str, Any], log: Callable[[str], None]) -> None:
    d = plan["data"]
    log(f"[bold]plan[/bold] read {d['train']} train / {d['val']} val / {d['test']} test examples, "
        + (f"{d['classes']} classes" if d["classes"] else "numeric targets")
        + f"; labels used {plan['labels_used']}")
    for e in plan["extractions"]:
        log(f"  extract {e['what']} of {e['split']} ({e['n']}): "
            + ("cached" if e["cached"] else f"about {e['estimated_s']} s"))
    for s in plan["stages"]:
        work = "no training steps" if s.get("solved") else f"{s['epochs']} epoch(s), {s['steps']} steps"
        log(f"  stage {s['stage']}: {s['inputs']}, {work}, about {s['estimated_s']} s")
    if plan["evaluation_s"]:
        log(f"  evaluate on the test split: about {plan['evaluation_s']} s")
    m = plan["memory"]
    log(f"  about {plan['estimated_total_s']} s in all (from timed forward passes, "
        f"{plan['backbone']['forward_s_per_example'] * 1000:.2f} ms per example); peak memory so far "
        f"{m['peak_rss_mb_after_loading']:.0f} MB plus {m['features_mb']:.0f} MB of cached features")
    log("  nothing was trained or written (--dry-run)")


__all__ = ["forward_seconds", "peak_rss_mb", "plan_fit"]
