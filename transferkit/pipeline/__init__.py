"""The engine every job runs on.

- :mod:`~transferkit.pipeline.stages`: the stage runner (cached features / cached
  activations / raw inputs per stage), the feature dataset, the one batched predict loop,
  and the one place that decides where models and batches live.
- :mod:`~transferkit.pipeline.build`: backbone + mapping + the task's head, for a fresh
  fit and for a saved run.
- :mod:`~transferkit.pipeline.run`: ``Run`` (name, lock, config, weights + manifest,
  summary, report, runs index) and the typed ``Summary``.
- :mod:`~transferkit.pipeline.baselines`: evaluation of splits, baselines, transfer gain,
  warnings.
- :mod:`~transferkit.pipeline.fitting`: a configured strategy fitted and written (the body
  of ``fit`` and ``pretrain``).

Nothing here imports a job (``transferkit.jobs``).
"""

from __future__ import annotations

from transferkit.pipeline.baselines import (
    check_compare,
    data_warnings,
    evaluate_splits,
    judge,
    scratch_baseline,
    task_meta,
)
from transferkit.pipeline.build import (
    apply_pool_stages,
    build_backbone,
    build_model,
    new_model,
    rebuild_model,
    strategy_freezes_backbone,
)
from transferkit.pipeline.fitting import choose_task, fit_configured, task_splits, timings
from transferkit.pipeline.run import (
    Run,
    RunResult,
    Summary,
    default_run_name,
    is_main_process,
    plain_name,
    run_directory,
)
from transferkit.pipeline.stages import (
    FeatureDataset,
    StageRunner,
    can_split,
    frozen_stages,
    make_collate,
    map_batches,
    model_device,
    predict_features,
    predict_items,
    predict_outputs,
    stage_warnings,
    tensor_collate,
    to_device,
)


def console_log(msg: str) -> None:
    """Print a rich-markup progress line to stderr (main process only)."""
    if not is_main_process():
        return
    from rich.console import Console

    Console(stderr=True, highlight=False).print(msg)


__all__ = [
    "FeatureDataset", "Run", "RunResult", "StageRunner", "Summary", "apply_pool_stages",
    "build_backbone", "build_model", "can_split", "check_compare", "choose_task", "console_log",
    "data_warnings", "default_run_name", "evaluate_splits", "fit_configured", "frozen_stages",
    "is_main_process", "judge", "make_collate", "map_batches", "model_device", "new_model", "plain_name",
    "predict_features", "predict_items", "predict_outputs", "rebuild_model", "run_directory",
    "scratch_baseline", "stage_warnings", "strategy_freezes_backbone", "task_meta", "task_splits",
    "tensor_collate", "timings",
    "to_device",
]
