"""Multi-label classification: a set of labels per example (possibly empty), a sigmoid
per label, binary cross-entropy.

The head is linear with one output (logit) per label; ``sigmoid(logit)`` is the label's
probability and the label is predicted when it reaches the label's threshold. The
thresholds are chosen once after training on the **validation** split only, each label's
maximising its F1 over :data:`THRESHOLDS` (ties: the one nearest 0.5; a label without a
positive in the validation split keeps 0.5); without validation data every threshold is
0.5 and the summary says so. They are kept in the head (a buffer saved with the weights)
and in ``transferkit.json``, so ``predict``, ``serve`` and the exported model's
documentation use the same ones.

Metrics: micro-F1 (the selection metric and the transfer gain's), macro-F1 over the
labels with a positive in the split, mAP (mean over those labels of scikit-learn's
``average_precision_score``; labels without a positive are skipped and listed), subset
accuracy (the whole set right), and per-label precision/recall/F1/AP (detailed).
Baselines: ``prior`` (each label's training frequency as its score, thresholded at 0.5)
and ``constant`` (the one label set that maximises micro-F1 on the training split, e.g.
"the most frequent labels", answered for every example).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import DataError
from transferkit.options import Options, option
from transferkit.tasks import TASKS
from transferkit.tasks._base import Accumulator, Task, with_l2_sp

#: candidate thresholds each label's is chosen from on the validation split
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)
#: the threshold of a label without validation data
DEFAULT_THRESHOLD = 0.5
#: inverse L2 strengths the convex head tries (chosen on validation mAP)
C_GRID = (0.01, 0.1, 1.0)
#: the model's test micro-F1 must beat the best constant answer's by this much
FLOOR_MARGIN = 0.0


@dataclass
class MultilabelConfig(Options):
    """Parameters of the multilabel task."""

    pos_weight: str = option("none", "Weight of each label's positive examples in the loss: 'none', "
                             "or 'auto' (negatives / positives of the training split, capped at "
                             "100; for rare labels).", choices=("none", "auto"))


class MultilabelHead(nn.Linear):
    """A linear head with one logit per label and the labels' decision thresholds (on the
    probability scale) in a buffer saved with the weights."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("thresholds", torch.full((out_features,), DEFAULT_THRESHOLD))


def _as_multi_hot(y: np.ndarray, k: int | None = None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 2 or (k is not None and y.shape[1] != k):
        raise DataError(f"Expected label sets as a multi-hot matrix (N, {k or 'L'}); got shape "
                        f"{y.shape}. Read the data with --label-separator or --label-columns.")
    return y.astype(bool)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(np.shape(tp), dtype=np.float64), where=denom > 0)


def multilabel_metrics(y: np.ndarray, probs: np.ndarray, thresholds: Any = DEFAULT_THRESHOLD,
                       classes: list[str] | None = None, detailed: bool = False) -> dict[str, Any]:
    """micro_f1, macro_f1, map, subset_accuracy of probabilities ``probs`` (N, L) against
    multi-hot ``y`` (N, L) with per-label ``thresholds`` (and, with ``detailed``, per-label
    precision, recall, F1, AP, support and threshold).

    >>> m = multilabel_metrics(np.array([[1, 0], [1, 1]]), np.array([[0.9, 0.2], [0.6, 0.4]]))
    >>> m["micro_f1"], m["subset_accuracy"]
    (0.8, 0.5)
    """
    from sklearn.metrics import average_precision_score

    probs = np.asarray(probs, dtype=np.float64)
    y = _as_multi_hot(y, probs.shape[1] if probs.ndim == 2 else None)
    if len(probs) != len(y):
        raise DataError(f"Expected probabilities for {len(y)} examples; got {len(probs)}.")
    if not len(y):
        raise DataError("Metrics need labelled examples; this split has none.")
    names = list(classes) if classes is not None else [str(j) for j in range(y.shape[1])]
    pred = probs >= np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (y.shape[1],))
    tp, fp, fn = (pred & y).sum(0), (pred & ~y).sum(0), (~pred & y).sum(0)  # (L,) each
    present = y.sum(0) > 0
    f1 = _f1(tp, fp, fn)
    ap = np.full(y.shape[1], np.nan)
    for j in np.flatnonzero(present):
        ap[j] = average_precision_score(y[:, j], probs[:, j])
    out: dict[str, Any] = {
        "micro_f1": float(_f1(tp.sum(), fp.sum(), fn.sum())),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "map": float(np.nanmean(ap)) if present.any() else 0.0,
        "subset_accuracy": float((pred == y).all(axis=1).mean()),
        "n": int(len(y)),
    }
    skipped = [names[j] for j in np.flatnonzero(~present)]
    if skipped:
        out["map_skipped"] = skipped  # no positive in this split: no AP, no F1 in the macro mean
    if detailed:
        prec = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=(tp + fp) > 0)
        rec = np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=(tp + fn) > 0)
        thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (y.shape[1],))
        out["per_label"] = {
            names[j]: {"precision": float(prec[j]), "recall": float(rec[j]), "f1": float(f1[j]),
                       "ap": None if np.isnan(ap[j]) else float(ap[j]), "support": int(y[:, j].sum()),
                       "threshold": float(thr[j])}
            for j in range(y.shape[1])}
    return out


def micro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Micro-averaged F1 of binary predictions ``pred`` against ``y`` (both (N, L))."""
    y, pred = np.asarray(y, dtype=bool), np.asarray(pred, dtype=bool)
    return float(_f1(np.array((y & pred).sum()), np.array((~y & pred).sum()), np.array((y & ~pred).sum())))


def choose_thresholds(y: np.ndarray, probs: np.ndarray,
                      candidates: np.ndarray = THRESHOLDS) -> tuple[np.ndarray, list[int]]:
    """Per-label thresholds maximising each label's F1 on (validation) data (ties: nearest
    0.5), and the indices of the labels without a positive there (kept at 0.5)."""
    y = np.asarray(y, dtype=bool)
    probs = np.asarray(probs, dtype=np.float64)
    out = np.full(y.shape[1], DEFAULT_THRESHOLD)
    untuned = []
    for j in range(y.shape[1]):
        if not y[:, j].any():
            untuned.append(j)
            continue
        pred = probs[:, j][:, None] >= candidates[None, :]  # (N, T)
        pos = y[:, j][:, None]
        f1 = _f1((pred & pos).sum(0), (pred & ~pos).sum(0), (~pred & pos).sum(0))  # (T,)
        best = np.flatnonzero(f1 == f1.max())
        out[j] = float(candidates[best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]])
    return out, untuned


def constant_baseline(y_train: np.ndarray, y_test: np.ndarray,
                      prior: np.ndarray | None = None) -> dict[str, Any]:
    """The best constant answer: the label set, among "the k most frequent labels" for
    every k (k = all: every label), with the highest micro-F1 on the training split,
    given to every test example; and its test metrics."""
    y_train, y_test = np.asarray(y_train, dtype=bool), np.asarray(y_test, dtype=bool)
    freq = np.asarray(prior, dtype=np.float64) if prior is not None else y_train.mean(0)
    order = np.argsort(-freq, kind="stable")
    best_k, best = 1, -1.0
    for k in range(1, y_train.shape[1] + 1):
        answer = np.zeros(y_train.shape[1], dtype=bool)
        answer[order[:k]] = True
        score = micro_f1(y_train, np.broadcast_to(answer, y_train.shape))
        if score > best:
            best_k, best = k, score
    answer = np.zeros(y_train.shape[1], dtype=bool)
    answer[order[:best_k]] = True
    scores = np.broadcast_to(answer.astype(np.float64), y_test.shape)
    return {**multilabel_metrics(y_test, scores, 0.5), "labels": [int(j) for j in order[:best_k]]}


def _ovr_logistic(z: torch.Tensor, t: torch.Tensor, c: float, w: torch.Tensor, b: torch.Tensor,
                  max_iter: int = 100) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Minimise ``sum_j [C * sum_i BCE(z_i w_j + b_j, t_ij) + |w_j|^2 / 2]`` (scikit-learn's
    binary ``LogisticRegression(C)`` per label; the bias is not penalised) with L-BFGS from
    ``(w, b)``: shapes ``z`` (N, D), ``t`` (N, L), ``w`` (L, D), ``b`` (L,). float32 and at
    most ``max_iter`` iterations: a probe head needs no more digits, and float64 ran 5x
    slower on a busy 2-core CPU."""
    w = w.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-6,
                            tolerance_change=1e-10, history_size=20, line_search_fn="strong_wolfe")
    n = len(z)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(z @ w.T + b, t, reduction="sum") / n \
            + (w * w).sum() / (2.0 * c * n)  # the sklearn objective divided by C * N
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    n_iter = int(opt.state[opt._params[0]].get("n_iter", 0))
    return w.detach(), b.detach(), n_iter


def _pos_weight(y: np.ndarray) -> torch.Tensor:
    """Each label's negatives / positives in the training targets (N, L), clipped to [1, 100]."""
    y = np.asarray(y, dtype=np.float64)  # (N, L)
    pos = y.sum(0)
    return torch.tensor(np.clip((len(y) - pos) / np.maximum(pos, 1), 1.0, 100.0), dtype=torch.float32)


class MultilabelObjective(nn.Module):
    """``BCEWithLogits(logits, y)`` (mean over examples and labels, optional ``pos_weight``) + L2-SP."""

    def __init__(self, forward: Callable[[nn.Module, Any], torch.Tensor],
                 pos_weight: torch.Tensor | None = None, l2_sp: Any = None) -> None:
        super().__init__()
        self.forward_fn, self.l2_sp = forward, l2_sp
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else None)

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, y = batch
        logits = self.forward_fn(model, inputs).float()  # (B, L)
        y = y.to(logits.device, torch.float32)  # (B, L)
        pw = self.pos_weight.to(logits.device) if self.pos_weight is not None else None
        loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)
        logs = {"bce": float(loss.detach())}
        return with_l2_sp(loss, logs, self.l2_sp)


class MultilabelAccumulator(Accumulator):
    """Validation loss (mean BCE), mAP, and micro-F1, macro-F1 and subset accuracy at 0.5
    (thresholds are chosen only after training)."""

    def __init__(self) -> None:
        self.outputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:  # (B, L), (B, L)
        self.outputs.append(outputs.detach().float().cpu())
        self.targets.append(targets.detach().float().cpu())

    def compute(self) -> dict[str, float]:
        if not self.targets:
            return {}
        logits, y = torch.cat(self.outputs), torch.cat(self.targets)
        loss = float(F.binary_cross_entropy_with_logits(logits, y))
        m = multilabel_metrics(y.numpy(), torch.sigmoid(logits).numpy())
        return {"loss": loss, **{k: m[k] for k in ("micro_f1", "macro_f1", "map", "subset_accuracy")}}


@TASKS.register("multilabel", config=MultilabelConfig,
                help="Multi-label classification: a set of labels per example (sigmoid per label, "
                "binary cross-entropy; thresholds chosen on validation data; selects on micro-F1).")
class MultilabelTask(Task):
    """A set of labels per example: a linear head with one logit per label, BCE, sigmoid
    probabilities, per-label thresholds chosen on validation data."""

    name = "multilabel"
    selection_metric = "micro_f1"
    directions = {"micro_f1": "max", "macro_f1": "max", "map": "max", "subset_accuracy": "max",
                  "loss": "min"}
    gain_metric = "micro_f1"
    gain_label = "micro-F1"
    shots_meaning = ("training rows, chosen greedily until every label has at least K positive "
                     "examples (labels_used counts the rows)")
    targets = "label_sets"

    def __init__(self, config: MultilabelConfig | None = None) -> None:
        super().__init__(config if config is not None else MultilabelConfig())

    # ------------------------------------------------------------------ targets
    def output_dim(self, data: Any) -> int:
        return len(data.classes)

    def describe_targets(self, data: Any) -> dict[str, Any]:
        return {"classes": list(data.classes), "multi_label": True,
                "label_separator": (data.meta or {}).get("label_separator")}

    def check_targets(self, manifest: dict[str, Any]) -> str | None:
        classes = [str(c) for c in manifest.get("classes") or []]
        outputs = (manifest.get("head") or {}).get("num_classes")
        if len(set(classes)) != len(classes):
            return "lists a label more than once; each label needs one name."
        if outputs is not None and outputs != len(classes):
            return f"lists {len(classes)} labels but its head has {outputs} outputs."
        thresholds = manifest.get("thresholds")
        if thresholds is not None and len(thresholds) != len(classes):
            return f"lists {len(thresholds)} thresholds for {len(classes)} labels."
        return None

    # ------------------------------------------------------------------ model
    def build_head(self, in_dim: int, out_dim: int) -> nn.Module:
        return MultilabelHead(in_dim, out_dim)

    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        pos_weight = _pos_weight(train_data.y) if self.config.pos_weight == "auto" else None
        return MultilabelObjective(forward, pos_weight, l2_sp)

    def solve_head(self, head: nn.Module, x: np.ndarray, y: np.ndarray, train_cfg: Any,
                   seed: int = 0, val: tuple[np.ndarray, np.ndarray] | None = None,
                   solver: str = "lbfgs", backbone: Any = None) -> dict[str, Any] | None:
        """One-vs-rest logistic regression -- one L2-regularised binary logistic regression per
        label, the objective scikit-learn's ``LogisticRegression(C)`` minimises, all labels in
        one full-batch L-BFGS (they are independent) -- on centred features scaled to unit
        mean square; one C for all labels, chosen on validation mAP (C = 1 without validation
        data), warm-started from the strongest regularisation."""
        if not isinstance(head, nn.Linear) or head.bias is None or self.config.pos_weight != "none":
            return None
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)  # (N, D)
        y = _as_multi_hot(y)
        mean = x.mean(axis=0)
        rms = float(np.linalg.norm(x - mean, axis=1).mean() / np.sqrt(x.shape[1])) or 1.0
        z = torch.from_numpy((x - mean) / rms).float()  # (N, D)
        t = torch.from_numpy(y.astype(np.float32))  # (N, L)
        w = torch.zeros(y.shape[1], x.shape[1])
        b = torch.zeros(y.shape[1])
        info: dict[str, Any] = {"solver": "lbfgs (one-vs-rest)"}
        grid = C_GRID
        z_val = None
        if val is not None and len(val[1]) and _as_multi_hot(val[1]).any():
            z_val = torch.from_numpy((np.asarray(val[0], dtype=np.float64).reshape(len(val[0]), -1) - mean)
                                     / rms).float()
        else:
            grid = (1.0,)
        fitted, scores, iters = {}, {}, 0
        for c in grid:  # increasing C: each fit starts from the last
            w, b, n_iter = _ovr_logistic(z, t, c, w, b)
            iters = max(iters, n_iter)
            fitted[c] = (w.clone(), b.clone())
            if z_val is not None:
                probs = torch.sigmoid(z_val @ w.T + b).numpy()
                scores[c] = multilabel_metrics(val[1], probs)["map"]  # type: ignore[index]
        if z_val is not None:
            c = max(grid, key=lambda k: (scores[k], -k))  # ties: the stronger regularisation
            info.update(c_chosen_on="the validation mAP", cv_scores={str(k): round(v, 4) for k, v in scores.items()})
        else:
            c = 1.0
            info["c_chosen_on"] = "the default (no validation data)"
        w, b = fitted[c]
        with torch.no_grad():
            head.weight.copy_(w / rms)
            head.bias.copy_(b - (w / rms) @ torch.from_numpy(mean).float())
        info.update(c=c, n_iter=iters)
        return info

    def fit_targets(self, train: Any) -> None:
        """Keep each label's positive weight (``pos_weight=auto``) for :meth:`example_loss`."""
        self._pos_weight = _pos_weight(train.y) if self.config.pos_weight == "auto" else None

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each example's BCE, the mean over its labels ``(B, L) x (B, L) -> (B,)``: their
        mean over a batch is the objective's loss."""
        logits = outputs.float()  # (B, L)
        y = targets.to(logits.device, torch.float32).reshape(logits.shape)  # (B, L)
        pw = getattr(self, "_pos_weight", None)
        return F.binary_cross_entropy_with_logits(
            logits, y, pos_weight=pw.to(logits.device) if pw is not None else None, reduction="none").mean(1)

    def accumulator(self) -> Accumulator:
        return MultilabelAccumulator()

    def tune_head(self, head: nn.Module, targets: np.ndarray | None,
                  outputs: np.ndarray | None) -> dict[str, Any] | None:
        if not hasattr(head, "thresholds"):
            return None
        k = head.thresholds.numel()
        if targets is None or outputs is None or not len(targets):
            values, untuned = np.full(k, DEFAULT_THRESHOLD), list(range(k))
            sentence = ("thresholds: 0.5 for every label (no validation data to choose them on; set "
                        "data.val_fraction > 0 to choose them)")
            source = "default 0.5 (no validation data)"
        else:
            values, untuned = choose_thresholds(_as_multi_hot(targets, k), outputs)
            source = "validation"
            sentence = (f"thresholds chosen on the validation split (per-label F1): "
                        f"{', '.join(f'{v:.2f}' for v in values)}")
            if untuned:
                sentence += f"; {len(untuned)} label(s) without a validation positive keep 0.5"
        with torch.no_grad():
            head.thresholds.copy_(torch.as_tensor(values, dtype=head.thresholds.dtype))
        head.threshold_source = source  # recorded in transferkit.json and the test metrics
        return {"thresholds": values.tolist(), "source": source, "untuned": untuned, "sentence": sentence}

    def describe_head(self, head: nn.Module) -> dict[str, Any]:
        if not hasattr(head, "thresholds"):
            return {}
        out: dict[str, Any] = {"thresholds": [round(float(v), 4) for v in head.thresholds.detach().cpu()]}
        if getattr(head, "threshold_source", None):
            out["threshold_source"] = head.threshold_source
        return out

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:  # (B, L) logits -> probabilities
        return torch.sigmoid(outputs.float())

    @staticmethod
    def _thresholds(meta: dict[str, Any], k: int) -> np.ndarray:
        values = meta.get("thresholds")
        return np.asarray(values, dtype=np.float64) if values is not None else np.full(k, DEFAULT_THRESHOLD)

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        outputs = np.asarray(outputs)
        out = multilabel_metrics(targets, outputs, self._thresholds(meta, outputs.shape[1]),
                                 meta.get("classes"), detailed=detailed)
        if detailed and meta.get("threshold_source"):  # e.g. "default 0.5 (no validation data)"
            out["thresholds_from"] = meta["threshold_source"]
        return out

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        if not len(test):
            return {}
        prior = train.meta.get("label_prior")
        freq = np.asarray(prior if prior is not None else np.asarray(train.y).mean(0), dtype=np.float64)
        scores = np.broadcast_to(freq, np.shape(test.y))
        return {"prior": {**multilabel_metrics(test.y, scores, DEFAULT_THRESHOLD),
                          "frequencies": [round(float(f), 4) for f in freq]},
                "constant": constant_baseline(train.y, test.y, freq)}

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        """Below the floor when the test micro-F1 is no better than the best constant answer
        (the same label set for every example, chosen on the training split)."""
        score = (metrics.get("test") or {}).get("micro_f1")
        floors = [(name, b["micro_f1"]) for name, b in baselines.items()
                  if name in ("prior", "constant") and isinstance(b, dict) and "micro_f1" in b]
        if not isinstance(score, (int, float)) or not floors:
            return None
        name, floor = max(floors, key=lambda t: t[1])
        if score > floor + FLOOR_MARGIN:
            return None
        classes = list(meta.get("classes") or [])
        labels = (baselines.get("constant") or {}).get("labels") or []
        what = ("always answering the same label set {" + ", ".join(classes[j] for j in labels if j < len(classes))
                + "}") if name == "constant" else "answering each label's training frequency"
        return (f"below the floor: on the test set its micro-F1 {score:.3f} is no better than {what} "
                f"(micro-F1 {floor:.3f}); do not use it as is: train longer or with more labels, or "
                "try another backbone or strategy.")

    def compare(self, targets: np.ndarray, outputs: np.ndarray, baseline_outputs: np.ndarray,
                meta: dict[str, Any], baseline: str = "scratch", seed: int = 0,
                wording: dict[str, str] | None = None) -> dict[str, Any] | None:
        """Micro-F1 difference with a paired bootstrap CI and p-value (each model decides with
        its own thresholds: the baseline's come in ``meta["baseline_head"]``)."""
        from transferkit.stats import LEVEL, paired_bootstrap, verdict

        y = _as_multi_hot(targets)
        k = y.shape[1]
        pred = np.asarray(outputs) >= self._thresholds(meta, k)
        base = np.asarray(baseline_outputs) >= self._thresholds(meta.get("baseline_head") or {}, k)
        boot = paired_bootstrap(micro_f1, y, pred, base, seed=seed)
        ci = (boot["ci_low"], boot["ci_high"])
        kind, sentence = verdict(boot["diff"], ci, boot["p_value"], baseline=baseline,
                                 unit="micro-F1 points", test="paired bootstrap", **(wording or {}))
        return {"baseline": baseline, "metric": "micro_f1", "diff": boot["diff"], "ci": list(ci),
                "level": LEVEL, "p_value": boot["p_value"], "test": "paired bootstrap",
                "verdict": kind, "sentence": sentence}

    def headline(self, metrics: dict[str, Any]) -> str:
        return (f"micro-F1 {metrics['micro_f1']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
                f"mAP {metrics['map']:.4f}, subset accuracy {metrics['subset_accuracy']:.4f}")

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """One label set (a list of names, possibly empty) per input."""
        classes = list(meta["classes"])
        outputs = np.asarray(outputs)
        keep = outputs >= self._thresholds(meta, outputs.shape[1])
        return [[classes[j] for j in np.flatnonzero(row)] for row in keep]

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        classes = list(meta["classes"])
        separator = meta.get("label_separator") or ";"
        return [{"labels": separator.join(labels),
                 **{f"p_{c}": round(float(v), 6) for c, v in zip(classes, p, strict=True)}}
                for labels, p in zip(self.predictions(outputs, meta), np.asarray(outputs), strict=True)]

    def answers(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        classes = list(meta["classes"])
        return [{"labels": labels,
                 "probabilities": {c: round(float(v), 6) for c, v in zip(classes, p, strict=True)}}
                for labels, p in zip(self.predictions(outputs, meta), np.asarray(outputs), strict=True)]

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        classes = list(meta.get("classes") or [])
        thresholds = [float(t) for t in self._thresholds(meta, len(classes))]
        pairs = ", ".join(f"`{c}` {t:g}" for c, t in zip(classes, thresholds, strict=True))
        return {"name": "logits", "dtype": "float32", "shape": ["batch", len(classes)],
                "meaning": "sigmoid(logits) gives each label's probability, in the order of `classes`; "
                           "a label is predicted when its probability >= its entry in `thresholds` "
                           "(chosen on validation data)",
                "thresholds": thresholds,
                "card": f"one logit per label over {len(classes)} labels; sigmoid gives each label's "
                        f"probability, and a label is predicted at or above its threshold: {pairs}."}

    def card(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return {"noun": "multi-label classifier",
                "columns": (("micro_f1", "micro-F1", "pct"), ("macro_f1", "macro-F1", "pct"),
                            ("map", "mAP", "pct"), ("subset_accuracy", "subset accuracy", "pct")),
                "gain": "{gain_pct:+.1f} micro-F1 points", "gain_short": "{gain_pct:+.1f} pts",
                "use": f"Tagging {manifest.get('modality', '')} inputs like the target data above with "
                       "any subset of the listed labels.",
                "limits": ["Thresholds were chosen on a small validation split; a label with few "
                           "validation positives has a noisy threshold.",
                           "It only knows the listed labels; an unrelated input may still get some."]}

    # ------------------------------------------------------------------ examples
    @classmethod
    def tiny_example(cls, workdir: Any) -> dict[str, Any]:
        """A synthetic table of 300 rows: tags ``hot`` (a > 0.3), ``big`` (b > 0), ``red``
        (c = 'x') joined by ';' in the column ``tags`` (an empty cell: no tag)."""
        import pandas as pd

        rng = np.random.default_rng(0)
        a, b = rng.normal(size=300), rng.normal(size=300)
        c = rng.choice(["x", "y"], 300)
        tags = [";".join(t for t, on in (("hot", ai > 0.3), ("big", bi > 0), ("red", ci == "x")) if on)
                for ai, bi, ci in zip(a, b, c, strict=True)]
        path = Path(workdir) / "multilabel-tiny.csv"
        pd.DataFrame({"a": a, "b": b, "c": c, "tags": tags}).to_csv(path, index=False)
        return {"data": str(path), "label_column": "tags", "label_separator": ";"}

    # ------------------------------------------------------------------ inference
    @classmethod
    def matches(cls, y: Any) -> tuple[bool, str]:
        return False, ("it takes label sets (--label-separator or --label-columns), and each example "
                       "has one label")
