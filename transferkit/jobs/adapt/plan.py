"""``adapt --dry-run``: what an adaptation would read and compute, and about how long it would
take, before any minute of CPU is spent.

The plan loads both domains as the job does (sizes per split; the labels used: the source's,
and the target's only for its labelled shots), builds the backbone and the model of one
candidate, looks up which feature extractions are already in the cache, counts the training
steps of every candidate (source-only and one per lambda) in the chosen mode -- on cached
features, or end to end on raw inputs -- and times a few batches to estimate each part.
Peak memory is measured after loading, plus the cached features the run would hold. Nothing
is trained or written: no run directory, no cache entry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from transferkit.jobs.adapt.config import SOURCE_ONLY, AdaptConfig
from transferkit.jobs.adapt.data import MAX_CONTEXT, AdaptData
from transferkit.pipeline.plan import STEP_FORWARDS, forward_seconds, plan_totals


def _cached(backbone: Any, data: Any, cfg: AdaptConfig) -> bool:
    from transferkit.features import FeatureCache, cache_key

    return FeatureCache(cfg.cache_dir).get(cache_key(backbone, data, None, cfg.train.bf16)) is not None


def _head_step_seconds(model: Any, batch_size: int, both: bool, repeats: int = 3) -> float:
    """Seconds of one training step of φ and the head on cached features: forward and
    backward of a source batch (and a target batch when the candidate aligns), the fastest
    of ``repeats`` timings after a warm-up."""
    dim = model.backbone.feature_dim
    x = torch.randn(batch_size * (2 if both else 1), dim)  # (B or 2B, D)
    params = [p for part in (model.mapping, model.head) for p in part.parameters() if p.requires_grad]
    model.train()

    def step() -> None:
        out = model.head(model.mapping(x))
        out.float().square().mean().backward()
        for p in params:
            p.grad = None

    step()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return best


def _extractions(cfg: AdaptConfig, data: AdaptData, backbone: Any, cached_mode: bool,
                 per_example: float) -> list[dict[str, Any]]:
    """The frozen-feature extractions the run makes, each with its cache status."""
    from transferkit.jobs.adapt.modes import PROJECTION_POINTS

    if cached_mode:
        sets = [("source", "train", data.source_train), ("source", "val", data.source_val),
                ("target", "train", data.target_train), ("target", "test", data.target_test)]
    else:  # end to end: only the before/after projection reads frozen features, of a sample
        rng = np.random.default_rng(0)  # the sample EndToEndMode.projection draws
        src, tgt = data.source_train, data.target_unlabelled
        i_s = np.sort(rng.choice(len(src), min(PROJECTION_POINTS, len(src)), replace=False))
        i_t = np.sort(rng.choice(len(tgt), min(PROJECTION_POINTS, len(tgt)), replace=False))
        sets = [("source", "train (projection sample)", src.subset(i_s)),
                ("target", "train (projection sample)", tgt.subset(i_t))]
    out = []
    for domain, split, d in sets:
        hit = _cached(backbone, d, cfg)
        out.append({"domain": domain, "split": split, "n": len(d), "cached": hit,
                    "estimated_s": 0.0 if hit else round(len(d) * per_example, 1)})
    return out


def _candidate_plans(cfg: AdaptConfig, data: AdaptData, mode: Any, model: Any, cached_mode: bool,
                     per_example: float) -> list[dict[str, Any]]:
    """Every candidate's training: its stages, epochs, steps and estimated seconds."""
    from transferkit.jobs.adapt.job import candidate_weights

    n_train = len(data.source_train) + len(data.shot_idx)
    bs = cfg.train.batch_size
    per_epoch = max(1, math.ceil(n_train / bs))
    stages = mode.stages(model)[0]
    n_ctx = min(MAX_CONTEXT, len(data.target_unlabelled))
    per_eval_examples = len(data.source_val) + n_ctx + len(data.target_test)
    weights = [] if cfg.method == SOURCE_ONLY else candidate_weights(cfg, lambda _m: None)
    tags = [(SOURCE_ONLY, 0.0)] + [(cfg.method if w is None else f"{cfg.method}-lambda-{w:g}", w)
                                   for w in weights]
    step_s = {aligns: _head_step_seconds(model, bs, aligns) for aligns in (False, True)} if cached_mode else {}
    plans = []
    for tag, weight in tags:
        aligns = tag != SOURCE_ONLY and mode.aligns
        stage_plans, seconds = [], 0.0
        for stage in stages:
            train = stage.train_config(cfg.train)
            steps = train.epochs * per_epoch
            if train.max_steps:
                steps = min(steps, train.max_steps)
            evals = math.ceil(steps / train.eval_every) if train.eval_every else train.epochs
            if cached_mode:
                s = steps * step_s[aligns]
            else:  # every step forwards and back-propagates raw source (and target) batches
                s = (steps * bs * (2 if aligns else 1) * STEP_FORWARDS * per_example
                     + evals * per_eval_examples * per_example)
            seconds += s
            stage_plans.append({"stage": stage.name, "epochs": train.epochs, "steps": steps,
                                "evaluations": evals, "estimated_s": round(s, 1)})
        plans.append({"candidate": tag, "weight": weight, "aligns": aligns,
                      "stages": stage_plans, "estimated_s": round(seconds, 1)})
    return plans


def plan_adapt(cfg: AdaptConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """The plan of ``adapt`` for ``cfg`` (nothing is trained or written); printed through ``log``.

    >>> plan = plan_adapt(resolve_adapt_config(source="printed-digits", target="digits"),
    ...                   print)  # doctest: +SKIP
    """
    from transferkit.jobs.adapt.data import load_data
    from transferkit.jobs.adapt.job import build_backbone, check_task
    from transferkit.jobs.adapt.modes import mode_class
    from transferkit.validation import build_validator

    t0 = time.perf_counter()
    data = load_data(cfg, log)
    check_task(cfg, data.task)
    backbone = data.task.prepare_backbone(build_backbone(cfg, data.source_train))
    # the mode of the run, never asked to train or write: run_dir None
    mode = mode_class(cfg)(cfg, data, backbone, build_validator(cfg.select), None, log)  # type: ignore[arg-type]
    cached_mode = mode.name != "end-to-end"
    model = mode.new_model(mode.candidate_backbone())
    per_example = forward_seconds(backbone, data.source_train)
    extractions = _extractions(cfg, data, backbone, cached_mode, per_example)
    candidates = _candidate_plans(cfg, data, mode, model, cached_mode, per_example)
    evaluate_s = 0.0 if cached_mode else round(len(data.target_test) * per_example * len(candidates), 1)
    feature_mb = sum(e["n"] for e in extractions) * backbone.feature_dim * 4 / 2**20
    plan = {
        "data": {"source": {"train": len(data.source_train), "val": len(data.source_val)},
                 "target": {"unlabelled": len(data.target_unlabelled),
                            "labelled": int(len(data.shot_idx)), "test": len(data.target_test)},
                 "classes": len(data.classes)},
        "task": data.task.name,
        # target labels: only the labelled shots train; the test labels are read once, to report
        "labels_used": {"train": len(data.source_train), "val": len(data.source_val),
                        "target": int(len(data.shot_idx))},
        "backbone": {"name": cfg.backbone.name, "feature_dim": backbone.feature_dim,
                     "forward_s_per_example": round(per_example, 5)},
        "method": cfg.method, "select": cfg.select, "mode": mode.name,
        "extractions": extractions, "candidates": candidates,
        **plan_totals(extractions, candidates, evaluate_s, feature_mb, t0),
    }
    _print(plan, log)
    return plan


def _print(plan: dict[str, Any], log: Callable[[str], None]) -> None:
    d = plan["data"]
    s, t = d["source"], d["target"]
    log(f"[bold]plan[/bold] read source {s['train']} train / {s['val']} val, target "
        f"{t['unlabelled']} unlabelled + {t['labelled']} labelled / {t['test']} test examples, "
        + (f"{d['classes']} classes" if d["classes"] else "numeric targets")
        + f"; labels used {plan['labels_used']} (target test labels: evaluation only)")
    log(f"  method {plan['method']}, {plan['mode']} mode, selection by {plan['select']} (label-free)")
    for e in plan["extractions"]:
        log(f"  extract features of {e['domain']} {e['split']} ({e['n']}): "
            + ("cached" if e["cached"] else f"about {e['estimated_s']} s"))
    for c in plan["candidates"]:
        steps = sum(st["steps"] for st in c["stages"])
        where = "on cached features" if plan["mode"] != "end-to-end" else "end to end on raw inputs"
        log(f"  train {c['candidate']}: {steps} steps {where}"
            + (" with target batches" if c["aligns"] else "") + f", about {c['estimated_s']} s")
    if plan["evaluation_s"]:
        log(f"  evaluate on the target test split: about {plan['evaluation_s']} s")
    m = plan["memory"]
    log(f"  about {plan['estimated_total_s']} s in all (from timed batches, "
        f"{plan['backbone']['forward_s_per_example'] * 1000:.2f} ms per example forward); peak memory "
        f"so far {m['peak_rss_mb_after_loading']:.0f} MB plus {m['features_mb']:.0f} MB of cached features")
    log("  nothing was trained or written (--dry-run)")


__all__ = ["plan_adapt"]
