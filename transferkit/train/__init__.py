"""The one training loop and what plugs into it.

:class:`Trainer` trains any model with parameter groups from a strategy and an optional
objective (alignment methods); see ``trainer.py``. Its parts live beside it:
``batches.py`` (which examples each process gets per epoch), ``checkpoint.py`` (atomic
checkpoints for exact resume), ``distributed.py`` (Accelerate and DDP), ``evaluation.py``,
``groups.py`` (the optimiser's parameter groups), ``progress.py`` (progress bar and
TensorBoard) and ``callbacks.py`` (:class:`Callback`, :class:`TrainResult`).

Helpers: :func:`set_train_mode` keeps frozen BatchNorm in eval mode, :class:`L2SP` and
:func:`class_weights` are the regularisers the default objective uses. :class:`RunDirLock`
(guards a run directory) and :class:`MetricsLog` live in :mod:`transferkit.rundir`; they
are re-exported here.
"""

from __future__ import annotations

from transferkit.rundir import MetricsLog, RunDirLock
from transferkit.train.batches import epoch_batches
from transferkit.train.callbacks import Callback, TrainResult
from transferkit.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from transferkit.train.modes import freeze_batchnorm, set_train_mode
from transferkit.train.regularizers import L2SP, CrossEntropyObjective, class_weights, dataset_labels
from transferkit.train.schedule import lr_factor
from transferkit.train.trainer import Trainer

__all__ = [
    "L2SP",
    "Callback",
    "CrossEntropyObjective",
    "MetricsLog",
    "RunDirLock",
    "TrainResult",
    "Trainer",
    "class_weights",
    "dataset_labels",
    "epoch_batches",
    "freeze_batchnorm",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "lr_factor",
    "set_train_mode",
]
