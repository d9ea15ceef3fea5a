"""Tasks: what is predicted and how it is judged, one file each.

``TASKS`` holds every task; ``--task NAME`` (``task=`` in Python) chooses one, and
:func:`infer_task` chooses one from the labels when none is given::

    >>> from transferkit.tasks import TASKS, get_task
    >>> get_task("classification").selection_metric
    'accuracy'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.errors import ConfigError
from transferkit.registry import Registry
from transferkit.tasks._base import Accumulator, Task

TASKS: Registry[type[Task]] = Registry("task", package="transferkit.tasks", params_key="task_params")

#: the task of run directories written before tasks existed (transferkit 0.1.0)
DEFAULT_TASK = "classification"


def get_task(name: str | None = None, config: Any = None) -> Task:
    """An instance of the task registered as ``name`` (default: classification)."""
    return TASKS.build(name or DEFAULT_TASK, config)


def infer_task(data: Any) -> tuple[str, str]:
    """The task for a labelled dataset without ``--task``, and the reason, by one rule:
    the label values (the class names, as numbers where they all are) are checked with
    scikit-learn's ``type_of_target`` and a threshold on distinct integer values; each
    registered task says whether it takes them (``Task.matches``), in registry order with
    classification first: names and integers with at most 50 distinct values are classes,
    other numbers (non-integers, or more distinct integers) are values for regression.
    Label sets (a multi-hot matrix, read with ``--label-separator`` / ``--label-columns``)
    go to the task whose targets are ``"label_sets"``, masks to the one whose are ``"masks"``.
    """
    if getattr(data, "per_token", False):  # tags per word: the task that takes them
        for name in TASKS.names():
            if TASKS.get(name).targets == "tags":
                return name, "each word has a tag (a token-classification file or built-in)"
    if getattr(data, "boxes", False):  # boxes per image: the task that takes them
        for name in TASKS.names():
            if TASKS.get(name).targets == "boxes":
                return name, "each image has boxes (COCO or YOLO annotations)"
    stored = getattr(data, "has_values", False)  # targets already stored as numbers
    values = np.unique(data.y) if stored else np.asarray(list(data.classes), dtype=object)
    sets = bool(getattr(data, "multi_label", False))  # label sets: only a task that takes them
    dense = bool(getattr(data, "dense", False))  # masks: only a task that takes them
    order = [DEFAULT_TASK] + [n for n in TASKS.names() if n != DEFAULT_TASK]
    reasons = []
    for name in order:
        if dense or TASKS.get(name).targets == "masks":
            if (TASKS.get(name).targets == "masks") == dense:
                return name, "each example has a mask (a class per pixel)"
            reasons.append(f"{name}: " + ("the labels are masks" if dense else "it takes masks"))
            continue
        if (TASKS.get(name).targets == "label_sets") != sets:
            reasons.append(f"{name}: " + ("the labels are sets, and it takes one label per example"
                                          if sets else "it takes label sets (--label-separator or "
                                          "--label-columns), and each example has one label"))
            continue
        if sets:
            return name, (f"each example has a set of labels ({len(data.classes)} distinct labels, "
                          "read with --label-separator / --label-columns or from a multi-label "
                          "built-in)")
        try:
            ok, why = TASKS.get(name).matches(values)
        except ValueError as exc:  # e.g. an infinite number among the labels
            ok, why = False, f"its rule cannot read the labels ({exc})"
        if ok:
            return name, why
        reasons.append(f"{name}: {why}")
    raise ConfigError(
        f"No task fits the labels of '{getattr(data, 'name', 'the data')}' ({'; '.join(reasons)}). "
        f"Pass --task NAME (available: {', '.join(TASKS.names())}) -- e.g. --task classification "
        "to treat each distinct value as a class.")


__all__ = ["TASKS", "DEFAULT_TASK", "Accumulator", "Task", "get_task", "infer_task"]
