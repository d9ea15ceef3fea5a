"""How adapt's candidates train and are evaluated: one small class per mode.

- :class:`CachedFeaturesMode`: the backbone stays frozen; the mapping φ and the head train
  on cached features with the alignment loss on φ's output (the fast default).
- :class:`ShallowMode`: a closed-form method (``coral-transform``, ``subspace``,
  ``importance``) adapts the cached features once; the head trains on them, weighted.
- :class:`EndToEndMode`: the backbone trains on raw inputs under a strategy.

All share one interface: ``prepare()``, then ``train_candidate(weight, tag)`` per
candidate, ``embed_eval(model, which)``, ``test_outputs(model)`` and ``projection(model)``.
The task (``data.task``: classification or regression) builds the head, gives the
source-supervised loss and judges the outputs; the alignment term is the same for both.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.data.tags import IGNORE
from transferkit.errors import ConfigError
from transferkit.jobs.adapt.config import SHALLOW_METHODS, SOURCE_ONLY, AdaptConfig
from transferkit.jobs.adapt.data import (
    AdaptData,
    ArrayRows,
    WeightedRows,
    collate_arrays,
    collate_arrays_eval,
    raw_collate,
    stack_rows,
    word_mask,
)
from transferkit.jobs.adapt.objective import AdaptObjective, build_alignment
from transferkit.jobs.adapt.selection import ValidatorSelection, Views
from transferkit.model import TransferModel
from transferkit.pipeline import make_collate, map_batches
from transferkit.train import Trainer

PROJECTION_POINTS = 500


@dataclass
class Setup:
    """What a candidate trains and is evaluated on: row datasets, the evaluation inputs by
    set name (features or raw datasets) and a fixed mapping φ (None: a fresh one)."""

    train_data: Any
    val_data: Any
    target_data: Any
    inputs: dict[str, Any]
    mapping: nn.Module | None


class AdaptMode:
    """The shared state (config, data, backbone) and the candidate loop of every mode."""

    name = ""
    aligns = True  # trains with an alignment loss (shallow methods adapt before training)

    def __init__(self, cfg: AdaptConfig, data: AdaptData, backbone: Any,
                 validator: Callable[[Any], float], run_dir: Path, log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.data = data
        self.backbone = backbone
        self.validator = validator  # label-free: scores a ValidationContext, higher is better
        self.run_dir = run_dir
        self.log = log
        self.task = data.task
        self.timings = {"features_s": 0.0, "train_s": 0.0}
        self.setups: dict[str, Setup] = {}
        self.setup: Setup | None = None
        #: the task tags words: features (N, W, D), the alignment and validators see the words
        self.per_token = bool(getattr(self.task, "per_token", False))

    # -- what each mode provides --------------------------------------------------------
    def prepare(self) -> None:
        """Build the 'plain' (source-only) and 'adapted' setups."""
        raise NotImplementedError

    def embed(self, model: nn.Module, x: Any) -> torch.Tensor:
        """The features the alignment acts on and the head reads: ``(B, D)``."""
        raise NotImplementedError

    def stages(self, model: TransferModel) -> tuple[list[Any], Any, Callable, Callable]:
        """(training stages, strategy or None, train collate, evaluation collate)."""
        raise NotImplementedError

    def projection(self, model: TransferModel) -> tuple[np.ndarray, ...]:
        """Up to 500 source and target features before and after φ: (s, t, φ(s), φ(t))."""
        raise NotImplementedError

    def candidate_backbone(self) -> Any:
        """The backbone a new candidate is built on (shared: it stays frozen)."""
        return self.backbone

    def saved_mapping(self, model: TransferModel) -> str:
        """The registry name of the saved model's mapping."""
        return self.cfg.mapping

    def plain_features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(training features, their targets, target test features) of the source-only model
        -- the frozen backbone's features before any φ -- for the plain tool fitted on the same
        inputs beside it; None where the backbone trains (no cached features)."""
        return None

    # -- shared -------------------------------------------------------------------------
    def use(self, name: str) -> Setup:
        """Train and evaluate on the 'plain' (source-only) or 'adapted' setup from now on."""
        self.setup = self.setups[name]
        return self.setup

    def features(self, data: Any) -> np.ndarray:
        """Frozen-backbone features of ``data`` (from the cache when there), timed."""
        from transferkit.features import extract_features

        t0 = time.perf_counter()
        out = np.asarray(extract_features(self.backbone, data, cache_dir=self.cfg.cache_dir,
                                          bf16=self.cfg.train.bf16, device=self.cfg.train.device),
                         dtype=np.float32)
        self.timings["features_s"] += time.perf_counter() - t0
        return out

    def new_model(self, backbone: Any, mapping: nn.Module | None = None) -> TransferModel:
        """A seeded model: ``mapping`` (or a fresh ``cfg.mapping``) and a new head."""
        from transferkit.mapping import MAPPINGS

        torch.manual_seed(self.cfg.seed)
        if mapping is None:
            mapping = MAPPINGS.build(self.cfg.mapping, in_dim=backbone.feature_dim)
        out_dim = self.task.output_dim(self.data.source_train)
        in_dim = getattr(mapping, "out_dim", backbone.feature_dim)
        return TransferModel(backbone, out_dim, mapping=mapping, head_dropout=self.cfg.train.head_dropout,
                             head=self.task.build_head(in_dim, out_dim))

    @staticmethod
    def head(m: nn.Module, f: torch.Tensor) -> torch.Tensor:
        return m.head(m.dropout(f))

    def embed_eval(self, model: nn.Module, which: str, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(features after φ, logits) of ``model`` on an evaluation set, in eval mode."""
        data = self.setup.inputs[which]
        if which == "target_train":
            idx = self.data.context_idx
            data = data[idx] if isinstance(data, np.ndarray) else data.subset(idx)

        def both(m: nn.Module, x: Any) -> tuple[np.ndarray, np.ndarray]:
            f = self.embed(m, x)
            return f.float().cpu().numpy(), self.head(m, f).float().cpu().numpy()

        out = map_batches(model, data, both, batch_size)
        return np.concatenate([f for f, _ in out]), np.concatenate([lg for _, lg in out])

    def test_outputs(self, model: nn.Module) -> np.ndarray:
        """The task's postprocessed outputs on the target test set (probabilities, values)."""
        was = model.training
        model.eval()
        _, logits = self.embed_eval(model, "target_test")
        if was:
            from transferkit.train.modes import set_train_mode

            set_train_mode(model)
        return self.task.postprocess(torch.from_numpy(logits)).numpy()

    def test_metrics(self, model: nn.Module, detailed: bool = False) -> dict[str, Any]:
        """The task's metrics of ``model`` on the target test set (evaluation only)."""
        return self.task.metrics(self.data.target_test.y, self.test_outputs(model),
                                 {"classes": self.data.classes, **self.task.describe_head(model.head)},
                                 detailed=detailed)

    def oracle(self, model: nn.Module) -> dict[str, float]:
        self.tune(model, quiet=True)  # each checkpoint decides as it would if it were chosen
        m = self.test_metrics(model)
        return {k: m[k] for k in self.task.directions if k != "loss" and k in m}

    def alignment(self, weight: float | None, out_dim: int) -> nn.Module | None:
        if not self.aligns or weight == 0.0 or self.cfg.method == SOURCE_ONLY:
            return None
        return build_alignment(self.cfg.method, self.cfg.method_params, weight, out_dim,
                               len(self.data.classes))

    def train_candidate(self, weight: float | None, tag: str) -> tuple[TransferModel, ValidatorSelection]:
        """Train one model (source-only when weight == 0) and restore its selected checkpoint."""
        cfg = self.cfg
        backbone = self.candidate_backbone()
        setup = self.use("plain" if weight == 0.0 else "adapted")
        mapping = copy.deepcopy(setup.mapping) if setup.mapping is not None else None
        model = self.new_model(backbone, mapping)
        out_dim = getattr(model.mapping, "out_dim", backbone.feature_dim)
        alignment = self.alignment(weight, out_dim)
        objective = AdaptObjective(alignment, self.embed, self.head, loss=self.task.example_loss)
        selector = ValidatorSelection(self.validator, Views(self.embed_eval, self.data.source_val.y, self.task,
                                                            self.word_masks(), list(self.data.classes or [])),
                                      oracle=self.oracle, objective=objective,
                                      source_tolerance=cfg.source_tolerance)
        stages, strategy, collate, val_collate = self.stages(model)
        self.log(f"[bold]train[/bold] {'source-only (lambda = 0)' if weight == 0.0 else tag}")
        t0 = time.perf_counter()
        for stage in stages:
            trainer = Trainer(
                model, stage.train_config(cfg.train), param_groups=stage.param_groups,
                train_data=setup.train_data, val_data=setup.val_data, collate_fn=collate,
                val_collate_fn=val_collate, target_collate_fn=collate,
                objective=objective, forward=lambda m, x: self.head(m, self.embed(m, x)),
                target_data=setup.target_data if alignment is not None else None,
                run_dir=self.run_dir, stage=f"{tag}-{stage.name}", seed=cfg.seed,
                callbacks=[selector], log=None, restore_best=False, task=self.task,
            )
            trainer.fit()
        finalize = getattr(strategy, "finalize", None)
        if selector.best_state is not None:
            model.load_state_dict(selector.best_state)
        if finalize is not None:
            finalize(model)
        self.tune(model)
        self.timings["train_s"] += time.perf_counter() - t0
        return model, selector

    def word_masks(self) -> dict[str, np.ndarray] | None:
        """For the token task, which positions of the source-validation and target-context
        tags hold a word (the validators score the words of both domains, at most
        ``MAX_CONTEXT`` of each, a seeded sample: SND is quadratic in them); else None."""
        if not self.per_token:
            return None
        from transferkit.jobs.adapt.data import MAX_CONTEXT

        rng = np.random.default_rng(self.cfg.split_seed)

        def at_most(mask: np.ndarray) -> np.ndarray:  # a seeded sample of MAX_CONTEXT words
            where = np.flatnonzero(mask)
            if len(where) > MAX_CONTEXT:
                mask = np.zeros_like(mask)
                mask.flat[rng.choice(where, MAX_CONTEXT, replace=False)] = True
            return mask

        return {"source_val": at_most(np.asarray(self.data.source_val.y) != IGNORE),
                "target_train": at_most(np.asarray(self.data.target_unlabelled.y)[self.data.context_idx]
                                        != IGNORE)}

    def tune(self, model: nn.Module, quiet: bool = False) -> None:
        """Choose a head's decision settings (label sets: one threshold per label) on the
        labelled source-validation split; the target's labels are never read."""
        if not self.task.describe_head(model.head):  # a head without decision settings
            return
        was = model.training
        model.eval()
        _, logits = self.embed_eval(model, "source_val")
        if was:
            from transferkit.train.modes import set_train_mode

            set_train_mode(model)
        tuned = self.task.tune_head(model.head, self.data.source_val.y,
                                    self.task.postprocess(torch.from_numpy(logits)).numpy())
        if not quiet and tuned is not None and tuned.get("sentence"):
            self.log(f"  {tuned['sentence'].replace('validation split', 'source validation split')}")


class CachedFeaturesMode(AdaptMode):
    """Frozen backbone: φ and the head train on cached features (``strategy='linear-probe'``)."""

    name = "features"

    def prepare(self) -> None:
        d = self.data
        fs_tr, fs_va = self.features(d.source_train), self.features(d.source_val)
        ft_all = self.features(d.target_train)
        ft_te = self.features(d.target_test)
        ft_un = ft_all[d.unlabelled_idx]
        self.y_train = stack_rows([d.source_train.y, d.target_train.y[d.shot_idx]], fill=IGNORE)
        self.cached = {"source_train": fs_tr, "target_train": ft_un}
        plain = {"source_val": fs_va, "target_train": ft_un, "target_test": ft_te}
        x_plain = stack_rows([fs_tr, ft_all[d.shot_idx]])
        self._plain_features = (x_plain, self.y_train, ft_te)
        self.setups = {"plain": self.array_setup(x_plain, None, plain, None)}
        self.setups["adapted"] = self.adapted_setup(fs_tr, fs_va, ft_all, ft_te, ft_un)
        self.use("adapted")

    def adapted_setup(self, fs_tr: np.ndarray, fs_va: np.ndarray, ft_all: np.ndarray,
                      ft_te: np.ndarray, ft_un: np.ndarray) -> Setup:
        return self.setups["plain"]

    def array_setup(self, x_train: np.ndarray, w_train: np.ndarray | None,
                    inputs: dict[str, np.ndarray], mapping: nn.Module | None) -> Setup:
        inputs = {k: np.array(v, dtype=np.float32) for k, v in inputs.items()}  # in memory, writable
        return Setup(train_data=ArrayRows(np.array(x_train, dtype=np.float32), self.y_train, w_train),
                     val_data=ArrayRows(inputs["source_val"], self.data.source_val.y),
                     target_data=ArrayRows(inputs["target_train"], self.unlabelled(len(inputs["target_train"]))),
                     inputs=inputs, mapping=mapping)

    def plain_features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        return self._plain_features

    def unlabelled(self, n: int) -> np.ndarray:
        """Placeholder targets of ``n`` unlabelled target rows (never read): -1 in the source
        targets' shape, (n,) or (n, L) for label sets, in a dtype that holds -1; tags per
        word: -1 at each word of the unlabelled target sentences, padding elsewhere."""
        if self.per_token:
            return np.asarray(self.data.target_unlabelled.y)
        return np.full((n, *self.y_train.shape[1:]), -1, dtype=np.result_type(self.y_train.dtype, np.int8))

    def embed(self, model: nn.Module, x: Any) -> torch.Tensor:
        return model.mapping(x)

    def trainable(self, model: TransferModel) -> list[nn.Module]:
        return [model.mapping, model.head]

    def stages(self, model: TransferModel) -> tuple[list[Any], Any, Callable, Callable]:
        from transferkit.strategies.base import Stage

        params = [p for part in self.trainable(model) for p in part.parameters()]
        return [Stage("head", [{"params": params, "name": "head"}])], None, collate_arrays, collate_arrays_eval

    def after(self, model: TransferModel, f_s: np.ndarray, f_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        def mapped(f: np.ndarray) -> np.ndarray:  # on the model's device, batch by batch
            parts = map_batches(model, f, lambda m, x: m.mapping(x).float().cpu().numpy(), 1024)
            return np.concatenate(parts) if parts else f

        return mapped(f_s), mapped(f_t)

    @torch.no_grad()
    def projection(self, model: TransferModel) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng(0)
        model.eval()
        fs, ft = self.cached["source_train"], self.cached["target_train"]
        if self.per_token:  # the words of both domains are the points
            fs = fs[word_mask(self.data.source_train.y, fs.shape[1])]
            ft = ft[word_mask(self.data.target_unlabelled.y, ft.shape[1])]
        i_s = np.sort(rng.choice(len(fs), min(PROJECTION_POINTS, len(fs)), replace=False))
        i_t = np.sort(rng.choice(len(ft), min(PROJECTION_POINTS, len(ft)), replace=False))
        before_s, before_t = fs[i_s], ft[i_t]
        return (before_s, before_t, *self.after(model, before_s, before_t))


class ShallowMode(CachedFeaturesMode):
    """A closed-form method adapts the cached features; only the head trains (weighted by
    the method's sample weights), and the fitted target transform becomes the saved φ."""

    name = "shallow"
    aligns = False

    def adapted_setup(self, fs_tr: np.ndarray, fs_va: np.ndarray, ft_all: np.ndarray,
                      ft_te: np.ndarray, ft_un: np.ndarray) -> Setup:
        from transferkit.mapping import MAPPINGS
        from transferkit.shallow import SHALLOW

        cfg, shot_idx = self.cfg, self.data.shot_idx
        t0 = time.perf_counter()
        self.shallow = SHALLOW.build(SHALLOW_METHODS[cfg.method], dict(cfg.method_params))
        self.shallow.fit(fs_tr, ft_un)
        parts = [self.shallow.transform_source(fs_tr)]
        if len(shot_idx):
            parts.append(self.shallow.transform_target(ft_all[shot_idx]))
        w_src = self.shallow.sample_weight(fs_tr).astype(np.float32)
        w_train = np.concatenate([w_src, np.ones(len(shot_idx), np.float32)])
        inputs = {"source_val": self.shallow.transform_source(fs_va),
                  "target_train": self.shallow.transform_target(ft_un),
                  "target_test": self.shallow.transform_target(ft_te)}
        mapping = affine_mapping(self.shallow.transform_target, fs_tr.shape[1], ft_un[:64], cfg.method)
        adapted = self.array_setup(np.concatenate(parts), w_train, inputs, mapping)
        # source-only: untransformed features through a fixed identity mapping
        self.setups["plain"].mapping = MAPPINGS.build("identity", in_dim=fs_tr.shape[1])
        self.timings["features_s"] += time.perf_counter() - t0
        return adapted

    def embed(self, model: nn.Module, x: Any) -> torch.Tensor:
        return x  # the inputs are already the adapted features; φ stays fixed

    def trainable(self, model: TransferModel) -> list[nn.Module]:
        return [model.head]

    def after(self, model: TransferModel, f_s: np.ndarray, f_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.shallow.transform_source(f_s), self.shallow.transform_target(f_t)

    def saved_mapping(self, model: TransferModel) -> str:
        from transferkit.mapping import MAPPINGS

        for name in MAPPINGS.names():
            if type(model.mapping) is MAPPINGS.get(name):
                return name
        raise ConfigError(f"The mapping {type(model.mapping).__name__} is not a registered mapping.")


class EndToEndMode(AdaptMode):
    """The backbone trains on raw inputs (a copy per candidate) under ``cfg.strategy``."""

    name = "end-to-end"

    def prepare(self) -> None:
        from transferkit.data.splits import concat

        d = self.data
        shots = d.target_train.subset(d.shot_idx) if len(d.shot_idx) else None
        train = concat(d.source_train, shots) if shots is not None else d.source_train
        setup = Setup(train_data=WeightedRows(train), val_data=WeightedRows(d.source_val),
                      target_data=WeightedRows(d.target_unlabelled), mapping=None,
                      inputs={"source_val": d.source_val, "target_train": d.target_unlabelled,
                              "target_test": d.target_test})
        self.setups = {"plain": setup, "adapted": setup}
        self.use("adapted")

    def candidate_backbone(self) -> Any:
        return copy.deepcopy(self.backbone)

    def embed(self, model: nn.Module, x: Any) -> torch.Tensor:
        return model.features(x)

    def stages(self, model: TransferModel) -> tuple[list[Any], Any, Callable, Callable]:
        from transferkit.strategies import STRATEGIES

        cfg = self.cfg
        strategy = STRATEGIES.build(cfg.strategy, dict(cfg.strategy_params))
        eval_collate = make_collate(model.backbone)

        def val_collate(items: list) -> Any:
            return eval_collate([(x, y) for x, y, _ in items])

        return strategy.stages(model, cfg.train), strategy, raw_collate(model.backbone), val_collate

    @torch.no_grad()
    def projection(self, model: TransferModel) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng(0)
        model.eval()
        src, tgt = self.data.source_train, self.data.target_unlabelled
        i_s = np.sort(rng.choice(len(src), min(PROJECTION_POINTS, len(src)), replace=False))
        i_t = np.sort(rng.choice(len(tgt), min(PROJECTION_POINTS, len(tgt)), replace=False))
        sub_s, sub_t = src.subset(i_s), tgt.subset(i_t)
        before_s, before_t = self.features(sub_s), self.features(sub_t)
        after_s, after_t = (np.concatenate(map_batches(
            model, data, lambda m, x: m.features(x).float().cpu().numpy(), 128)) for data in (sub_s, sub_t))
        return before_s, before_t, after_s, after_t


def mode_class(cfg: AdaptConfig) -> type[AdaptMode]:
    """The mode that trains ``cfg``'s candidates."""
    if cfg.method in SHALLOW_METHODS:
        return ShallowMode
    # only the linear probe leaves the backbone frozen, so only it can train on cached features
    from transferkit.pipeline import strategy_freezes_backbone

    return CachedFeaturesMode if strategy_freezes_backbone(cfg.strategy) else EndToEndMode


def affine_mapping(transform: Callable[[np.ndarray], np.ndarray], dim: int, probe: np.ndarray,
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
        mapping = MAPPINGS.build("identity", in_dim=dim)
    else:
        mapping = MAPPINGS.build("linear", in_dim=dim, out_dim=w.shape[0])
        with torch.no_grad():
            mapping.linear.weight.copy_(torch.from_numpy(w.astype(np.float32)))
            mapping.linear.bias.copy_(torch.from_numpy(b.astype(np.float32)))
    for p in mapping.parameters():
        p.requires_grad_(False)
    return mapping
