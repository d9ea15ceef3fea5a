"""What `adapt` is asked to do: :class:`AdaptConfig`, its front door and the method names."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transferkit.config import (
    BackboneConfig,
    DataConfig,
    FitConfig,
    Options,
    TrainConfig,
    configure,
    data_reference,
    option,
    to_dict,
)
from transferkit.errors import ConfigError
from transferkit.registry import did_you_mean

SOURCE_ONLY = "source-only"
# shallow method name in `adapt` -> name in transferkit.shallow.SHALLOW
SHALLOW_METHODS = {"coral-transform": "coral", "subspace": "subspace", "importance": "importance"}
DEFAULT_SWEEP = (0.1, 0.3, 1.0, 3.0)


def adapt_train_defaults() -> TrainConfig:
    """adapt's training loop: 10 epochs of batch 64 (the D1 benchmark's recipe, so the
    command a user types is the one measured; 20 epochs doubled the training time of the
    README's cdan command on 2 cores for no gain over source-only it could show), and no
    early stopping, because source-val accuracy says little about the target."""
    return TrainConfig(epochs=10, patience=None, batch_size=64, lr=1e-3)


@dataclass
class SourceDataConfig(Options):
    """The labelled source domain (``source.*``)."""

    data: str | None = option(None, "Labelled source dataset: a built-in name or a path (from "
                              "Python also a DataFrame, (X, y) arrays, a torch or Hugging Face "
                              "dataset).", flag="--source", convert=data_reference)
    domain: str | None = option(None, "Domain of a built-in source dataset with domains.",
                                flag="--source-domain")
    text_column: str | None = option(None, "Column holding the text (CSV/JSONL text data) in the "
                                     "source, and in the target unless target.text_column is set.",
                                     flag="--text-column")
    label_column: str | None = option(None, "Column holding the label (CSV/JSONL/Parquet) in the "
                                      "source, and in the target unless target.label_column is set.",
                                      flag="--label-column")
    label_separator: str | None = option(None, "Multi-label: the label column holds a set of labels "
                                         "joined by this separator (e.g. ';'), in the source and the "
                                         "target. Off by default.", flag="--label-separator")
    label_columns: list[str] = option(factory=list, help="Multi-label: several 0/1 columns, one per "
                                      "label (comma-separated names), in the source and the target.",
                                      flag="--label-columns")
    shots: int | None = option(None, "Keep this many labelled source examples per class "
                               "(None: all).", flag="--source-shots", ge=1)
    max_val: int | None = option(None, "Cap on the source validation examples (stratified).",
                                 flag="--max-val", ge=1)


@dataclass
class TargetDataConfig(Options):
    """The target domain (``target.*``): its training labels are never read, except for the
    ``shots`` labelled examples; its test labels only for the final evaluation."""

    data: str | None = option(None, "Target dataset (its labels are used only for the final "
                              "evaluation): a built-in name or a path (or a Python data object).",
                              flag="--target", convert=data_reference)
    domain: str | None = option(None, "Domain of a built-in target dataset with domains.",
                                flag="--target-domain")
    text_column: str | None = option(None, "Column holding the text in the target (None: "
                                     "source.text_column).")
    label_column: str | None = option(None, "Column holding the label in the target (None: "
                                      "source.label_column).")
    shots: int | None = option(None, "Add this many labelled target examples per class "
                               "to training.", flag="--target-shots", ge=1)
    max_train: int | None = option(None, "Cap on the unlabelled target training examples "
                                   "(a stratified sample). None: 2,000 (said on the console); give "
                                   "a larger number to use more.", flag="--max-target", ge=1)
    max_test: int | None = option(None, "Cap on the target test examples (the first N).",
                                  flag="--max-test", ge=1)


@dataclass
class AdaptConfig(Options):
    """Everything `transferkit adapt` needs; a YAML file mirrors these keys."""

    source: SourceDataConfig = option(factory=SourceDataConfig, help="The labelled source domain.")
    target: TargetDataConfig = option(factory=TargetDataConfig, help="The target domain.")
    task: str | None = option(None, "What is predicted (see `transferkit list tasks`); None: "
                              "inferred from the source labels (numbers: regression).",
                              flag="--task")
    task_params: dict[str, Any] = option(factory=dict, help="Parameters of the task (its config "
                                         "keys, e.g. task_params.target_transform=log1p for "
                                         "regression).")
    method: str = option("cdan", "Adaptation method: an alignment loss (see `transferkit list "
                         "alignments`), a shallow method (coral-transform, subspace, importance), "
                         "or source-only.", flag="--method")
    method_params: dict[str, Any] = option(factory=dict, help="Options of the method (its config "
                                           "keys, e.g. max_lambda for dann/cdan).")
    weight: float | None = option(None, "Trade-off lambda of the alignment loss (None: the "
                                  "method's default).", flag="--weight", ge=0)
    select: str = option("snd", "Label-free validator that picks the checkpoint (and the "
                         "lambda with --sweep).", flag="--select")
    source_tolerance: float = option(0.05, "A checkpoint (or lambda) is eligible for selection only "
                                     "if its source-validation accuracy is within this of the best "
                                     "seen (0.05 = 5 points): validators alone favour the soft "
                                     "predictions of under-trained early checkpoints. 1 disables it.",
                                     ge=0, le=1)
    sweep: bool = option(False, "Try every lambda of sweep_weights and keep the validator's "
                         "choice.", flag="--sweep")
    sweep_weights: list[float] = option(factory=lambda: list(DEFAULT_SWEEP),
                                        help="The lambdas --sweep tries.", gt=0)
    seed: int = option(0, "Seed for sampling and training.", flag="--seed")
    split_seed: int = option(0, "Seed of the train/val/test splits (keep it fixed).")
    backbone: BackboneConfig = option(factory=BackboneConfig, help="Backbone.")
    strategy: str = option("linear-probe", "What trains: linear-probe trains the mapping and "
                           "head on cached features (fast); full, partial, ... fine-tune the "
                           "backbone on raw inputs.", flag="--strategy")
    strategy_params: dict[str, Any] = option(factory=dict, help="Parameters of the strategy.")
    mapping: str = option("mlp", "Feature mapping phi that the alignment acts on.",
                          flag="--mapping")
    train: TrainConfig = option(factory=adapt_train_defaults, help="Training loop.")
    out: str | None = option(None, "Run directory (default runs/<name>).", flag="--out")
    name: str | None = option(None, "Run name (default from source, target, method and time).",
                              flag="--name")
    cache_dir: str | None = option(None, "Feature cache directory.", flag="--cache-dir")
    match_resolution: bool | None = option(None, "Image domains only: downsample the domain with "
                                           "the larger native image size to the other's (area "
                                           "averaging, PIL BOX) before the backbone, so resolution "
                                           "is not part of the shift (e.g. 28x28 printed digits -> "
                                           "8x8 like the target). None (auto): on when both domains "
                                           "are images of different native sizes, and the console "
                                           "says so; false: off.", flag="--match-resolution")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sweep_weights:
            raise ConfigError("The 'sweep_weights' parameter of adapt must be a non-empty list of "
                              "numbers > 0. Got [] instead.")

    def data_config(self, which: str) -> DataConfig:
        """The DataConfig that loads the ``source`` or ``target`` splits (the target's
        labelled shots are drawn by adapt from its train split, not here)."""
        s, t = self.source, self.target
        if which == "source":
            return DataConfig(data=s.data, domain=s.domain, text_column=s.text_column,
                              label_column=s.label_column, label_separator=s.label_separator,
                              label_columns=list(s.label_columns), shots=s.shots, seed=self.seed,
                              split_seed=self.split_seed, max_val=s.max_val)
        return DataConfig(data=t.data, domain=t.domain,
                          text_column=s.text_column if t.text_column is None else t.text_column,
                          label_column=s.label_column if t.label_column is None else t.label_column,
                          label_separator=s.label_separator, label_columns=list(s.label_columns),
                          seed=self.seed, split_seed=self.split_seed, max_test=t.max_test)

    def fit_config(self, mapping: str | None = None) -> FitConfig:
        """The FitConfig a saved run records (backbone, mapping, training, source data)."""
        return FitConfig(data=self.data_config("source"), backbone=self.backbone, task=self.task,
                         task_params=dict(self.task_params),
                         strategy=self.strategy, strategy_params=dict(self.strategy_params),
                         mapping=mapping or self.mapping, train=self.train, out=self.out,
                         name=self.name, cache_dir=self.cache_dir)


#: adapt's old flat keys (before the source and target sections) -> their keys now
RENAMED = {
    "source_domain": "source.domain", "target_domain": "target.domain",
    "source_shots": "source.shots", "target_shots": "target.shots",
    "max_target": "target.max_train", "max_test": "target.max_test", "max_val": "source.max_val",
    "text_column": "source.text_column", "label_column": "source.label_column",
}
SHORTCUTS = {"epochs": "train.epochs", "lr": "train.lr", "batch_size": "train.batch_size",
             "max_steps": "train.max_steps", "eval_every": "train.eval_every", "device": "train.device",
             "mixed_precision": "train.mixed_precision", "grad_accum": "train.grad_accum",
             "image_size": "backbone.image_size", "backbone_weights": "backbone.weights"}


def current_key(key: str, value: Any) -> str:
    """``key`` as adapt names it now.

    A dataset name given for ``source`` or ``target`` is the shorthand for ``source.data``
    / ``target.data`` (as ``backbone="name"`` is for ``backbone.name``; the README's
    ``adapt(source="printed-digits", target="digits")`` stays the plain way to call it).
    An old flat key (``source_shots``) becomes its dotted key (``source.shots``), with a
    FutureWarning that names both.
    """
    if key in ("source", "target"):
        return key if isinstance(value, Mapping) else f"{key}.data"
    new = RENAMED.get(key)
    if new is None:
        return key
    section, field_name = new.split(".")
    warnings.warn(f"adapt's key '{key}' is now '{new}' (YAML: {section}: {{{field_name}: ...}}; "
                  f"--set {new}=...); the old name still works for now and will be removed.",
                  FutureWarning, stacklevel=2)
    return new


def _keyword_values(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments as dotted keys: shortcuts expanded, a backbone name, the source and
    target sections given as mappings or configs (old keys are renamed by ``configure``)."""
    from transferkit.options import to_flat

    flat: dict[str, Any] = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        if key == "backbone" and isinstance(value, str):
            key = "backbone.name"
        if key in ("source", "target") and isinstance(value, (SourceDataConfig, TargetDataConfig)):
            value = to_dict(value)
        data_dict = isinstance(value, Mapping) and bool(value) and all(  # a DatasetDict is data
            hasattr(v, "to_pandas") for v in value.values())
        if key in ("source", "target") and isinstance(value, Mapping) and not data_dict:
            flat.update(to_flat(dict(value), f"{key}."))
            continue
        if key in ("source", "target") and data_dict:
            key = f"{key}.data"
        flat[SHORTCUTS.get(key, key)] = value
    return flat


def resolve_adapt_config(config: AdaptConfig | str | Path | None = None,
                         overrides: Sequence[str] = (), **kwargs: Any) -> AdaptConfig:
    """An AdaptConfig from a config object or YAML path, keyword arguments and overrides.

    Keyword arguments are AdaptConfig keys (``source`` and ``target`` take a dataset name,
    a mapping of their section's keys or a section config; dotted keys such as
    ``**{"target.shots": 5}`` work too), plus the shortcuts ``epochs``, ``lr``,
    ``batch_size``, ``max_steps``, ``eval_every`` (train) and ``image_size``,
    ``backbone_weights`` (backbone); ``backbone`` may be a name. adapt's old flat keys
    (``source_shots``, ``max_target``, ... see :data:`RENAMED`) are accepted from YAML,
    keywords and ``overrides``, with a FutureWarning. Precedence: defaults < YAML <
    keywords < ``overrides``.

    >>> cfg = resolve_adapt_config(source="printed-digits", target="digits",
    ...                            overrides=["target.shots=5"])
    >>> cfg.source.data, cfg.target.shots
    ('printed-digits', 5)
    """
    # adapt's training defaults (no early stopping on source-val accuracy, batch 64) stay in
    # force when only some train.* keys are given; a YAML file's keys override them
    defaults = None if isinstance(config, AdaptConfig) else {
        f"train.{k}": v for k, v in to_dict(adapt_train_defaults()).items()}
    return configure(AdaptConfig, config, overrides, defaults=defaults, rename=current_key,
                     **_keyword_values(kwargs))


# ----------------------------------------------------------------------------- names


def method_names() -> list[str]:
    """Every method ``adapt`` accepts: alignment losses, shallow methods, source-only."""
    from transferkit.alignment import ALIGNMENTS

    return sorted([*ALIGNMENTS.names(), *SHALLOW_METHODS, SOURCE_ONLY])


def check_method(name: str) -> str:
    """``name`` resolved to a method (alignment aliases allowed) or a ConfigError."""
    from transferkit.alignment import ALIGNMENTS

    if name in SHALLOW_METHODS or name == SOURCE_ONLY:
        return name
    if name in ALIGNMENTS:
        return ALIGNMENTS.entry(name).name
    names = method_names()
    hint = (" The CORAL feature transform (shallow) is 'coral-transform'; Deep CORAL is 'coral'."
            if "coral" in name else "")
    raise ConfigError(f"Unknown adaptation method '{name}'.{did_you_mean(name, names)} "
                      f"Available: {', '.join(names)}.{hint}")


def check_validator(name: str) -> str:
    """``name`` if it is a registered validator, else a ConfigError listing them."""
    from transferkit.validation import VALIDATORS

    if name in VALIDATORS:
        return VALIDATORS.entry(name).name
    names = VALIDATORS.names()
    raise ConfigError(f"Unknown validator '{name}' for --select.{did_you_mean(name, names)} "
                      f"Available: {', '.join(names)}. Validators never read target labels.")
