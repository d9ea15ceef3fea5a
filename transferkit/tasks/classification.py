"""Single-label classification: one class per example, a softmax head, cross-entropy.

Metrics are computed from labels and predicted probabilities with scikit-learn, plus the
expected calibration error (ECE, Guo et al. 2017, 15 equal-width bins):
``ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)|``. The loop selects on validation
accuracy; the transfer gain is the test-accuracy difference.

After training (:meth:`ClassificationTask.adjust`), a temperature fitted on the validation
split calibrates the probabilities, and an optional label-prior correction moves them to
the target's class prior (see :mod:`transferkit.tasks._calibration`); both are stored in
the head, so predict, serve and exports apply them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from torch import nn

from transferkit.errors import ConfigError, DataError
from transferkit.options import Options, option
from transferkit.tasks import TASKS
from transferkit.tasks._base import Accumulator, Task
from transferkit.tasks._calibration import CalibratedLinear, decide

NEGATIVE_TRANSFER_MARGIN = 0.0


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins (Guo et al., ICML 2017)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


def calibration_curve(y: np.ndarray, probs: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Per-bin mean confidence, accuracy and count (for the report's reliability plot)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if in_bin.any():
            out["confidence"].append(float(conf[in_bin].mean()))
            out["accuracy"].append(float(correct[in_bin].mean()))
            out["count"].append(float(in_bin.sum()))
    return out


def classification_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str] | None = None,
                           detailed: bool = False, pred: np.ndarray | None = None) -> dict[str, Any]:
    """accuracy, balanced_accuracy, macro_f1, ece (and, with ``detailed``, the per-class
    report, confusion matrix and calibration curve). The predicted classes are ``pred``
    when given (e.g. a decision threshold), else the most probable ones.

    >>> import numpy as np
    >>> classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))["accuracy"]
    1.0
    """
    y = np.asarray(y, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(y):
        raise DataError(f"Expected probabilities of shape (N, K) for {len(y)} labels; got {probs.shape}.")
    if (y < 0).any():
        raise DataError("Metrics need labels; this data has unlabelled examples (label -1).")
    k = probs.shape[1]
    if len(y) and y.max() >= k:
        raise DataError(
            f"A label index ({int(y.max())}) is outside the model's {k} classes: the data has a "
            "class the model never saw. Evaluate on data with the model's classes."
        )
    pred = probs.argmax(axis=1) if pred is None else np.asarray(pred, dtype=np.int64)
    labels = list(range(k))
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(_balanced_accuracy(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=sorted(set(y.tolist())), average="macro",
                                   zero_division=0)),
        "ece": expected_calibration_error(y, probs),
        "n": int(len(y)),
    }
    if detailed:
        names = classes or [str(i) for i in labels]
        p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        out["per_class"] = {
            names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                       "support": int(s[i])}
            for i in labels
        }
        out["confusion_matrix"] = confusion_matrix(y, pred, labels=labels).tolist()
        out["calibration"] = calibration_curve(y, probs)
    return out


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return float(accuracy_score(y, pred))
    return float(balanced_accuracy_score(y, pred))


def _fast_metrics(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[float, float, float]:
    """(accuracy, balanced accuracy, macro-F1 over the classes present in ``y``) with bincounts:
    the same definitions as :func:`classification_metrics`, fast enough to bootstrap."""
    correct = pred == y
    support = np.bincount(y, minlength=k).astype(np.float64)
    hits = np.bincount(y, weights=correct, minlength=k)
    predicted = np.bincount(pred, minlength=k).astype(np.float64)
    present = support > 0
    recall = hits[present] / support[present]
    precision = np.divide(hits[present], predicted[present], out=np.zeros(present.sum()),
                          where=predicted[present] > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(recall),
                   where=(precision + recall) > 0)
    return float(correct.mean()), float(recall.mean()), float(f1.mean())


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray,
                      prior: np.ndarray | list[float] | None = None) -> dict[str, float]:
    """Accuracy of always predicting the majority class.

    The majority class comes from ``prior`` (class counts or frequencies, e.g. of the
    labelled pool before k-shot sampling) when given, else from ``y_train``'s counts. A
    balanced few-shot set ties every class, and its "majority" would be class 0.
    """
    if prior is not None and len(prior):
        counts = np.asarray(prior, dtype=np.float64)
    else:
        counts = np.bincount(y_train[y_train >= 0])
    majority = int(counts.argmax()) if len(counts) else 0
    pred = np.full(len(y_test), majority)
    return {"accuracy": float(accuracy_score(y_test, pred)),
            "balanced_accuracy": _balanced_accuracy(y_test, pred), "class": majority}


#: balanced accuracy must beat chance (1/K) by this much, or the floor warning is given
CHANCE_MARGIN = 0.02


def floor_warning(test: dict[str, Any], majority: dict[str, Any] | None, n_classes: int,
                  classes: list[str] | None = None) -> str | None:
    """The plain sentence for a model that is no better than a constant answer on the test
    set: balanced accuracy not above chance (``1/K + CHANCE_MARGIN``), or accuracy below
    always predicting the majority class; None when the model clears both."""
    if n_classes < 2 or "balanced_accuracy" not in test:
        return None
    chance = 1.0 / n_classes
    problems = []
    if test["balanced_accuracy"] <= chance + CHANCE_MARGIN:
        problems.append(f"its balanced accuracy {test['balanced_accuracy']:.1%} is not above chance "
                        f"(1/{n_classes} = {chance:.1%})")
    if majority and "accuracy" in majority and test["accuracy"] < majority["accuracy"]:
        k = majority.get("class")
        name = f" '{classes[k]}'" if classes is not None and k is not None and k < len(classes) else ""
        problems.append(f"its accuracy {test['accuracy']:.1%} is below always answering the majority "
                        f"class{name} ({majority['accuracy']:.1%})")
    if not problems:
        return None
    if len(problems) == 2 or "chance" in problems[0]:
        tail = ("this model is no better than a constant answer, so do not use it as is: train "
                "longer or with more labels, or try another backbone or strategy.")
    else:
        tail = ("on this test set's class mix a constant answer is more accurate; use the model "
                "only if its balanced accuracy is what matters, or give it more labels.")
    return "below the floor: on the test set " + " and ".join(problems) + "; " + tail


def transfer_gain(metrics: dict[str, Any], baseline: dict[str, Any] | None,
                  key: str = "accuracy") -> float | None:
    """Test-metric difference transfer minus baseline (None without a baseline)."""
    if not baseline or "test" not in baseline or key not in baseline["test"]:
        return None
    return float(metrics["test"][key] - baseline["test"][key])


def negative_transfer_warning(gain: float | None, name: str = "scratch") -> str | None:
    """The plain-words warning when the transferred model loses to its baseline."""
    if gain is None or gain >= -NEGATIVE_TRANSFER_MARGIN:
        return None
    return (f"negative transfer: the transferred model is {abs(gain) * 100:.1f} accuracy points "
            f"below the {name} baseline on the test set. Transfer did not help here; try another "
            "backbone or strategy, or train without transfer.")


#: integer-valued numeric labels with more distinct values than this are not taken as classes
MAX_NUMERIC_CLASSES = 50


class ClassificationAccumulator(Accumulator):
    """Validation loss (mean cross-entropy), accuracy and balanced accuracy; unlabelled
    examples (label -1) are ignored."""

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []
        self.preds: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:  # (B, K), (B,)
        self.losses.append(torch.nn.functional.cross_entropy(outputs, targets, reduction="sum",
                                                             ignore_index=-1))
        self.preds.append(outputs.argmax(1).cpu())
        self.labels.append(targets.cpu())

    def compute(self) -> dict[str, float]:
        if not self.labels:
            return {}
        y_true = torch.cat(self.labels).numpy()
        y_pred = torch.cat(self.preds).numpy()
        mask = y_true >= 0
        y_true, y_pred = y_true[mask], y_pred[mask]
        if y_true.size == 0:
            return {}
        recalls = [float((y_pred[y_true == c] == c).mean()) for c in np.unique(y_true)]
        return {"loss": float(torch.stack(self.losses).sum()) / y_true.size,
                "accuracy": float((y_pred == y_true).mean()),
                "balanced_accuracy": float(np.mean(recalls))}


@dataclass
class ClassificationConfig(Options):
    """Parameters of the classification task."""

    calibration: str = option("auto", "Probability calibration fitted after training, on the "
                              "validation split (or, without one, on the cross-fitted outputs of a "
                              "linear probe's training examples): 'temperature' (one temperature, Guo "
                              "et al. 2017; the predicted classes do not change), 'bcts' (temperature "
                              "plus one bias per class, Alexandari et al. 2020), 'none', or 'auto' "
                              "(bcts when a prior correction follows, else temperature; none when "
                              "there is nothing to fit it on).",
                              choices=("auto", "temperature", "bcts", "none"))
    prior_correction: str = option("none", "Label-prior shift: 'auto' (the recorded pool prior, "
                                   "else 'em'), 'em' / 'bbse' (estimated from the unlabelled test inputs: "
                                   "EM, Saerens et al. 2002; black-box shift estimation, Lipton et al. "
                                   "2018), a JSON/CSV file of class frequencies (p(y|x) * prior(y) / "
                                   "train_prior(y)), 'match' / 'match:FILE' (one bias per class: the "
                                   "unlabelled inputs are predicted in the prior's proportions), 'none'.")
    prior_pool: str | None = option(None, "A file or folder of unlabelled target inputs (as predict "
                                    "reads them: images, a text or table CSV) on which EM estimates the "
                                    "target's class prior, instead of the test split's inputs; with "
                                    "prior_correction 'auto' it is used before a recorded pool prior.")
    decision: str = option("none", "Binary classification: how the predicted class is decided from "
                           "the (calibrated) probability of the positive class: 'cost=FN:FP' (cost of "
                           "a false negative : of a false positive; Bayes-optimal threshold "
                           "FP / (FP + FN)), 'precision=P' or 'recall=R' (a threshold meeting the "
                           "target on the validation split), or 'none' (the most probable class).")
    positive_class: str | None = option(None, "The positive class of 'decision' (None: the second "
                                        "class in the run's class order).")
    head_init: str = option("auto", "How the head starts: 'prototypes' (a text backbone embeds each "
                            "class's name or description in 'template'; the head scores the cosine "
                            "similarity to them, so it predicts with zero labels and --shots K fits "
                            "it towards them), 'random', or 'auto' (prototypes with --shots 0 or "
                            "class_descriptions, else random).", choices=("auto", "prototypes", "random"))
    class_descriptions: str | None = option(None, "A text file with one line per class, "
                                            "'name<TAB>description' or 'name: description', embedded "
                                            "instead of the bare class names (head_init prototypes).")
    template: str = option("This is about {}.", "The sentence each class name or description is put "
                           "into before it is embedded ('{}' marks where), e.g. 'This review is "
                           "about {}.'.")
    prototype_scale: float = option(20.0, "Prototype head: the inverse temperature s of "
                                    "softmax(s * cosine similarity).", gt=0)
    bias_calibration: str = option("auto", "A head built without labels (--shots 0): 'uniform' fits "
                                   "one bias per class so that the mean prediction on the unlabelled "
                                   "test inputs is uniform (removes the class names' preferences; "
                                   "labels unused), 'none', or 'auto' (uniform).",
                                   choices=("auto", "uniform", "none"))

    def __post_init__(self) -> None:
        super().__post_init__()
        value = str(self.prior_correction)
        path = value[len("match:"):] if value.startswith("match:") else value
        if value not in ("auto", "bbse", "em", "match", "none") and not Path(path).is_file():
            raise ConfigError("The 'prior_correction' parameter must be auto, bbse, em, match, none, a JSON/CSV "
                              f"file of class frequencies or match:FILE. Got {value!r} instead (no such "
                              f"file: {path!r}).")
        if self.prior_pool is not None and not Path(str(self.prior_pool)).exists():
            raise ConfigError("The 'prior_pool' parameter must be a file or folder of unlabelled "
                              f"inputs. Got {str(self.prior_pool)!r} instead (no such file or folder).")
        if self.prior_pool is not None and value == "none":
            raise ConfigError("The 'prior_pool' parameter is read by the prior correction, which is "
                              "'none'. Set prior_correction to 'auto', 'em' or 'match' (--prior-correction em), "
                              "or drop prior_pool.")
        from transferkit.tasks._calibration import parse_decision
        from transferkit.tasks._prototypes import prototype_texts

        parse_decision(self.decision)
        prototype_texts(["x"], None, str(self.template))  # a template without '{}' fails here
        if self.class_descriptions is not None and not Path(str(self.class_descriptions)).is_file():
            raise ConfigError("The 'class_descriptions' parameter must be a text file of "
                              "'name<TAB>description' lines. Got "
                              f"{str(self.class_descriptions)!r} instead (no such file).")


@TASKS.register("classification", config=ClassificationConfig,
                help="Single-label classification: one class per example "
                "(softmax head, cross-entropy; selects on accuracy).")
class ClassificationTask(Task):
    """One class per example: a linear head with K outputs, cross-entropy (label smoothing and
    class weights from the training config), softmax probabilities."""

    name = "classification"
    keeps_test_outputs = True
    selection_metric = "accuracy"
    directions = {"accuracy": "max", "balanced_accuracy": "max", "loss": "min"}
    gain_metric = "accuracy"
    shots_meaning = "labelled training examples per class"

    def __init__(self, config: ClassificationConfig | None = None) -> None:
        super().__init__(config if config is not None else ClassificationConfig())
        #: the decision rule fitted after training (``decision``), None: the most probable class
        self.decision_: dict[str, Any] | None = None
        #: how the head was initialised (``init_head``), None: randomly
        self.head_init_: dict[str, Any] | None = None
        #: (out-of-fold logits, labels) of the training examples from the head's solver, when
        #: it cross-validated; None otherwise
        self.cross_fitted_: tuple[np.ndarray, np.ndarray] | None = None
        #: (weight, bias) the solver wrote; a head trained further (LP-FT) no longer matches them
        self.solved_head_: tuple[torch.Tensor, torch.Tensor] | None = None
        #: outputs of the model on the user's unlabelled pool (``prior_pool``), set before ``adjust``
        self.pool_outputs_: np.ndarray | None = None

    def fit_targets(self, train: Any) -> None:
        # checked before training: these settings are used only after it
        classes = [str(c) for c in train.classes]
        if self.config.prior_correction not in ("auto", "bbse", "em", "match", "none"):
            from transferkit.tasks._calibration import read_prior

            value = str(self.config.prior_correction)
            read_prior(value[len("match:"):] if value.startswith("match:") else value, classes)
        if self.config.decision == "none" and self.config.positive_class is None:
            return
        if len(classes) != 2:
            raise ConfigError(f"The 'decision' parameter applies to binary classification; the data "
                              f"has {len(classes)} classes. Drop task_params.decision.")
        if self.config.positive_class is not None and str(self.config.positive_class) not in classes:
            raise ConfigError(f"The 'positive_class' parameter must be one of {', '.join(classes)}. "
                              f"Got {self.config.positive_class!r} instead.")

    def output_dim(self, data: Any) -> int:
        return len(data.classes)

    def describe_targets(self, data: Any) -> dict[str, Any]:
        if self.decision_ is not None:  # predict and serve read it from transferkit.json
            return {"classes": list(data.classes), "decision": dict(self.decision_)}
        return {"classes": list(data.classes)}

    def check_targets(self, manifest: dict[str, Any]) -> str | None:
        classes = [str(c) for c in manifest.get("classes") or []]
        outputs = (manifest.get("head") or {}).get("num_classes")
        dupes = sorted({c for c in classes if classes.count(c) > 1})
        if dupes:
            return f"lists the classes {dupes} more than once; each class needs one name."
        if outputs is not None and outputs != len(classes):
            return f"lists {len(classes)} classes but its head has {outputs} outputs."
        return None

    def build_head(self, in_dim: int, out_dim: int) -> nn.Module:
        return CalibratedLinear(in_dim, out_dim)

    def init_head(self, model: nn.Module, train: Any) -> dict[str, Any] | None:
        """``head_init``: prototypes from the class names or descriptions, embedded by a text
        backbone (see :func:`transferkit.tasks._prototypes.prototype_head`); None: random."""
        from transferkit.tasks._prototypes import prototype_head

        self.head_init_ = prototype_head(self.config, model, train) \
            if isinstance(getattr(model, "head", None), CalibratedLinear) else None
        return self.head_init_

    def adjust(self, model: nn.Module, splits: Any, val_outputs: np.ndarray | None,
               test_outputs: np.ndarray, log: Callable[[str], None]
               ) -> tuple[np.ndarray | None, np.ndarray, dict[str, Any]]:
        """Temperature scaling and prior correction (the config says which), stored in the
        head; see :func:`transferkit.tasks._calibration.calibrate`."""
        if not isinstance(getattr(model, "head", None), CalibratedLinear):
            return val_outputs, test_outputs, {}
        from transferkit.tasks._calibration import calibrate

        val_outputs, test_outputs, sections = calibrate(self, model.head, splits, val_outputs,
                                                        test_outputs, log)
        if self.head_init_ is not None:
            sections["head_init"] = self.head_init_
        return val_outputs, test_outputs, sections

    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        from transferkit.train.regularizers import (
            CrossEntropyObjective,
            class_weights,
            dataset_labels,
        )

        weight = None
        if train_cfg.class_weights == "auto":
            if num_outputs is None:
                raise ConfigError("class_weights='auto' needs the number of classes: pass "
                                  "num_classes to Trainer.")
            weight = class_weights(dataset_labels(train_data), int(num_outputs))
        return CrossEntropyObjective(forward, label_smoothing=train_cfg.label_smoothing,
                                     weight=weight, l2_sp=l2_sp)

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.float(), targets.long(), reduction="none")

    def solve_head(self, head: nn.Module, x: np.ndarray, y: np.ndarray, train_cfg: Any,
                   seed: int = 0, val: tuple[np.ndarray, np.ndarray] | None = None,
                   solver: str = "lbfgs", backbone: Any = None) -> dict[str, Any] | None:
        self.cross_fitted_ = None
        if bool(getattr(head, "normalize_input", 0)):  # a prototype head: fit towards them
            from transferkit.tasks._prototypes import solve_prototype_head

            return solve_prototype_head(head, x, y, val=val, seed=seed)
        # multinomial logistic regression is exactly a linear head under cross-entropy
        if not isinstance(head, nn.Linear) or head.bias is None:
            return None
        from transferkit.train.convex import fit_logistic_head, fit_ridge_classifier_head

        balanced = "balanced" if train_cfg.class_weights == "auto" else None
        if solver == "ridge":  # alpha by leave-one-out on the training labels (the val split stays held out)
            # calibrated already: its temperature is fitted on the leave-one-out scores
            weight, bias, info = fit_ridge_classifier_head(x, y, head.out_features, class_weight=balanced)
        else:
            weight, bias, info = fit_logistic_head(
                x, y, head.out_features, seed=seed, x_val=val[0] if val else None,
                y_val=val[1] if val else None, class_weight=balanced, cross_fit=True)
            # cross-fitted outputs of the training examples: calibration's data when there is no
            # validation split (see transferkit.tasks._calibration.calibration_set)
            oof = info.pop("oof_logits", None)
            self.cross_fitted_ = None if oof is None else (oof, np.asarray(y, dtype=np.int64))
        self.solved_head_ = (weight.clone(), bias.clone())  # the OOF outputs stand for this head only
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.copy_(bias)
        return info

    def accumulator(self) -> Accumulator:
        return ClassificationAccumulator()

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:  # (B, K) logits -> probabilities
        return torch.softmax(outputs.float(), dim=1)

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        return classification_metrics(targets, outputs, meta.get("classes"), detailed=detailed,
                                      pred=decide(outputs, meta.get("decision")))

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        # the pool's class counts before k-shot sampling, when the loader recorded them
        return {"majority": majority_baseline(train.y, test.y, train.meta.get("class_prior"))}

    def baselines_with_outputs(self, train: Any, test: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The majority class, and the plain tools a practitioner would fit on the same
        training split (texts: TF-IDF + logistic regression; tables: gradient boosting and
        logistic regression; see :mod:`transferkit.tasks._plain`), with their test answers."""
        from transferkit.tasks._plain import plain_classifiers

        plain = self.baselines(train, test)
        k = max(len(train.classes), int(plain["majority"]["class"]) + 1)
        outputs = {"majority": np.eye(k)[np.full(len(test.y), int(plain["majority"]["class"]))]}
        tools, tool_outputs = plain_classifiers(train, test, lambda y, p: classification_metrics(y, p))
        return {**plain, **tools}, {**outputs, **tool_outputs}

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        classes = meta.get("classes")
        n = len(classes) if classes is not None else int(meta.get("num_classes", 0) or 0)
        return floor_warning(metrics.get("test", {}), baselines.get("majority"), n, classes)

    def intervals(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                  seed: int = 0) -> dict[str, Any]:
        """Percentile bootstrap CIs of accuracy, balanced accuracy and macro-F1, resampling
        test examples within each class (the test set's class counts are kept)."""
        from transferkit.stats import LEVEL, N_BOOT, iter_resamples

        y = np.asarray(targets, dtype=np.int64)
        if len(y) < 2:
            return {}
        pred = decide(outputs, meta.get("decision"))
        k = max(int(np.asarray(outputs).shape[1]), int(y.max()) + 1)
        values = np.array([_fast_metrics(y[i], pred[i], k)
                           for i in iter_resamples(len(y), N_BOOT, seed, strata=y)])  # (B, 3)
        tail = (1.0 - LEVEL) / 2.0
        lo, hi = np.quantile(values, tail, axis=0), np.quantile(values, 1.0 - tail, axis=0)
        return {"level": LEVEL, "n_boot": N_BOOT, "seed": seed, "stratified": True,
                **{name: [float(lo[j]), float(hi[j])]
                   for j, name in enumerate(("accuracy", "balanced_accuracy", "macro_f1"))}}

    def gain_warning(self, gain: float | None, baseline: str = "scratch") -> str | None:
        return negative_transfer_warning(gain, baseline)

    def compare(self, targets: np.ndarray, outputs: np.ndarray, baseline_outputs: np.ndarray,
                meta: dict[str, Any], baseline: str = "scratch", seed: int = 0,
                wording: dict[str, str] | None = None) -> dict[str, Any] | None:
        """Accuracy difference with McNemar's exact test and a paired, class-stratified
        bootstrap CI; the verdict follows the test (p < 0.05), never the sign alone."""
        from transferkit.stats import LEVEL, mcnemar, paired_bootstrap, verdict

        y = np.asarray(targets, dtype=np.int64)
        base_rule = (meta.get("baseline_head") or {}).get("decision")  # the baseline's own threshold
        pred, base = decide(outputs, meta.get("decision")), decide(baseline_outputs, base_rule)
        test = mcnemar(pred == y, base == y)
        boot = paired_bootstrap(lambda t, p: float((t == p).mean()), y, pred, base, seed=seed, strata=y)
        ci = (boot["ci_low"], boot["ci_high"])
        kind, sentence = verdict(boot["diff"], ci, test["p_value"], baseline=baseline, test="McNemar",
                                 **(wording or {}))
        return {"baseline": baseline, "metric": "accuracy", "diff": boot["diff"], "ci": list(ci),
                "level": LEVEL, "p_value": test["p_value"], "test": "McNemar (exact)",
                "discordant": [test["only_a"], test["only_b"]], "verdict": kind, "sentence": sentence}

    def test_arrays(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray] | None:
        return {"y": np.asarray(targets, dtype=np.int64), "outputs": np.asarray(outputs, dtype=np.float32)}

    def headline(self, metrics: dict[str, Any]) -> str:
        ci = metrics.get("ci") or {}
        around = (f" ({ci['level'] * 100:.0f} % CI {ci['accuracy'][0]:.4f} … {ci['accuracy'][1]:.4f})"
                  if "accuracy" in ci else "")
        return f"accuracy {metrics['accuracy']:.4f}{around}, balanced {metrics['balanced_accuracy']:.4f}"

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        classes = list(meta["classes"])
        return [classes[int(i)] for i in decide(outputs, meta.get("decision"))]

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        classes = list(meta["classes"])
        return [{"class": classes[int(i)],
                 **{f"p_{c}": round(float(v), 6) for c, v in zip(classes, p, strict=True)}}
                for i, p in zip(decide(outputs, meta.get("decision")), outputs, strict=True)]

    def answers(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        classes = list(meta["classes"])
        return [{"class": classes[int(i)],
                 "probabilities": {c: round(float(v), 6) for c, v in zip(classes, p, strict=True)}}
                for i, p in zip(decide(outputs, meta.get("decision")), outputs, strict=True)]

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        classes = list(meta.get("classes") or [])
        return {"name": "logits", "dtype": "float32", "shape": ["batch", len(classes)],
                "meaning": "softmax(logits) gives the probabilities of `classes`, in order",
                "card": f"logits over {len(classes)} classes, in this order: "
                        + ", ".join(f"`{c}`" for c in classes) + ". Softmax gives probabilities."}

    @classmethod
    def matches(cls, y: Any) -> tuple[bool, str]:
        from sklearn.utils.multiclass import type_of_target

        values = np.asarray(y)
        try:
            numeric = values.astype(np.float64)
        except (TypeError, ValueError):
            return True, "the labels are names"
        kind = type_of_target(numeric)
        distinct = len(np.unique(numeric))
        if kind == "continuous":
            return False, f"the labels are non-integer numbers ({distinct} distinct values)"
        if distinct > MAX_NUMERIC_CLASSES:
            return False, (f"the labels are {distinct} distinct integers (more than "
                           f"{MAX_NUMERIC_CLASSES}, so they look like amounts, not classes)")
        return True, f"the labels take {distinct} distinct values ({kind})"
