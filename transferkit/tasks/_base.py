"""The task interface: what is predicted and how it is judged.

A task owns everything that depends on the kind of target: the head's output shape, the
loss, the metrics it reports and the one the loop selects and stops on (with its
direction), its baselines, the transfer gain in its own metric and sign, how targets are
described in a run directory, what ``--shots K`` means and what ``labels_used`` counts,
and how predictions are written. Everything else -- data loading, backbones, features,
strategies, the training loop, the run directory -- is shared by every task.

A new task is one file in ``transferkit/tasks/`` with a registered subclass::

    @TASKS.register("my-task")
    class MyTask(Task):
        selection_metric = "my_metric"
        directions = {"my_metric": "max", "loss": "min"}
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from transferkit.errors import ConfigError


def unique_stems(names: list[str], default: str) -> list[str]:
    """One output file stem per input name: the name's stem (``default`` when it has none),
    with ``_`` appended while it repeats an earlier one (two inputs of one name in different
    folders must not overwrite each other's files)."""
    from pathlib import Path

    stems: list[str] = []
    seen: set[str] = set()
    for name in names:
        stem = Path(str(name)).stem or default
        while stem in seen:
            stem += "_"
        seen.add(stem)
        stems.append(stem)
    return stems


def with_l2_sp(loss: torch.Tensor, logs: dict[str, float], l2_sp: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """``loss`` plus the L2-SP penalty ``l2_sp()`` (when there is one), which ``logs`` then
    records: the tail every task's objective shares."""
    if l2_sp is not None:
        penalty = l2_sp().to(loss.device)
        logs["l2_sp"] = float(penalty.detach())
        loss = loss + penalty
    return loss, logs


class Accumulator:
    """Collects a model's outputs on validation batches and computes the loop's metrics.

    The trainer calls ``update(outputs, targets)`` per batch and ``compute()`` once; the
    returned dict holds ``loss`` and the task's selection metric (and may hold more).
    """

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError


class Task:
    """Base class of every task (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    #: the metric the training loop early-stops on and model selection compares
    selection_metric: ClassVar[str] = "loss"
    #: direction of every metric the loop may select on: "max" or "min"
    directions: ClassVar[dict[str, str]] = {"loss": "min"}
    #: metrics that decide between evaluations whose selection metric ties, in order (a
    #: quantity that moves while e.g. few-shot accuracy stays flat)
    tie_break: ClassVar[tuple[str, ...]] = ("loss",)
    #: the test metric the transfer gain is computed in (sign: positive = transfer helped)
    gain_metric: ClassVar[str] = "loss"
    #: how the gain metric is named in warnings (default: ``gain_metric`` itself)
    gain_label: ClassVar[str] = ""
    #: what ``--shots K`` means for this task, in the words of the help text
    shots_meaning: ClassVar[str] = ""
    #: how the data layer stores the targets: "classes" (int codes), "values" (float64) or
    #: "label_sets" (a multi-hot (N, L) uint8 matrix)
    targets: ClassVar[str] = "classes"
    #: whether a stage that keeps (part of) the backbone frozen may train on its cached
    #: features or activations; False when the head reads more than a feature vector per
    #: example (segmentation's decoder reads feature maps at every scale)
    cached_inputs: ClassVar[bool] = True
    #: whether the head reads the backbone's multi-scale maps, which a frozen encoder's stage
    #: then caches once per image (``backbone.packed_maps()``: one flat row each) and trains
    #: the head on, without augmentation (segmentation's decoder); False: raw inputs
    cached_maps: ClassVar[bool] = False
    #: head-shaping parameters (``describe_head``'s ``task_params``) as runs written before
    #: they existed were made: ``rebuild_model`` fills them in where a transferkit.json does
    #: not record them (a token-classification run from before ``context``: a linear head)
    unrecorded_params: ClassVar[dict[str, Any]] = {}
    #: the backbone a fit of this task uses when the user names none (None: the config's
    #: image default); ``--strategy auto`` also adds it to its candidate pool
    default_backbone: ClassVar[str | None] = None
    #: more backbones ``rank`` / ``--strategy auto`` add to the modality's pool for this task
    #: (each only where its package is installed)
    pool_backbones: ClassVar[tuple[str, ...]] = ()
    #: how many test images a run keeps beside :meth:`test_arrays` for the report to draw on
    #: (``images`` in test_predictions.npz; 0: none)
    report_images: ClassVar[int] = 0
    #: whether :meth:`test_arrays` keeps every test example's targets (``y``) and outputs
    #: (``outputs``, or ``pred`` for predicted values), so that two runs on the same test split can be compared by
    #: :meth:`compare` afterwards (``transferkit compare RUN_A RUN_B``)
    keeps_test_outputs: ClassVar[bool] = False
    #: whether a run directory given as ``--backbone`` also gives its head by default, when its
    #: task and classes are the target's (``backbone.keep_head`` unset). Off for a linear head,
    #: which is cheap to relearn and whose confident source logits can hold full fine-tuning
    #: back (printed-digits -> digits, 10 per class, full: 80.8 % kept vs 85.6 % fresh, 3 seeds,
    #: benchmarks/results/pipelines_digits_*.md); on where the head is a decoder network
    #: (segmentation).
    keeps_source_head: ClassVar[bool] = False

    def __init__(self, config: Any = None) -> None:
        self.config = config

    # ------------------------------------------------------------------ targets
    def fit_targets(self, train: Any) -> None:
        """Learn what the head and the loss need from the training targets (e.g. their mean
        and standard deviation); the engine calls it once before it builds the head."""

    def output_dim(self, data: Any) -> int:
        """Width of the head's output for the (training) dataset ``data``."""
        raise NotImplementedError

    def describe_targets(self, data: Any) -> dict[str, Any]:
        """What a run directory records about the targets (``transferkit.json``)."""
        raise NotImplementedError

    def check_targets(self, manifest: dict[str, Any]) -> str | None:
        """What is wrong with the targets a run's ``transferkit.json`` describes (None: fine)."""
        return None

    def labels_used(self, splits: Any) -> dict[str, int]:
        """How many labels the fit consumed, per split, as this task counts them."""
        return {"train": len(splits.train), "val": len(splits.val)}

    def probe_score(self, model: nn.Module, val_metric: float) -> float:
        """The score ``rank --validate`` and ``auto`` compare a candidate's linear probe by:
        its validation selection metric (a task whose solver chose the probe on more
        held-out data than the validation split reports that instead)."""
        return val_metric

    def ladder_examples(self, train: Any) -> tuple[int, int, str]:
        """(training examples, classes, what one is) as ``auto``'s strategy ladder counts them
        to decide whether full fine-tuning has enough data
        (:func:`transferkit.jobs.auto.strategy_ladder`)."""
        unit = ("training sentences per tag" if getattr(self, "per_token", False)
                else "training examples per class")
        return len(train), len(train.classes), unit

    # ------------------------------------------------------------------ model
    def prepare_backbone(self, backbone: Any) -> Any:
        """The backbone as this task reads it (e.g. a text encoder read per word for token
        classification, a multi-scale encoder for dense tasks); the engine calls it on every
        backbone it builds or rebuilds (it must accept one it already prepared). Default: unchanged."""
        return backbone

    def build_head(self, in_dim: int, out_dim: int) -> nn.Module:
        """The head on top of the (mapped) features."""
        return nn.Linear(in_dim, out_dim)

    def head_for(self, backbone: Any, in_dim: int, out_dim: int) -> nn.Module:
        """The head for ``backbone`` (what the engine calls): :meth:`build_head` unless the
        head needs more of the backbone than its feature width (a decoder reads its stages)."""
        return self.build_head(in_dim, out_dim)

    def min_train_steps(self) -> int:
        """The optimizer steps every training stage runs at least when the task trains on raw
        inputs (``cached_inputs`` False: a dense decoder, with or without its encoder): epochs
        are stretched to reach them and early stopping does not end a stage sooner; the
        ``--compare scratch`` model gets the same floor. A few labelled images give a step or
        two per epoch, far too few for a fresh decoder. Default: 0 (none)."""
        return 0

    def head_lr_grid(self) -> tuple[float, ...]:
        """Learning rates the head stage on cached maps (:attr:`cached_maps`) is trained with,
        one run each from the same start; the run with the best validation selection metric is
        kept. The label budget then holds out validation for it. A single rate is used as it
        is, with no validation held out. Default: () (``train.lr`` alone)."""
        return ()

    def init_head(self, model: nn.Module, train: Any) -> dict[str, Any] | None:
        """Set the freshly built ``model``'s head from what needs no training (e.g. class
        prototypes embedded by the backbone) before any stage trains; returns what was done,
        or None when the head stays as built. A head that is not initialised needs labelled
        training examples (``--shots 0`` is refused without one)."""
        return None

    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        """The training loss: ``objective(model, batch, step) -> (loss, logs)``."""
        raise NotImplementedError

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of each example, ``(B, out) x (B,) -> (B,)``, as ``objective``
        takes it before averaging: what weighted objectives (``adapt``'s importance weights)
        and validators that weigh source losses (DEV) use."""
        raise NotImplementedError

    def solve_head(self, head: nn.Module, x: np.ndarray, y: np.ndarray, train_cfg: Any,
                   seed: int = 0, val: tuple[np.ndarray, np.ndarray] | None = None,
                   solver: str = "lbfgs", backbone: Any = None) -> dict[str, Any] | None:
        """Fit ``head`` on cached features ``x`` with a convex solver in place (``val``: the
        validation features and targets, for its hyperparameters; ``solver``: the convex probe
        the backbone's features call for, ``"lbfgs"`` or ``"ridge"``, which a task without it
        may answer with its own; ``backbone``: the backbone whose features ``x`` are, column
        for column, when they are -- a task may ask it what its columns mean, e.g. forecasting
        asks for its own forecast); returns what the solver reports, or None when this task's
        head has none (it then trains by SGD)."""
        return None

    def accumulator(self) -> Accumulator:
        """A fresh accumulator for the loop's validation metrics."""
        raise NotImplementedError

    def rank_targets(self, y: np.ndarray) -> tuple[str, np.ndarray]:
        """(kind, targets) that transferability scores rank (``rank``): the stored targets as
        they are by default; a task whose stored rows are not plain targets converts them
        (forecasting: the scaled corrections of its windows, as numbers)."""
        return self.targets, y

    def tune_head(self, head: nn.Module, targets: np.ndarray | None,
                  outputs: np.ndarray | None) -> dict[str, Any] | None:
        """Choose the trained head's decision settings on the validation split (its targets and
        the model's postprocessed outputs; None: no validation data) and keep them in the head
        (e.g. one threshold per label); returns what was chosen, or None when the task has none.
        The engine calls it once after training, before the test split is read."""
        return None

    def describe_head(self, head: nn.Module) -> dict[str, Any]:
        """What the metrics and predictions need to know about a trained head beyond the
        targets (e.g. its thresholds); merged into the metrics' ``meta`` and transferkit.json."""
        return {}

    def direction(self, metric: str) -> str:
        """"max" or "min" for a metric the loop can select on; an error names the valid ones."""
        if metric not in self.directions:
            raise ConfigError(f"The 'metric' parameter of the {self.name} task must be one of "
                              f"{', '.join(self.directions)}. Got {metric!r} instead.")
        return self.directions[metric]

    def better(self, a: float, b: float | None, metric: str | None = None) -> bool:
        """True if the value ``a`` of ``metric`` (default: the selection metric) beats ``b``."""
        if b is None:
            return True
        return a > b if self.direction(metric or self.selection_metric) == "max" else a < b

    def tie_breaks(self, metric: str | None = None) -> tuple[str, ...]:
        """The tie-break metrics that apply when selecting on ``metric``."""
        metric = metric or self.selection_metric
        return tuple(m for m in self.tie_break if m != metric and m in self.directions)

    def improves(self, new: dict[str, float], best: dict[str, float] | None,
                 metric: str | None = None) -> bool:
        """True if the evaluation ``new`` beats ``best`` (both dicts of metrics): a better
        ``metric`` (default: the selection metric) wins; on a tie, the first tie-break
        metric that differs decides (e.g. equal accuracy and a lower loss improves).

        >>> ClassificationTask().improves({"accuracy": .5, "loss": .6}, {"accuracy": .5, "loss": .7})  # doctest: +SKIP
        True
        """
        metric = metric or self.selection_metric
        if best is None or best.get(metric) is None:
            return True
        if self.better(new[metric], best[metric], metric):
            return True
        if new[metric] != best[metric]:
            return False
        for tie in self.tie_breaks(metric):
            if tie not in new or tie not in best or new[tie] == best[tie]:
                continue
            return self.better(new[tie], best[tie], tie)
        return False

    def adjust(self, model: nn.Module, splits: Any, val_outputs: np.ndarray | None,
               test_outputs: np.ndarray, log: Callable[[str], None]
               ) -> tuple[np.ndarray | None, np.ndarray, dict[str, Any]]:
        """After training, before the test metrics: fit what the task learns on top of a
        trained model (e.g. a calibration temperature on the validation split) into the model
        itself, so that saved, served and exported models apply it. Takes and returns the
        postprocessed validation and test outputs (adjusted the same way) and the summary
        sections that describe what was done (``{}``: nothing). Test labels may be read to
        report before/after metrics, never to choose anything."""
        return val_outputs, test_outputs, {}

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Raw head outputs -> what predictions are made of (e.g. probabilities)."""
        return outputs

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        """The reported metrics of postprocessed ``outputs`` against ``targets``."""
        raise NotImplementedError

    def test_arrays(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray] | None:
        """What a run directory keeps of the test predictions for the report
        (``test_predictions.npz``; None: nothing, the summary's metrics suffice)."""
        return None

    def intervals(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                  seed: int = 0) -> dict[str, Any]:
        """Bootstrap confidence intervals of the reported test metrics:
        ``{"level", "n_boot", "seed", metric: [low, high], ...}`` (empty: none)."""
        return {}

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        """Baselines that need no training (e.g. the majority class), keyed by name."""
        return {}

    def transfer_gain(self, metrics: dict[str, Any], baseline: dict[str, Any] | None) -> float | None:
        """Test ``gain_metric`` of the transferred model minus the baseline's, signed so that
        positive means transfer helped (None without a baseline)."""
        if not baseline or "test" not in baseline or self.gain_metric not in baseline["test"]:
            return None
        diff = float(metrics["test"][self.gain_metric] - baseline["test"][self.gain_metric])
        return diff if self.direction(self.gain_metric) == "max" else -diff

    def baselines_with_outputs(self, train: Any, test: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """:meth:`baselines`, and the outputs on ``test`` of those that predict per example
        (as the model's postprocessed outputs, keyed by baseline name) for the paired tests."""
        return self.baselines(train, test), {}

    def compare(self, targets: np.ndarray, outputs: np.ndarray, baseline_outputs: np.ndarray,
                meta: dict[str, Any], baseline: str = "scratch", seed: int = 0,
                wording: dict[str, str] | None = None) -> dict[str, Any] | None:
        """A paired test of the transferred model against a baseline on the same test examples:
        ``{"baseline", "metric", "diff", "ci", "p_value", "test", "verdict", "sentence"}``
        (None: the task has no paired test). ``wording``: ``what``, ``subject`` and ``advice``
        of :func:`transferkit.stats.verdict` (e.g. adapt's "adaptation")."""
        return None

    def gain_warning(self, gain: float | None, baseline: str = "scratch") -> str | None:
        """The plain-words warning when the transferred model loses to a baseline."""
        if gain is None or gain >= 0.0:
            return None
        return (f"negative transfer: the transferred model's test {self.gain_label or self.gain_metric} "
                f"is {abs(gain):.3f} below the {baseline} baseline's. Transfer did not help here; "
                "try another backbone or strategy, or train without transfer.")

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        """The plain-words warning when the selected model is no better than a constant
        answer on the test set (``metrics["test"]``), judged against ``baselines``."""
        return None

    def headline(self, metrics: dict[str, Any]) -> str:
        """One console line for a split's metrics."""
        return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        """One dict per input for ``predict``'s CSV/JSON output (postprocessed outputs)."""
        raise NotImplementedError

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """One prediction per input (``Predictor.predict``): the most probable class name."""
        classes = list(meta["classes"])
        return [classes[int(i)] for i in np.asarray(outputs).argmax(axis=1)]

    def predict_inputs(self, predictor: Any, inputs: Any) -> list[dict[str, Any]] | None:
        """``transferkit predict``'s rows for ``inputs`` when this task reads them itself (e.g.
        series files to forecast); None: the modality's reader and :meth:`prediction_rows`."""
        return None

    def answer_inputs(self, predictor: Any, items: list[Any]) -> list[dict[str, Any]] | None:
        """``serve``'s answers for raw ``items`` when this task answers them itself (e.g. whole
        series to forecast); None: :meth:`answers` of the model's outputs on them."""
        return None

    def evaluate_inputs(self, predictor: Any, data: Any, split: str, data_kwargs: dict[str, Any]
                        ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
        """``evaluate``'s (targets, outputs, what was evaluated) when this task reads the run's
        data itself (e.g. a multimodal run's table); None: the run's recorded data section."""
        return None

    def answers(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        """One JSON object per input for ``serve``'s answers (postprocessed outputs)."""
        return self.prediction_rows(outputs, meta)

    def predictions_for(self, items: Any, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """:meth:`predictions` of the raw ``items`` the outputs came from (a task whose answer
        points into its input, e.g. entity spans with character offsets, reads them)."""
        return self.predictions(outputs, meta)

    def rows_for(self, items: Any, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        """:meth:`prediction_rows` of the raw ``items`` the outputs came from."""
        return self.prediction_rows(outputs, meta)

    def answers_for(self, items: Any, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        """:meth:`answers` of the raw ``items`` the outputs came from."""
        return self.answers(outputs, meta)

    def export_module(self, module: nn.Module, manifest: dict[str, Any]) -> nn.Module:
        """The module an export writes, given the model with positional tensor inputs
        (default: as it is; forecasting wraps it to read and write series' units)."""
        return module

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The exported model's output: ``name``, ``shape``, ``meaning`` (preprocessing.json)
        and ``card`` (one line of the model card)."""
        raise NotImplementedError

    def card(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """What the model card (MODEL_CARD.md of an export) says that depends on the task:
        ``noun`` (the kind of model), ``columns`` of the metrics table as (key, header,
        format; "pct" is a percentage), ``gain`` and ``gain_short`` (the transfer gain in words,
        formats with ``{gain}`` or ``{gain_pct}``), ``use`` (intended use) and ``limits`` (task-specific limitations)."""
        return {"noun": "classifier",
                "columns": (("accuracy", "accuracy", "pct"), ("balanced_accuracy", "balanced accuracy", "pct"),
                            ("macro_f1", "macro-F1", "pct"), ("ece", "ECE", ".3f")),
                "gain": "{gain_pct:+.1f} accuracy points", "gain_short": "{gain_pct:+.1f} pts",
                "use": f"Classifying {manifest.get('modality', '')} inputs like the target data above "
                       "into the listed classes.",
                "limits": ["Probabilities are only as calibrated as the ECE above says.",
                           "It always answers with one of the known classes, even for unrelated inputs."]}

    # ------------------------------------------------------------------ examples
    @classmethod
    def tiny_example(cls, workdir: Any) -> dict[str, Any]:
        """``fit`` keywords for a small dataset of this task's kind (``data=``, maybe
        ``label_column=``), written under ``workdir`` if needed: what the contract tests fit."""
        return {"data": "breast-cancer-wdbc"}

    # ------------------------------------------------------------------ inference
    @classmethod
    def matches(cls, y: Any) -> tuple[bool, str]:
        """Whether labels ``y`` look like this task's targets, and why (for ``--task`` inference)."""
        return False, ""
