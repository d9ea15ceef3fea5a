"""The label budget of a fit: with ``--shots K`` the K labelled examples per class are all the
labels the run may read before its test split, validation included.

One rule per family of strategy, stated on the console and in ``summary.json``:

- a strategy that keeps the backbone frozen (``Strategy.frozen_backbone``: a head on cached
  features) has no validation split; the convex head's L2 strength, and anything else
  chosen on a frozen backbone (``--mapping auto``), is chosen by k-fold cross-validation
  on the shots;
- a frozen backbone whose head trains by SGD on cached multi-scale maps with a learning-rate
  grid of two rates or more (``Task.head_lr_grid``: segmentation's decoder) holds out
  validation as below, the grid's rate and the step being chosen on it (a single rate needs
  no validation: all the shots train, for the full step budget);
- end-to-end strategies (partial, full, gradual, LoRA ...) and ``auto`` hold out
  :data:`CARVE` of each class's shots (at least one) as validation, for early stopping and
  selection, and train on the rest (no refit on all shots afterwards).

``--max-val N`` keeps the old protocol (a validation set of up to N drawn outside the
shots, counted in ``labels_used``); ``data.shots_val`` sets the carved fraction. Without
``--shots`` a fraction of the user's data is the validation split, as always.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from transferkit.config import FitConfig

#: the fraction of each class's shots held out as validation for end-to-end training
CARVE = 0.2


def freezes_backbone(strategy: str) -> bool:
    """Whether the strategy named ``strategy`` never trains below the mapping (asks the
    entry; ``auto`` climbs to end-to-end rungs, so it does not)."""
    from transferkit.strategies import STRATEGIES

    if strategy not in STRATEGIES:
        return False
    return bool(getattr(STRATEGIES.get(strategy), "frozen_backbone", False))


def solves_on_features(task: str | None) -> bool:
    """Whether a frozen backbone's head is fitted on cached features (where k-fold CV on the
    shots chooses its regularisation), as the task declares (``Task.cached_inputs``; a
    segmentation or detection decoder trains on raw inputs by SGD instead). A task still to be
    inferred from the data is taken as the default kind, which caches."""
    from transferkit.tasks import TASKS

    return task is None or task not in TASKS or bool(TASKS.get(task).cached_inputs)


def chooses_head_lr(cfg: FitConfig) -> bool:
    """Whether a frozen backbone's head is trained on cached maps once per learning rate of a
    grid and chosen on validation (:meth:`Task.head_lr_grid` of the task as configured, of two
    rates or more: a single rate is used as it is and needs no validation)."""
    from transferkit.tasks import TASKS

    if cfg.task not in TASKS or not TASKS.get(cfg.task).cached_maps:
        return False
    return len(TASKS.build(cfg.task, dict(cfg.task_params)).head_lr_grid()) > 1


def step_budget(cfg: FitConfig) -> int:
    """The optimizer steps each stage of a task that trains on raw inputs runs at least
    (:meth:`Task.min_train_steps` of the task as configured); 0 for other tasks."""
    from transferkit.tasks import TASKS

    if solves_on_features(cfg.task):
        return 0
    return int(TASKS.build(cfg.task, dict(cfg.task_params)).min_train_steps())


def apply_label_budget(cfg: FitConfig, log: Callable[[str], None]) -> FitConfig:
    """``cfg`` with ``data.shots_val`` resolved by the rule above (unchanged without
    ``--shots`` or with ``--max-val``); the rule applied is logged."""
    d = cfg.data
    if d.shots is None:
        return cfg
    if d.max_val is not None:
        log(f"[bold]label budget[/bold] {d.shots} shots per class train; validation: up to {d.max_val} "
            "more labelled examples drawn outside the shots (--max-val given), counted in labels used")
        return cfg
    fraction = d.shots_val
    frozen = freezes_backbone(cfg.strategy)
    grid = frozen and chooses_head_lr(cfg)
    if fraction is None:
        fraction = 0.0 if frozen and not grid else CARVE
        given = ""
    else:
        given = " (data.shots_val)"
    if fraction <= 0:
        how = ("the head's regularisation (and --mapping auto) is chosen by k-fold cross-validation "
               "on the shots" if frozen and solves_on_features(cfg.task)
               else "every stage runs its full schedule, no early stopping"
               + (f" (at least {steps} optimizer steps each: the task's step budget, "
                  "task_params.min_steps)" if (steps := step_budget(cfg)) else ""))
        log(f"[bold]label budget[/bold] the --shots {d.shots} labels are all the labels{given}: no "
            f"validation split; {how} (--max-val N adds a validation set outside the shots)")
    else:
        log(f"[bold]label budget[/bold] {fraction:.0%} of the --shots {d.shots} labels (of each class's, "
            f"where there are classes; at least 1) held "
            f"out as validation{given} for "
            + ("choosing the decoder's learning rate (task_params.lr_grid) and step" if grid
               else "early stopping and selection")
            + ", the rest train, no refit (--max-val N draws validation outside the shots instead)")
    return dataclasses.replace(cfg, data=dataclasses.replace(d, shots_val=fraction))


def labels_line(labels_used: dict[str, Any]) -> str:
    """The console line of the labels a fit read: train + validation."""
    parts = {k: int(v) for k, v in labels_used.items() if isinstance(v, (int, float))}
    total = sum(parts.values())
    return (f"[bold]labels used[/bold] {total} ("
            + " + ".join(f"{v} {k}" for k, v in parts.items()) + ")")


__all__ = ["CARVE", "apply_label_budget", "chooses_head_lr", "freezes_backbone", "labels_line"]
