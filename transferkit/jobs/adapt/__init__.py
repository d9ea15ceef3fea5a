"""Unsupervised domain adaptation: ``adapt`` a source-trained model to an unlabelled target.

The source is labelled (its train and val splits); the target trains without labels
(``target.without_labels()`` of its train split), optionally with ``target.shots``
labelled examples per class. Everything runs through the ONE training loop
(:class:`~transferkit.train.Trainer`), in one of three modes (:mod:`.modes`):

- the fast default trains a mapping φ (an ``mlp`` bottleneck) and the head on cached
  frozen backbone features with ``L(source) + λ · alignment(φ(f_s), φ(f_t), logits)``
  (``L``: the task's loss, cross-entropy for classes);
  the alignment loss lives in the objective (:mod:`.objective`; its discriminator trains
  with it);
- ``strategy='full'`` / ``'partial'`` / ... fine-tune the backbone end to end on raw
  inputs with the same objective;
- shallow methods (``coral-transform``, ``subspace``, ``importance``) adapt the cached
  features in closed form and train the head on them (importance weights weigh the
  source examples' cross-entropy).

Model selection never reads target labels (:mod:`.selection`): a callback scores every
evaluation with a label-free validator (``snd``, ``entropy``, ``dev``) and keeps the best
checkpoint; ``sweep=True`` tries the trade-off weights ``sweep_weights`` and keeps the
validator's choice. A ``source-only`` model (same everything, λ = 0) is always trained
beside it. Target test labels are used once at the end, for the reported figures and for
the oracle (best checkpoint by target test accuracy), which is marked as such.

The task comes from the source labels (or ``task=``): for regression the source loss is
the task's (MSE/Huber on standardised targets), checkpoints and lambdas are compared on
source-validation R²; for label sets (``source.label_separator`` / ``label_columns``) it is
binary cross-entropy, they are compared on source-validation micro-F1, and the per-label
thresholds are chosen on the source validation split. For both, the methods and validators
that read class probabilities (``cdan``, ``mcc``, ``entropy``; ``snd``, ``entropy``)
refuse, naming the ones that work.

>>> run = adapt(source="printed-digits", target="digits", method="cdan",
...             select="snd")  # doctest: +SKIP
>>> run.summary["metrics"]["test"]["accuracy"], run.summary["baselines"]["source_only"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

# The config names load eagerly (the CLI builds its parser from them without torch); the
# rest on first use.
from transferkit.jobs.adapt.config import (
    DEFAULT_SWEEP,
    RENAMED,
    SHALLOW_METHODS,
    SOURCE_ONLY,
    AdaptConfig,
    SourceDataConfig,
    TargetDataConfig,
    adapt_train_defaults,
    check_method,
    check_validator,
    method_names,
    resolve_adapt_config,
)

_LAZY = {
    "data": ("AdaptData", "load_data", "match_resolution", "native_size", "resample_images"),
    "job": ("adapt",),
    "modes": ("AdaptMode", "CachedFeaturesMode", "EndToEndMode", "ShallowMode", "mode_class"),
    "objective": ("AdaptObjective",),
    "plan": ("plan_adapt",),
    "selection": ("ValidatorSelection", "Views", "make_context", "select_eligible"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_SWEEP",
    "RENAMED",
    "SHALLOW_METHODS",
    "SOURCE_ONLY",
    "AdaptConfig",
    "AdaptData",
    "AdaptMode",
    "AdaptObjective",
    "CachedFeaturesMode",
    "EndToEndMode",
    "ShallowMode",
    "SourceDataConfig",
    "TargetDataConfig",
    "ValidatorSelection",
    "Views",
    "adapt",
    "adapt_train_defaults",
    "check_method",
    "check_validator",
    "load_data",
    "make_context",
    "match_resolution",
    "method_names",
    "mode_class",
    "native_size",
    "plan_adapt",
    "resample_images",
    "resolve_adapt_config",
    "select_eligible",
]
