"""Unsupervised domain adaptation: ``adapt`` a source-trained model to an unlabelled target.

The source is labelled (its train and val splits); the target trains without labels
(``target.without_labels()`` of its train split), optionally with ``target_shots``
labelled examples per class. Everything runs through the ONE training loop
(:class:`~transferkit.train.Trainer`):

- the fast default trains a mapping φ (an ``mlp`` bottleneck) and the head on cached
  frozen backbone features with ``CE(source) + λ · alignment(φ(f_s), φ(f_t), logits)``;
  the alignment loss lives in the objective module (its discriminator trains with it);
- ``strategy='full'`` / ``'partial'`` / ... fine-tune the backbone end to end on raw
  inputs with the same objective;
- shallow methods (``coral-transform``, ``subspace``, ``importance``) adapt the cached
  features in closed form and train the head on them (importance weights weigh the
  source examples' cross-entropy).

Model selection never reads target labels: a callback scores every evaluation with a
label-free validator (``snd``, ``entropy``, ``dev``) and keeps the best checkpoint;
``sweep=True`` tries the trade-off weights ``sweep_weights`` and keeps the validator's
choice. A ``source-only`` model (same everything, λ = 0) is always trained beside it.
Target test labels are used once at the end, for the reported figures and for the
oracle (best checkpoint by target test accuracy), which is marked as such.

>>> run = adapt(source="printed-digits", target="digits", method="cdan",
...             select="snd")  # doctest: +SKIP
>>> run.summary["metrics"]["test"]["accuracy"], run.summary["baselines"]["source_only"]  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from transferkit import __version__
from transferkit.config import (
    BackboneConfig,
    DataConfig,
    FitConfig,
    TrainConfig,
    from_dict,
    load_config,
    option,
    to_dict,
)
from transferkit.errors import ConfigError, DataError
from transferkit.model import TransferModel
from transferkit.pipeline import RunResult, make_collate
from transferkit.pipeline import console_log as _log
from transferkit.registry import did_you_mean
from transferkit.rundir import CONFIG
from transferkit.tasks.classification import classification_metrics, majority_baseline
from transferkit.train import Callback, Trainer

SOURCE_ONLY = "source-only"
# shallow method name in `adapt` -> name in transferkit.shallow.SHALLOW
SHALLOW_METHODS = {"coral-transform": "coral", "subspace": "subspace", "importance": "importance"}
DEFAULT_SWEEP = (0.1, 0.3, 1.0, 3.0)
PROJECTION = "projection.npz"
PROJECTION_POINTS = 500
MAX_CONTEXT = 2000  # target examples the validator sees (SND is quadratic in them)


def _adapt_train() -> TrainConfig:
    # Source-val accuracy says little about the target: no early stopping on it by default.
    return TrainConfig(epochs=20, patience=None, batch_size=64, lr=1e-3)


@dataclass
class AdaptConfig:
    """Everything `transferkit adapt` needs; a YAML file mirrors these keys."""

    source: str | None = option(None, "Labelled source dataset: a built-in name or a path.",
                                flag="--source")
    target: str | None = option(None, "Target dataset (its labels are used only for the final "
                                "evaluation): a built-in name or a path.", flag="--target")
    source_domain: str | None = option(None, "Domain of a built-in source dataset with domains.",
                                       flag="--source-domain")
    target_domain: str | None = option(None, "Domain of a built-in target dataset with domains.",
                                       flag="--target-domain")
    text_column: str | None = option(None, "Column holding the text (CSV/JSONL text data).",
                                     flag="--text-column")
    label_column: str | None = option(None, "Column holding the label (CSV/JSONL/Parquet).",
                                      flag="--label-column")
    method: str = option("cdan", "Adaptation method: an alignment loss (see `transferkit adapt "
                         "--help`), a shallow method (coral-transform, subspace, importance), "
                         "or source-only.", flag="--method")
    method_params: dict[str, Any] = option(factory=dict, help="Options of the method (its config "
                                           "keys, e.g. max_lambda for dann/cdan).")
    weight: float | None = option(None, "Trade-off lambda of the alignment loss (None: the "
                                  "method's default).", flag="--weight")
    select: str = option("snd", "Label-free validator that picks the checkpoint (and the "
                         "lambda with --sweep).", flag="--select")
    source_tolerance: float = option(0.05, "A checkpoint (or lambda) is eligible for selection only "
                                     "if its source-validation accuracy is within this of the best "
                                     "seen (0.05 = 5 points): validators alone favour the soft "
                                     "predictions of under-trained early checkpoints. 1 disables it.")
    sweep: bool = option(False, "Try every lambda of sweep_weights and keep the validator's "
                         "choice.", flag="--sweep")
    sweep_weights: list[float] = option(factory=lambda: list(DEFAULT_SWEEP),
                                        help="The lambdas --sweep tries.")
    target_shots: int | None = option(None, "Add this many labelled target examples per class "
                                      "to training.", flag="--target-shots")
    source_shots: int | None = option(None, "Keep this many labelled source examples per class "
                                      "(None: all).", flag="--source-shots")
    max_target: int | None = option(None, "Cap on the unlabelled target training examples.",
                                    flag="--max-target")
    max_test: int | None = option(None, "Cap on the target test examples (the first N).",
                                  flag="--max-test")
    max_val: int | None = option(None, "Cap on the source validation examples (stratified).",
                                 flag="--max-val")
    seed: int = option(0, "Seed for sampling and training.", flag="--seed")
    split_seed: int = option(0, "Seed of the train/val/test splits (keep it fixed).")
    backbone: BackboneConfig = option(factory=BackboneConfig, help="Backbone.")
    strategy: str = option("linear-probe", "What trains: linear-probe trains the mapping and "
                           "head on cached features (fast); full, partial, ... fine-tune the "
                           "backbone on raw inputs.", flag="--strategy")
    strategy_params: dict[str, Any] = option(factory=dict, help="Parameters of the strategy.")
    mapping: str = option("mlp", "Feature mapping phi that the alignment acts on.",
                          flag="--mapping")
    train: TrainConfig = option(factory=_adapt_train, help="Training loop.")
    out: str | None = option(None, "Run directory (default runs/<name>).", flag="--out")
    name: str | None = option(None, "Run name (default from source, target, method and time).",
                              flag="--name")
    cache_dir: str | None = option(None, "Feature cache directory.", flag="--cache-dir")
    match_resolution: bool = option(False, "Image domains only: downsample the domain with the "
                                    "larger native image size to the other's (area averaging, "
                                    "PIL BOX) before the backbone, so resolution is not part of "
                                    "the shift (e.g. 28x28 printed digits -> 8x8 like the target).",
                                    flag="--match-resolution")

    def __post_init__(self) -> None:
        for pname in ("target_shots", "source_shots", "max_target", "max_test", "max_val"):
            value = getattr(self, pname)
            if value is not None and value < 1:
                raise ConfigError(f"The '{pname}' parameter of adapt must be an int >= 1 or None. "
                                  f"Got {value} instead.")
        if not (isinstance(self.source_tolerance, (int, float)) and 0 <= self.source_tolerance <= 1):
            raise ConfigError(f"The 'source_tolerance' parameter of adapt must be a number in [0, 1] "
                              f"(a fraction of source-validation accuracy). Got {self.source_tolerance!r} "
                              "instead.")
        if self.weight is not None and not (np.isfinite(self.weight) and self.weight >= 0):
            raise ConfigError(f"The 'weight' parameter of adapt must be a finite number >= 0. "
                              f"Got {self.weight} instead.")
        if not self.sweep_weights or any(not (np.isfinite(w) and w > 0) for w in self.sweep_weights):
            raise ConfigError(f"The 'sweep_weights' parameter of adapt must be a non-empty list of "
                              f"numbers > 0. Got {self.sweep_weights} instead.")

    def data_config(self, which: str) -> DataConfig:
        """The DataConfig of the ``source`` or ``target`` side."""
        is_source = which == "source"
        return DataConfig(
            data=self.source if is_source else self.target,
            domain=self.source_domain if is_source else self.target_domain,
            text_column=self.text_column, label_column=self.label_column,
            shots=self.source_shots if is_source else None, seed=self.seed,
            split_seed=self.split_seed, max_test=None if is_source else self.max_test,
            max_val=self.max_val if is_source else None,
        )

    def fit_config(self, mapping: str | None = None) -> FitConfig:
        """The FitConfig a saved run records (backbone, mapping, training, source data)."""
        return FitConfig(data=self.data_config("source"), backbone=self.backbone,
                         strategy=self.strategy, strategy_params=dict(self.strategy_params),
                         mapping=mapping or self.mapping, train=self.train, out=self.out,
                         name=self.name, cache_dir=self.cache_dir)


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


# ----------------------------------------------------------------------------- data


class _Arrays(torch.utils.data.Dataset):
    """(features, label, sample weight) rows over arrays; labels -1 when unlabelled."""

    def __init__(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> None:
        self.x = x
        self.y = np.asarray(y, dtype=np.int64)
        self.w = np.ones(len(self.y), np.float32) if w is None else np.asarray(w, np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int, float]:
        return self.x[i], int(self.y[i]), float(self.w[i])


def _collate_arrays(items: list[tuple[Any, int, float]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.stack([np.asarray(a, dtype=np.float32) for a, _, _ in items]))
    return x, torch.tensor([y for _, y, _ in items]), torch.tensor([w for _, _, w in items])


def _collate_arrays_eval(items: list[tuple[Any, int, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _ = _collate_arrays(items)
    return x, y


class _Weighted(torch.utils.data.Dataset):
    """A raw TransferDataset with a sample weight per example."""

    def __init__(self, data: Any, w: np.ndarray | None = None) -> None:
        self.data = data
        self.w = np.ones(len(data), np.float32) if w is None else np.asarray(w, np.float32)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Any, int, float]:
        x, y = self.data[i]
        return x, y, float(self.w[i])


def _raw_collate(backbone: Any) -> Callable[[list], tuple[Any, torch.Tensor, torch.Tensor]]:
    def collate(items: list) -> tuple[Any, torch.Tensor, torch.Tensor]:
        return (backbone.collate([x for x, _, _ in items]), torch.tensor([y for _, y, _ in items]),
                torch.tensor([w for _, _, w in items]))

    return collate


def _stratified_take(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` indices, classes in proportion, fixed by ``seed`` (kept in order)."""
    if n >= len(y):
        return np.arange(len(y))
    from transferkit.data.splits import stratified_cap

    return np.sort(np.asarray(stratified_cap(y, n, seed), dtype=np.int64))


def _sample_shots(y: np.ndarray, k: int, seed: int, classes: list[str]) -> np.ndarray:
    from transferkit.data.splits import sample_shots

    return np.asarray(sample_shots(y, k, seed, classes), dtype=np.int64)


def _align_target_classes(source: Any, target: Any, which: str) -> Any:
    if list(target.classes) == list(source.classes):
        return target
    missing = sorted(set(target.classes) - set(source.classes))
    if missing:
        raise DataError(f"The target's {which} split has classes {missing} that the source does "
                        f"not have ({list(source.classes)}). adapt needs the same label set in "
                        "both domains.")
    lookup = np.array([list(source.classes).index(c) for c in target.classes], dtype=np.int64)
    import dataclasses

    return dataclasses.replace(target, y=np.where(target.y >= 0, lookup[np.maximum(target.y, 0)], -1),
                               classes=list(source.classes), meta=dict(target.meta),
                               skipped=list(target.skipped))


# ----------------------------------------------------------------------------- resolution


def native_size(data: Any, sample: int = 256) -> tuple[int, int]:
    """The (median) native ``(H, W)`` of an image dataset's inputs (a sample of up to ``sample``)."""
    x = data.x
    if isinstance(x, np.ndarray) and x.dtype != object and x.ndim in (3, 4):
        return int(x.shape[1]), int(x.shape[2])
    if len(data) == 0:
        raise DataError(f"Dataset '{data.name}' ({data.split}) is empty; it has no image size.")
    idx = np.linspace(0, len(data) - 1, min(sample, len(data))).astype(np.int64)
    sizes = np.array([np.asarray(data.input(int(i))).shape[:2] for i in idx])
    h, w = np.median(sizes, axis=0)
    return int(h), int(w)


def resample_images(data: Any, size: tuple[int, int]) -> Any:
    """``data`` with every image resampled to ``size = (H, W)`` by area averaging (PIL BOX).

    BOX averages the source pixels each output pixel covers, the anti-aliased way to
    downsample (no new detail is invented). Inputs are uint8 ``(H, W)`` grey or
    ``(H, W, C)`` colour arrays (or image files); the dataset on disk is never changed.
    """
    import dataclasses

    from PIL import Image

    h, w = size
    out = []
    for i in range(len(data)):
        a = np.asarray(data.input(i))
        if a.dtype != np.uint8:
            from transferkit.data.images import _to_uint8

            a = _to_uint8(a)
        if a.shape[:2] == (h, w):
            out.append(a)
            continue
        img = Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a)
        out.append(np.asarray(img.resize((w, h), Image.BOX)))
    x: Any = np.stack(out) if len({a.shape for a in out}) == 1 else out
    meta = {**data.meta, "resampled_to": [h, w]}
    return dataclasses.replace(data, x=x, y=data.y.copy(), meta=meta, skipped=list(data.skipped))


def match_resolution(source: Any, target: Any) -> tuple[tuple[int, int], str | None]:
    """The common size of two image domains and which one to resample (None: already equal).

    The domain whose native images have more pixels is downsampled to the other's size:
    upsampling cannot add the detail the low-resolution domain lacks, downsampling
    removes the detail that only one domain has (the usual MNIST <-> USPS preprocessing).
    """
    hs, ws = native_size(source)
    ht, wt = native_size(target)
    if (hs, ws) == (ht, wt):
        return (hs, ws), None
    return ((ht, wt), "source") if hs * ws > ht * wt else ((hs, ws), "target")


# ----------------------------------------------------------------------------- objective


class AdaptObjective(nn.Module):
    """``L = sum_i w_i CE(h(φ(x_i^s)), y_i^s) / sum_i w_i + λ · A(φ(x^s), φ(x^t), logits)``.

    ``embed(model, inputs) -> (B, D)`` gives the features the alignment acts on (after φ),
    ``head(model, f) -> (B, K)`` the logits. ``alignment`` is an
    :class:`~transferkit.alignment.AlignmentLoss` (it carries λ as its ``weight``), or None
    for the source-only model. Batches are ``(x, y, w)`` or, with target data,
    ``((x_s, y_s, w_s), (x_t, y_t, w_t))``; target labels are never read.
    """

    def __init__(self, alignment: nn.Module | None, embed: Callable[[nn.Module, Any], torch.Tensor],
                 head: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.alignment = alignment
        self.embed = embed
        self.head = head
        self.total_steps = 1

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        has_target = isinstance(batch[0], (tuple, list))
        x_s, y_s, w_s = batch[0] if has_target else batch
        f_s = self.embed(model, x_s)  # (B_s, D)
        logits_s = self.head(model, f_s)  # (B_s, K)
        ce = F.cross_entropy(logits_s.float(), y_s, reduction="none")  # (B_s,)
        w_s = w_s.to(ce.dtype)
        loss = (w_s * ce).sum() / w_s.sum().clamp_min(1e-12)
        logs = {"ce": float(loss.detach())}
        if self.alignment is None or not has_target:
            return loss, logs
        x_t = batch[1][0]
        f_t = self.embed(model, x_t)  # (B_t, D)
        logits_t = self.head(model, f_t) if getattr(self.alignment, "needs_logits", False) else None
        self.alignment.set_progress(min(1.0, step / max(1, self.total_steps)))
        align = self.alignment(f_s.float(), f_t.float(),
                               logits_s.float() if logits_t is not None else None,
                               logits_t.float() if logits_t is not None else None)
        logs["align"] = float(align.detach())
        return loss + align, logs


# ----------------------------------------------------------------------------- selection


@dataclass
class _Views:
    """How to run a model on the three evaluation sets (source val, target train, target test)."""

    embed_eval: Callable[[nn.Module, str], tuple[np.ndarray, np.ndarray]]  # set -> (f, logits)
    y_source_val: np.ndarray


def make_context(f_s: np.ndarray, logits_s: np.ndarray, y_s: np.ndarray, f_t: np.ndarray,
                 logits_t: np.ndarray) -> Any:
    """A :class:`~transferkit.validation.ValidationContext`: source-val features, logits and
    labels, target features and logits (the context has no field for target labels)."""
    from transferkit.validation import ValidationContext

    return ValidationContext(logits_t=logits_t, features_t=f_t, features_s=f_s, logits_s=logits_s,
                             labels_s=np.asarray(y_s, dtype=np.int64))


T = TypeVar("T")


def select_eligible(items: Sequence[T], key: Callable[[T], tuple[float, float]], tolerance: float) -> T | None:
    """The item with the best validator score among those whose source-validation accuracy
    is within ``tolerance`` of the best accuracy; ``key(item) = (source accuracy, score)``.
    Ties in score go to the higher source accuracy. None for no items."""
    if not items:
        return None
    top = max(key(i)[0] for i in items)
    eligible = [i for i in items if key(i)[0] >= top - tolerance - 1e-12]
    return max(eligible, key=lambda i: (key(i)[1], key(i)[0]))


class ValidatorSelection(Callback):
    """Keeps the checkpoint with the best label-free validator score (not source-val accuracy).

    At every evaluation: embed source-val and (a fixed subset of) target-train with the
    current model and score them with the validator (higher is better). A checkpoint is
    *eligible* only while its source-validation accuracy is within ``source_tolerance`` of
    the best one seen in this run: an adapted model must still solve the source task, and
    validators such as SND or entropy otherwise reward the soft, under-trained predictions
    of the first evaluations (measured on printed -> handwritten digits: SND alone picked
    the first epoch). The choice is the eligible checkpoint with the best score; only the
    checkpoints that could still become that choice (the Pareto front of source accuracy
    and score) keep a copy of their weights. ``source_tolerance=1`` disables the
    constraint. ``oracle`` (optional) is called on the same model for *reporting only*;
    its values never reach the selection.
    """

    def __init__(self, validator: Callable[[Any], float], views: _Views,
                 oracle: Callable[[nn.Module], dict[str, float]] | None = None,
                 objective: AdaptObjective | None = None, source_tolerance: float = 1.0) -> None:
        self.validator = validator
        self.views = views
        self.oracle = oracle
        self.objective = objective
        self.source_tolerance = float(source_tolerance)
        self.history: list[dict[str, Any]] = []
        # (source accuracy, score, history index, weights) of the non-dominated checkpoints
        self._front: list[tuple[float, float, int, dict[str, torch.Tensor]]] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.objective is not None:
            self.objective.total_steps = max(1, trainer.total_steps)

    def _choice(self) -> tuple[float, float, int, dict[str, torch.Tensor]] | None:
        return select_eligible(self._front, lambda c: (c[0], c[1]), self.source_tolerance)

    @property
    def best_score(self) -> float | None:
        c = self._choice()
        return None if c is None else c[1]

    @property
    def best_step(self) -> int | None:
        c = self._choice()
        return None if c is None else self.history[c[2]]["step"]

    @property
    def best_stage(self) -> str | None:
        c = self._choice()
        return None if c is None else self.history[c[2]]["stage"]

    @property
    def best_state(self) -> dict[str, torch.Tensor] | None:
        c = self._choice()
        return None if c is None else c[3]

    @torch.no_grad()
    def on_evaluate(self, trainer: Trainer, record: dict[str, Any]) -> None:
        from transferkit.train.modes import set_train_mode

        model = trainer.model
        was_training = model.training
        model.eval()
        f_s, logits_s = self.views.embed_eval(model, "source_val")
        f_t, logits_t = self.views.embed_eval(model, "target_train")
        score = float(self.validator(make_context(f_s, logits_s, self.views.y_source_val, f_t, logits_t)))
        src = record.get("val_accuracy")
        if src is None:  # the trainer reported none: compute it from the source-val logits
            src = float(np.mean(np.argmax(logits_s, axis=1) == self.views.y_source_val)) if len(logits_s) else 0.0
        entry: dict[str, Any] = {"stage": trainer.stage, "step": trainer.step,
                                 "validator": score if np.isfinite(score) else None,
                                 "source_val_accuracy": float(src)}
        self.history.append(entry)
        if np.isfinite(score) and not any(a >= src and b >= score for a, b, *_ in self._front):
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            self._front = [c for c in self._front if not (src >= c[0] and score >= c[1])]
            self._front.append((float(src), score, len(self.history) - 1, state))
        chosen = self._choice()
        for i, h in enumerate(self.history):
            h["selected"] = chosen is not None and i == chosen[2]
        if self.oracle is not None:
            entry["oracle"] = self.oracle(model)
        if was_training:
            set_train_mode(model)


# ----------------------------------------------------------------------------- pipeline


def _run_name(cfg: AdaptConfig) -> str:
    def short(v: str | None) -> str:
        return Path(str(v)).name or "data"

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-",
                  f"adapt-{short(cfg.source)}-to-{short(cfg.target)}-{cfg.method}-{stamp}")


def resolve_adapt_config(config: AdaptConfig | str | Path | None = None,
                         overrides: Sequence[str] = (), **kwargs: Any) -> AdaptConfig:
    """An AdaptConfig from a config object or YAML path, keyword arguments and overrides.

    Keyword arguments are AdaptConfig keys, plus the shortcuts ``epochs``, ``lr``,
    ``batch_size``, ``max_steps`` (train) and ``image_size``, ``backbone_weights``
    (backbone); ``backbone`` may be a name.
    """
    shortcuts = {"epochs": "train.epochs", "lr": "train.lr", "batch_size": "train.batch_size",
                 "max_steps": "train.max_steps", "eval_every": "train.eval_every",
                 "image_size": "backbone.image_size", "backbone_weights": "backbone.weights"}
    from transferkit.config import read_yaml, to_flat

    values: dict[str, Any] = {}
    if not isinstance(config, AdaptConfig):
        # adapt's training defaults (no early stopping on source-val accuracy, batch 64) stay
        # in force when only some train.* keys are given; a YAML file's keys override them
        values = {f"train.{k}": v for k, v in to_dict(_adapt_train()).items()}
        if config is not None:
            values.update(to_flat(read_yaml(config)))
    for key, value in kwargs.items():
        if value is None:
            continue
        if key == "backbone" and isinstance(value, str):
            key = "backbone.name"
        values[shortcuts.get(key, key)] = value
    if isinstance(config, AdaptConfig):
        values = {**to_flat(to_dict(config)), **values}
    return load_config(AdaptConfig, None, overrides, values)


class _Adapter:
    """One adapt run: data, features, candidates, selection, the run directory."""

    def __init__(self, cfg: AdaptConfig, run_dir: Path, log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.log = log
        self.timings = {"features_s": 0.0, "train_s": 0.0}
        self.seed = cfg.seed

    # -- data ---------------------------------------------------------------------------
    def load_data(self) -> None:
        from transferkit.data import load_splits

        cfg = self.cfg
        src = load_splits(cfg.data_config("source"))
        tgt = load_splits(cfg.data_config("target"))
        if src.train.modality != tgt.train.modality:
            raise DataError(f"The source '{cfg.source}' holds {src.train.modality} data and the "
                            f"target '{cfg.target}' {tgt.train.modality} data; adapt needs one "
                            "modality in both domains (see `transferkit fit --mapping` for input "
                            "adapters).")
        self.classes = list(src.train.classes)
        self.source_train, self.source_val = src.train, src.val
        self.target_train = _align_target_classes(src.train, tgt.train, "train")
        self.target_test = _align_target_classes(src.train, tgt.test, "test")
        self.warnings: list[str] = []
        self.resolution: dict[str, Any] | None = None
        if cfg.match_resolution:
            self.match_resolution()
        if len(self.source_val) == 0:
            raise DataError(f"The source '{cfg.source}' has no validation split; the validators "
                            "need source validation data. Lower the source's val cap or add data.")
        # labelled target shots come out of the target's train split, with their labels
        self.shot_idx = np.zeros(0, dtype=np.int64)
        if cfg.target_shots:
            self.shot_idx = _sample_shots(self.target_train.y, cfg.target_shots, cfg.seed, self.classes)
        keep = np.arange(len(self.target_train))
        if cfg.max_target is not None and cfg.max_target < len(keep):
            keep = _stratified_take(self.target_train.y, cfg.max_target, cfg.split_seed)
        self.unlabelled_idx = keep
        # labels are dropped here, before anything trains or selects
        self.target_unlabelled = self.target_train.subset(keep).without_labels()
        rng = np.random.default_rng(cfg.split_seed)
        n_ctx = min(MAX_CONTEXT, len(self.target_unlabelled))
        self.context_idx = np.sort(rng.choice(len(self.target_unlabelled), n_ctx, replace=False))
        self.warnings = list(src.leakage) + list(tgt.leakage) + self.warnings
        if cfg.source == cfg.target and cfg.source_domain == cfg.target_domain:
            self.warnings.append("source and target are the same dataset and domain: there is no "
                                 "shift to adapt to.")
        self.log(f"[bold]data[/bold] source {cfg.source}: {len(self.source_train)} train / "
                 f"{len(self.source_val)} val; target {cfg.target}: {len(self.target_unlabelled)} "
                 f"unlabelled train"
                 + (f" + {len(self.shot_idx)} labelled" if len(self.shot_idx) else "")
                 + f" / {len(self.target_test)} test (labels for evaluation only); "
                 f"{len(self.classes)} classes")

    def match_resolution(self) -> None:
        """Resample the higher-resolution domain to the other's native size (``match_resolution``)."""
        if self.source_train.modality != "image":
            raise ConfigError(f"The 'match_resolution' parameter of adapt applies to image data; the "
                              f"source '{self.cfg.source}' holds {self.source_train.modality} data. "
                              "Leave it off (false) for this data.")
        size, which = match_resolution(self.source_train, self.target_train)
        self.resolution = {"size": list(size), "resampled": which, "method": "PIL BOX (area)"}
        if which == "source":
            self.source_train = resample_images(self.source_train, size)
            self.source_val = resample_images(self.source_val, size)
        elif which == "target":
            self.target_train = resample_images(self.target_train, size)
            self.target_test = resample_images(self.target_test, size)
            self.warnings.append(f"match_resolution downsampled the TARGET images to {size[0]}x{size[1]} "
                                 "(the source's size); resize new target images the same way before "
                                 "predicting with this run.")
        self.log(f"[bold]resolution[/bold] {'both domains already ' if which is None else which + ' resampled to '}"
                 f"{size[0]}x{size[1]} (PIL BOX)")

    # -- models -------------------------------------------------------------------------
    def build_backbone(self) -> Any:
        from transferkit.backbones import create_backbone
        from transferkit.pipeline import apply_pool_stages

        b = self.cfg.backbone
        torch.manual_seed(self.seed)  # backbones built from scratch (tabular) start the same
        backbone = create_backbone(b.name, weights=b.weights, pretrained=b.pretrained,
                                   image_size=b.image_size, max_length=b.max_length)
        backbone.adapt_to(self.source_train)
        apply_pool_stages(backbone, b.pool_stages, self.cfg.strategy)
        return backbone

    def features(self, data: Any) -> np.ndarray:
        from transferkit.features import extract_features

        t0 = time.perf_counter()
        out = np.asarray(extract_features(self.backbone, data, cache_dir=self.cfg.cache_dir,
                                          bf16=self.cfg.train.bf16, progress=False), dtype=np.float32)
        self.timings["features_s"] += time.perf_counter() - t0
        return out

    def new_model(self, backbone: Any, mapping: nn.Module | None = None) -> TransferModel:
        from transferkit.mapping import MAPPINGS

        torch.manual_seed(self.seed)
        if mapping is None:
            mapping = MAPPINGS.create(self.cfg.mapping, in_dim=backbone.feature_dim)
        return TransferModel(backbone, len(self.classes), mapping=mapping,
                             head_dropout=self.cfg.train.head_dropout)

    # -- the run ------------------------------------------------------------------------
    def run(self) -> tuple[TransferModel, dict[str, Any]]:
        from transferkit.validation import build_validator

        cfg = self.cfg
        self.validator = build_validator(cfg.select)
        self.backbone = self.build_backbone()
        self.mode = ("shallow" if cfg.method in SHALLOW_METHODS else
                     "features" if cfg.strategy == "linear-probe" else "end-to-end")
        self.log(f"[bold]backbone[/bold] {cfg.backbone.name} ({self.backbone.feature_dim}-d), "
                 f"method {cfg.method}, {self.mode}, selection by {cfg.select} (label-free)")
        self.prepare()
        method_weights = self.weights()
        self.candidates: list[dict[str, Any]] = []
        states: dict[str, Any] = {}
        so_model, so_sel = self.train_candidate(0.0, SOURCE_ONLY)
        self.source_only = self.describe_candidate(SOURCE_ONLY, 0.0, so_model, so_sel)
        if cfg.method == SOURCE_ONLY:
            chosen_tag, chosen_model = SOURCE_ONLY, so_model
            self.candidates.append(self.source_only)
        else:
            for w in method_weights:
                tag = f"{cfg.method}" if w is None else f"{cfg.method}-lambda-{w:g}"
                model, sel = self.train_candidate(w, tag)
                states[tag] = model
                self.candidates.append(self.describe_candidate(tag, w, model, sel))
            # the validator's choice among the lambdas that still solve the source task
            # (source-val accuracy within source_tolerance of the best): no target labels
            scored = [c for c in self.candidates if c["validator"] is not None] or self.candidates
            best = select_eligible(scored, lambda c: (c.get("source_val_accuracy") or 0.0,
                                                      -np.inf if c["validator"] is None else c["validator"]),
                                   cfg.source_tolerance)
            chosen_tag, chosen_model = best["name"], states[best["name"]]
        for c in self.candidates:
            c["chosen"] = c["name"] == chosen_tag
        return chosen_model, self.summary_parts(chosen_tag, chosen_model)

    def weights(self) -> list[float | None]:
        cfg = self.cfg
        if cfg.method in SHALLOW_METHODS or cfg.method == SOURCE_ONLY:
            if cfg.sweep:
                self.log(f"[yellow]--sweep: method '{cfg.method}' has no trade-off weight to "
                         "sweep; training it once.[/yellow]")
            return [None]
        if cfg.sweep:
            return [float(w) for w in cfg.sweep_weights]
        if cfg.weight is not None:
            return [float(cfg.weight)]
        return [None]  # the method's default weight

    # -- per mode -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Features (cached) or raw datasets for training and evaluation."""
        cfg = self.cfg
        y_src = self.source_train.y
        y_shots = self.target_train.y[self.shot_idx]
        self.y_train = np.concatenate([y_src, y_shots])
        self.shallow = None
        if self.mode in ("features", "shallow"):
            fs_tr, fs_va = self.features(self.source_train), self.features(self.source_val)
            ft_all = self.features(self.target_train)
            ft_te = self.features(self.target_test)
            ft_un = ft_all[self.unlabelled_idx]
            x_plain = np.concatenate([fs_tr, ft_all[self.shot_idx]])
            self.raw = {"source_train": fs_tr, "source_val": fs_va, "target_train": ft_un,
                        "target_test": ft_te}
            plain = {"source_val": fs_va, "target_train": ft_un, "target_test": ft_te}
            self.setups = {"plain": self._array_setup(x_plain, None, plain, None)}
            if self.mode == "shallow":
                from transferkit.mapping import MAPPINGS
                from transferkit.shallow import SHALLOW

                t0 = time.perf_counter()
                entry = SHALLOW.entry(SHALLOW_METHODS[cfg.method])
                params = dict(cfg.method_params)
                self.shallow = entry.obj(from_dict(entry.config, params, f"method_params ({cfg.method})")
                                         if entry.config else None)
                self.shallow.fit(fs_tr, ft_un)
                parts = [self.shallow.transform_source(fs_tr)]
                if len(self.shot_idx):
                    parts.append(self.shallow.transform_target(ft_all[self.shot_idx]))
                w_src = self.shallow.sample_weight(fs_tr).astype(np.float32)
                w_train = np.concatenate([w_src, np.ones(len(self.shot_idx), np.float32)])
                inputs = {"source_val": self.shallow.transform_source(fs_va),
                          "target_train": self.shallow.transform_target(ft_un),
                          "target_test": self.shallow.transform_target(ft_te)}
                mapping = _affine_mapping(self.shallow.transform_target, fs_tr.shape[1], ft_un[:64],
                                          cfg.method)
                self.setups["adapted"] = self._array_setup(np.concatenate(parts), w_train, inputs, mapping)
                # source-only: untransformed features through a fixed identity mapping
                identity = MAPPINGS.create("identity", in_dim=fs_tr.shape[1])
                self.setups["plain"]["mapping"] = identity
                self.timings["features_s"] += time.perf_counter() - t0
            else:
                self.setups["adapted"] = self.setups["plain"]
        else:
            from transferkit.data.splits import concat

            shots = self.target_train.subset(self.shot_idx) if len(self.shot_idx) else None
            train = concat(self.source_train, shots) if shots is not None else self.source_train
            setup = {"train_data": _Weighted(train), "val_data": _Weighted(self.source_val),
                     "target_data": _Weighted(self.target_unlabelled), "mapping": None,
                     "inputs": {"source_val": self.source_val, "target_train": self.target_unlabelled,
                                "target_test": self.target_test}}
            self.setups = {"plain": setup, "adapted": setup}
            self.raw = None
        self.use("adapted")

    def _array_setup(self, x_train: np.ndarray, w_train: np.ndarray | None,
                     inputs: dict[str, np.ndarray], mapping: nn.Module | None) -> dict[str, Any]:
        inputs = {k: np.array(v, dtype=np.float32) for k, v in inputs.items()}  # in memory, writable
        return {"train_data": _Arrays(np.array(x_train, dtype=np.float32), self.y_train, w_train),
                "val_data": _Arrays(inputs["source_val"], self.source_val.y),
                "target_data": _Arrays(inputs["target_train"],
                                       np.full(len(inputs["target_train"]), -1, dtype=np.int64)),
                "inputs": inputs, "mapping": mapping}

    def use(self, name: str) -> None:
        """Train and evaluate on the 'plain' (source-only) or 'adapted' data from now on."""
        setup = self.setups[name]
        self.train_data, self.val_data = setup["train_data"], setup["val_data"]
        self.target_data, self.inputs = setup["target_data"], setup["inputs"]
        self.fixed_mapping = setup["mapping"]

    def embed_fn(self) -> Callable[[nn.Module, Any], torch.Tensor]:
        if self.mode == "shallow":
            return lambda m, x: x
        if self.mode == "features":
            return lambda m, x: m.mapping(x)
        return lambda m, x: m.features(x)

    @staticmethod
    def head_fn(m: nn.Module, f: torch.Tensor) -> torch.Tensor:
        return m.head(m.dropout(f))

    @torch.no_grad()
    def embed_eval(self, model: nn.Module, which: str, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(features after φ, logits) of ``model`` on an evaluation set, in eval mode."""
        data = self.inputs[which]
        if which == "target_train":
            data = data[self.context_idx] if isinstance(data, np.ndarray) else data.subset(self.context_idx)
        embed = self.embed_fn()
        fs, ls = [], []
        for start in range(0, len(data), batch_size):
            if isinstance(data, np.ndarray):
                x: Any = torch.from_numpy(data[start:start + batch_size])
            else:
                x = model.backbone.collate([data.input(i) for i in range(start, min(len(data), start + batch_size))])
            f = embed(model, x)
            fs.append(f.float().cpu().numpy())
            ls.append(self.head_fn(model, f).float().cpu().numpy())
        return np.concatenate(fs), np.concatenate(ls)

    def test_probs(self, model: nn.Module) -> np.ndarray:
        was = model.training
        model.eval()
        _, logits = self.embed_eval(model, "target_test")
        if was:
            from transferkit.train.modes import set_train_mode

            set_train_mode(model)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def oracle(self, model: nn.Module) -> dict[str, float]:
        m = classification_metrics(self.target_test.y, self.test_probs(model))
        return {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"]}

    def build_alignment(self, weight: float | None, out_dim: int) -> nn.Module | None:
        from transferkit.alignment import build_alignment

        if self.mode == "shallow" or weight == 0.0 or self.cfg.method == SOURCE_ONLY:
            return None
        params = dict(self.cfg.method_params)
        if weight is not None:
            params["weight"] = weight
        return build_alignment(self.cfg.method, feature_dim=out_dim, num_classes=len(self.classes),
                               params=params)

    def train_candidate(self, weight: float | None, tag: str) -> tuple[TransferModel, ValidatorSelection]:
        """Train one model (source-only when weight == 0) and restore its selected checkpoint."""
        from transferkit.strategies import STRATEGIES

        cfg = self.cfg
        if self.mode == "end-to-end":
            backbone = copy.deepcopy(self.backbone)
        else:
            backbone = self.backbone
        self.use("plain" if weight == 0.0 else "adapted")
        mapping = copy.deepcopy(self.fixed_mapping) if self.fixed_mapping is not None else None
        model = self.new_model(backbone, mapping)
        out_dim = getattr(model.mapping, "out_dim", backbone.feature_dim)
        alignment = self.build_alignment(weight, out_dim)
        objective = AdaptObjective(alignment, self.embed_fn(), self.head_fn)
        views = _Views(self.embed_eval, self.source_val.y)
        selector = ValidatorSelection(self.validator, views, oracle=self.oracle, objective=objective,
                                      source_tolerance=cfg.source_tolerance)
        if self.mode == "end-to-end":
            entry = STRATEGIES.entry(cfg.strategy)
            params = dict(cfg.strategy_params)
            strategy = entry.obj(from_dict(entry.config, params, f"strategy_params ({cfg.strategy})")
                                 if entry.config else None)
            stages = strategy.stages(model, cfg.train)
            collate = _raw_collate(model.backbone)
            eval_collate = make_collate(model.backbone)

            def val_collate(items: list) -> Any:
                return eval_collate([(x, y) for x, y, _ in items])
        else:
            from transferkit.strategies.base import Stage

            # the shallow mapping is the fitted target transform: it stays fixed
            trainable = [model.head] if self.mode == "shallow" else [model.mapping, model.head]
            params = [p for part in trainable for p in part.parameters()]
            stages = [Stage("head", [{"params": params, "name": "head"}])]
            strategy = None
            collate, val_collate = _collate_arrays, _collate_arrays_eval
        label = "source-only (lambda = 0)" if weight == 0.0 else tag
        self.log(f"[bold]train[/bold] {label}")
        t0 = time.perf_counter()
        for stage in stages:
            trainer = Trainer(
                model, stage.train_config(cfg.train), param_groups=stage.param_groups,
                train_data=self.train_data, val_data=self.val_data, collate_fn=collate,
                val_collate_fn=val_collate, target_collate_fn=collate,
                objective=objective, forward=lambda m, x: self.head_fn(m, self.embed_fn()(m, x)),
                target_data=self.target_data if alignment is not None else None,
                run_dir=self.run_dir, stage=f"{tag}-{stage.name}", seed=self.seed,
                callbacks=[selector], log=None, restore_best=False,
            )
            trainer.fit()
        finalize = getattr(strategy, "finalize", None)
        if selector.best_state is not None:
            model.load_state_dict(selector.best_state)
        if finalize is not None:
            finalize(model)
        self.timings["train_s"] += time.perf_counter() - t0
        return model, selector

    def describe_candidate(self, tag: str, weight: float | None, model: TransferModel,
                           sel: ValidatorSelection) -> dict[str, Any]:
        probs = self.test_probs(model)
        test = classification_metrics(self.target_test.y, probs)
        alignment_weight = weight
        if weight is None and self.mode != "shallow" and self.cfg.method != SOURCE_ONLY:
            alignment_weight = _default_weight(self.cfg.method, self.cfg.method_params)
        oracle_best = max((h for h in sel.history if h.get("oracle")),
                          key=lambda h: h["oracle"]["accuracy"], default=None)
        cand = {
            "name": tag, "weight": alignment_weight, "validator": sel.best_score,
            "source_val_accuracy": next((h["source_val_accuracy"] for h in sel.history if h.get("selected")),
                                        None),
            "selected_step": sel.best_step, "selected_stage": sel.best_stage,
            "target_test_accuracy": test["accuracy"],
            "target_test_balanced_accuracy": test["balanced_accuracy"],
            "evaluations": sel.history,
            "oracle": oracle_best and {"accuracy": oracle_best["oracle"]["accuracy"],
                                       "balanced_accuracy": oracle_best["oracle"]["balanced_accuracy"],
                                       "step": oracle_best["step"], "stage": oracle_best["stage"]},
        }
        self.log(f"  {tag}: {self.cfg.select} {_fmt(sel.best_score)} at step {sel.best_step} -> "
                 f"target test accuracy {test['accuracy']:.4f} (evaluation only)")
        return cand

    # -- summary ------------------------------------------------------------------------
    def summary_parts(self, chosen_tag: str, model: TransferModel) -> dict[str, Any]:
        self.use("plain" if chosen_tag == SOURCE_ONLY else "adapted")
        probs = self.test_probs(model)
        test = classification_metrics(self.target_test.y, probs, self.classes, detailed=True)
        so = self.source_only
        pool = [c for c in self.candidates if c.get("oracle")]
        best = max(pool, key=lambda c: c["oracle"]["accuracy"], default=None)
        oracle = None
        if best is not None:
            oracle = {"test": {"accuracy": best["oracle"]["accuracy"],
                               "balanced_accuracy": best["oracle"]["balanced_accuracy"]},
                      "candidate": best["name"], "weight": best["weight"],
                      "step": best["oracle"]["step"],
                      "note": "oracle: the checkpoint and lambda chosen with the target test labels; "
                              "an upper bound for model selection, not a deployable result"}
        return {"test": test, "oracle": oracle,
                "source_only": {"test": {"accuracy": so["target_test_accuracy"],
                                         "balanced_accuracy": so["target_test_balanced_accuracy"]},
                                "validator": so["validator"], "train_s": None}}


def _affine_mapping(transform: Callable[[np.ndarray], np.ndarray], dim: int, probe: np.ndarray,
                    method: str) -> nn.Module:
    """The target transform of a shallow method as a fixed mapping φ (identity or linear).

    The shallow methods' target transforms are affine, ``T(f) = W f + b``: ``b = T(0)``
    and ``W[:, i] = T(e_i) - b``. Saving them as φ makes the run directory predict on raw
    target inputs exactly as the adapted head was evaluated. Checked on ``probe`` rows.
    """
    from transferkit.mapping import MAPPINGS

    zero = np.zeros((1, dim))
    b = transform(zero)[0]  # (D',)
    w = (transform(np.eye(dim)) - b).T  # (D', D)
    if not np.allclose(probe @ w.T + b, transform(probe), rtol=1e-4, atol=1e-4):
        raise ConfigError(f"The target transform of '{method}' is not affine, so it cannot be "
                          "stored as a feature mapping of the saved model.")
    if w.shape[0] == dim and np.allclose(w, np.eye(dim), atol=1e-6) and np.allclose(b, 0, atol=1e-6):
        mapping = MAPPINGS.create("identity", in_dim=dim)
    else:
        mapping = MAPPINGS.create("linear", in_dim=dim, out_dim=w.shape[0])
        with torch.no_grad():
            mapping.linear.weight.copy_(torch.from_numpy(w.astype(np.float32)))
            mapping.linear.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    for p in mapping.parameters():
        p.requires_grad_(False)
    return mapping


def _mapping_name(mapping: nn.Module) -> str:
    from transferkit.mapping import MAPPINGS

    for name in MAPPINGS.names():
        if type(mapping) is MAPPINGS.get(name):
            return name
    raise ConfigError(f"The mapping {type(mapping).__name__} is not a registered mapping.")


def _default_weight(method: str, params: dict[str, Any]) -> float | None:
    from transferkit.alignment import ALIGNMENTS

    if "weight" in params:
        return float(params["weight"])
    entry = ALIGNMENTS.entry(method)
    return float(entry.config().weight) if entry.config else None


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def adapt(config: AdaptConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
          log: Callable[[str], None] | None = _log, **kwargs: Any) -> RunResult:
    """Adapt a model from a labelled source to an unlabelled target; write a run directory.

    ``config`` is an :class:`AdaptConfig` or a YAML path; keyword arguments
    (``source``, ``target``, ``method``, ``backbone``, ``select``, ``sweep``,
    ``target_shots``, ``epochs`` ...) and ``overrides`` (``["train.lr=0.01"]``) take
    precedence. Returns the selected adapted model; ``summary["baselines"]`` holds the
    source-only model and the oracle (marked as such).
    """
    t_start = time.perf_counter()
    cfg = resolve_adapt_config(config, overrides, **kwargs)
    for pname in ("source", "target"):
        if not getattr(cfg, pname):
            raise ConfigError(f"The '{pname}' parameter of adapt is required: a built-in dataset "
                              "name (see `transferkit datasets`) or a path.")
    cfg.method = check_method(cfg.method)
    cfg.select = check_validator(cfg.select)
    from transferkit.strategies import STRATEGIES

    STRATEGIES.entry(cfg.strategy)
    from transferkit.mapping import MAPPINGS

    MAPPINGS.entry(cfg.mapping)
    log = log or (lambda _m: None)
    run_dir = Path(cfg.out or Path("runs") / (cfg.name or _run_name(cfg)))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")

    adapter = _Adapter(cfg, run_dir, log)
    adapter.load_data()
    model, parts = adapter.run()
    test, oracle, source_only = parts["test"], parts["oracle"], parts["source_only"]
    gain = test["accuracy"] - source_only["test"]["accuracy"]
    warnings = list(adapter.warnings)
    log(f"[bold]target test[/bold] adapted ({cfg.method}, selected by {cfg.select}) accuracy "
        f"{test['accuracy']:.4f}; source-only {source_only['test']['accuracy']:.4f}"
        + (f"; oracle {oracle['test']['accuracy']:.4f} (uses target labels)" if oracle else ""))
    if cfg.method != SOURCE_ONLY and gain < 0:
        msg = (f"negative transfer: the adapted model ({cfg.method}, selected by {cfg.select}) is "
               f"{-gain * 100:.1f} points BELOW the source-only model on the target test set "
               f"({test['accuracy']:.4f} vs {source_only['test']['accuracy']:.4f}); adaptation "
               "did not help here: use the source-only model, or try another method, lambda or "
               "validator.")
        warnings.append(msg)
        log(f"[bold red]{msg}[/bold red]")

    mapping_name = _mapping_name(model.mapping) if adapter.mode == "shallow" else cfg.mapping
    fit_cfg = cfg.fit_config(mapping_name)
    save_run(run_dir, model, fit_cfg, adapter.source_train, adapter.classes,
             extra={"adapt": {"source": cfg.source, "target": cfg.target, "method": cfg.method}})
    _write_projection(run_dir, adapter, model)
    candidates = [dict(c) for c in adapter.candidates]  # with each evaluation: the selection trace
    summary = {
        "transferkit_version": __version__,
        "task": "classification",
        "command": "adapt",
        "data": {"source": cfg.source, "target": cfg.target, "source_domain": cfg.source_domain,
                 "target_domain": cfg.target_domain,
                 "n_train": len(adapter.source_train), "n_val": len(adapter.source_val),
                 "n_target_unlabelled": len(adapter.target_unlabelled),
                 "n_target_labelled": int(len(adapter.shot_idx)), "n_test": len(adapter.target_test),
                 "classes": adapter.classes, "match_resolution": adapter.resolution},
        "backbone": cfg.backbone.name,
        "strategy": cfg.strategy,
        "method": cfg.method,
        "mode": adapter.mode,
        "choice": f"method '{cfg.method}' given explicitly; "
                  + (f"lambda chosen among {len(candidates)} candidates " if len(candidates) > 1 else "")
                  + f"checkpoint chosen by the label-free validator '{cfg.select}'",
        "metrics": {"test": test},
        "baselines": {"scratch": None, "source_only": source_only, "oracle": oracle,
                      "majority": majority_baseline(adapter.source_train.y, adapter.target_test.y)},
        "transfer_gain": None,
        "adaptation_gain": gain,
        "selection": {"split": "target-unlabelled", "validator": cfg.select,
                      "candidates": candidates,
                      "source_only_evaluations": adapter.source_only["evaluations"]},
        "timings": {"total_s": round(time.perf_counter() - t_start, 3),
                    "features_s": round(adapter.timings["features_s"], 3),
                    "train_s": round(adapter.timings["train_s"], 3)},
        "warnings": warnings,
    }
    finish_run(run_dir, summary)
    return RunResult(run_dir, summary, model)


@torch.no_grad()
def _write_projection(run_dir: Path, adapter: _Adapter, model: TransferModel) -> None:
    """projection.npz: up to 500 source/target features before and after φ (float16)."""
    rng = np.random.default_rng(0)
    model.eval()
    if adapter.raw is not None:
        fs, ft = adapter.raw["source_train"], adapter.raw["target_train"]
        i_s = np.sort(rng.choice(len(fs), min(PROJECTION_POINTS, len(fs)), replace=False))
        i_t = np.sort(rng.choice(len(ft), min(PROJECTION_POINTS, len(ft)), replace=False))
        before_s, before_t = fs[i_s], ft[i_t]
        if adapter.shallow is not None:
            after_s = adapter.shallow.transform_source(before_s)
            after_t = adapter.shallow.transform_target(before_t)
        else:
            after_s = model.mapping(torch.from_numpy(before_s)).numpy()
            after_t = model.mapping(torch.from_numpy(before_t)).numpy()
    else:
        src, tgt = adapter.source_train, adapter.target_unlabelled
        i_s = np.sort(rng.choice(len(src), min(PROJECTION_POINTS, len(src)), replace=False))
        i_t = np.sort(rng.choice(len(tgt), min(PROJECTION_POINTS, len(tgt)), replace=False))
        sub_s, sub_t = src.subset(i_s), tgt.subset(i_t)
        before_s, before_t = adapter.features(sub_s), adapter.features(sub_t)
        after = []
        for data in (sub_s, sub_t):
            chunks = [model.features(model.backbone.collate([data.input(i) for i in
                                                            range(s, min(len(data), s + 128))]))
                      for s in range(0, len(data), 128)]
            after.append(torch.cat(chunks).float().numpy())
        after_s, after_t = after
    np.savez(run_dir / PROJECTION, **{k: np.asarray(v, dtype=np.float16) for k, v in
                                      (("before_s", before_s), ("before_t", before_t),
                                       ("after_s", after_s), ("after_t", after_t))})
