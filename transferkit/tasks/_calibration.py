"""Calibrated probabilities and label-prior shift for classification.

**Temperature scaling** (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017,
https://arxiv.org/abs/1706.04599): one temperature ``T > 0`` divides every logit,
``p(y|x) = softmax(z / T)``; ``T`` minimises the negative log-likelihood of the validation
split (L-BFGS on ``log T``). The argmax -- and with it the accuracy -- does not change.
**Bias-corrected temperature scaling** (BCTS, Alexandari et al., ICML 2020) adds one bias per
class, ``softmax(z / T + b)``; it is what makes EM and the prior shift work, so ``auto`` uses
it before a prior correction. Without a validation split both are fitted on a linear probe's
cross-fitted (out-of-fold) outputs of its training examples (:func:`calibration_set`).

**Label-prior shift** (Saerens, Latinne & Decaestecker, "Adjusting the Outputs of a
Classifier to New a Priori Probabilities", Neural Computation 2002): a classifier trained
on the prior ``pi_train`` is moved to a target prior ``pi_t`` by
``p'(y|x) ∝ p(y|x) * pi_t(y) / pi_train(y)`` (:mod:`transferkit.tasks._prior`). When ``pi_t``
is unknown, EM estimates it from unlabelled target inputs (the test inputs, or the user's
``prior_pool``): re-weight the posteriors with the current estimate, take
their mean as the next estimate, repeat until it stops moving.

Both end up in the head (:class:`CalibratedLinear`) as buffers --
``logits = (W f + b) / T + b_cal + log(pi_t / pi_train)`` -- so every prediction, ``serve`` answer
and ONNX/TorchScript export of the saved model gives the corrected probabilities.

>>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
>>> shift_posteriors(p, [0.5, 0.5], [0.75, 0.25]).round(3).tolist()
[[0.964, 0.036], [0.429, 0.571]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from torch import nn

from transferkit.tasks._decision import choose_threshold, decide, parse_decision
from transferkit.tasks._prior import (
    _normalised,
    bbse_prior,
    em_prior,
    log_prior_ratio,
    match_counts,
    match_prior,
    read_prior,
    shift_posteriors,
)

#: the temperature is searched in [exp(-LOG_T_BOUND), exp(LOG_T_BOUND)]
LOG_T_BOUND = 10.0
#: a bias-corrected calibration's class biases are searched in [-BIAS_BOUND, BIAS_BOUND]
BIAS_BOUND = 20.0


class CalibratedLinear(nn.Linear):
    """The classification head: ``(B, D) -> (B, K)``, ``(W f + b) / T + log_prior_ratio``.

    ``temperature`` (1,) and ``log_prior_ratio`` (K,) are buffers, saved with the weights;
    they are 1 and 0 while the head trains, so it trains as a plain ``nn.Linear``.
    ``normalize_input`` (1,) is 1 for a prototype head (:mod:`transferkit.tasks._prototypes`),
    which scores L2-normalised features (``f / ||f||``, cosine similarity), else 0.
    Weights saved before these buffers existed load with those identity values.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("temperature", torch.ones(1))
        self.register_buffer("log_prior_ratio", torch.zeros(out_features))
        self.register_buffer("normalize_input", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, K)
        if bool(self.normalize_input):  # a constant of the saved model: traced/exported as such
            x = torch.nn.functional.normalize(x, dim=-1)
        return super().forward(x) / self.temperature + self.log_prior_ratio

    def set_adjustment(self, temperature: float = 1.0, log_prior_ratio: Sequence[float] | None = None) -> None:
        """Store a fitted temperature and a log prior ratio (None: no prior correction)."""
        with torch.no_grad():
            self.temperature.fill_(float(temperature))
            if log_prior_ratio is None:
                self.log_prior_ratio.zero_()
            else:
                self.log_prior_ratio.copy_(torch.as_tensor(np.asarray(log_prior_ratio), dtype=torch.float32))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # weights written before calibration existed: identity temperature, no prior shift
        state_dict.setdefault(prefix + "temperature", torch.ones(1))
        state_dict.setdefault(prefix + "log_prior_ratio", torch.zeros(self.out_features))
        state_dict.setdefault(prefix + "normalize_input", torch.zeros(1))
        super()._load_from_state_dict(state_dict, prefix, *args)


# --------------------------------------------------------------------------- temperature


def logits_of(probs: np.ndarray) -> np.ndarray:
    """Logits (up to a per-row constant, which softmax ignores) of probabilities ``(N, K)``."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-300, None))


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of labels ``y`` under ``softmax(logits / temperature)``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(y)), np.asarray(y, dtype=np.int64)].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature ``T`` minimising :func:`nll` of ``(logits (N, K), y (N,))``.

    The NLL is convex in ``1/T``, so L-BFGS on ``t = log T`` (gradient
    ``mean_i sum_k (p_ik - [k = y_i]) * (-z_ik / T)``) finds the one minimum.

    >>> z = np.array([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])  # over-confident
    >>> fit_temperature(z, np.array([0, 1, 1, 0])) > 1
    True
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if not len(y):
        return 1.0
    z = z - z.max(axis=1, keepdims=True)
    onehot = np.eye(z.shape[1])[y]

    def objective(t: np.ndarray) -> tuple[float, np.ndarray]:
        scaled = z / np.exp(t[0])  # (N, K)
        logp = log_softmax(scaled, axis=1)
        value = -float((logp * onehot).sum(axis=1).mean())
        grad = float(((np.exp(logp) - onehot) * -scaled).sum(axis=1).mean())
        return value, np.array([grad])

    result = minimize(objective, np.zeros(1), jac=True, method="L-BFGS-B",
                      bounds=[(-LOG_T_BOUND, LOG_T_BOUND)])
    return float(np.exp(result.x[0]))


def fit_bcts(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Bias-corrected temperature scaling (BCTS; Alexandari, Kundaje & Shrikumar, "Maximum
    Likelihood with Bias-Corrected Calibration is Hard-To-Beat at Label Shift Adaptation",
    ICML 2020): ``p(y|x) = softmax(z / T + b)``, ``(T, b)`` minimising the NLL of
    ``(logits (N, K), y (N,))`` -- temperature scaling plus one bias per class, which removes
    a systematic preference for some classes. EM on such posteriors estimates a shifted prior
    far better than on uncalibrated ones (their Table 1). ``b`` is centred (softmax ignores a
    common shift); L-BFGS on ``(log T, b)`` with the exact gradient
    ``d/ds = (softmax(s) - onehot) / N`` through ``s = z / T + b``.

    >>> z = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> T, b = fit_bcts(z, np.array([0, 1, 1, 1]))   # class 0 over-predicted
    >>> bool(b[1] > b[0])
    True
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    k = z.shape[1] if z.ndim == 2 else 0
    if not len(y) or k < 2:
        return 1.0, np.zeros(k)
    z = z - z.max(axis=1, keepdims=True)
    onehot = np.eye(k)[y]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        scaled = z / np.exp(theta[0])  # (N, K)
        logp = log_softmax(scaled + theta[1:], axis=1)
        resid = (np.exp(logp) - onehot) / len(y)  # dNLL/ds
        grad = np.concatenate([[float((resid * -scaled).sum())], resid.sum(axis=0)])
        return -float((logp * onehot).sum(axis=1).mean()), grad

    bound = [(-LOG_T_BOUND, LOG_T_BOUND)] + [(-BIAS_BOUND, BIAS_BOUND)] * k
    result = minimize(objective, np.zeros(k + 1), jac=True, method="L-BFGS-B", bounds=bound)
    bias = result.x[1:] - result.x[1:].mean()
    return float(np.exp(result.x[0])), bias


def probabilities(logits: np.ndarray) -> np.ndarray:
    """``softmax`` over the last axis (float64)."""
    return softmax(np.asarray(logits, dtype=np.float64), axis=1)


# --------------------------------------------------------------------------- the fit's step


def calibration_set(task: Any, splits: Any, val_outputs: np.ndarray | None,
                    head: nn.Module | None = None) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(logits, labels, kind, words) a calibration is fitted on: the labelled validation
    split when it has >= 2 labelled examples (kind ``val``); else, when the head's solver
    cross-validated on the training labels and ``head`` still holds the weights it solved
    (not trained further, e.g. by LP-FT), their cross-fitted (out-of-fold) outputs (kind
    ``cross-fitted``); else nothing (kind ``none``). Never the test split."""
    if val_outputs is not None:
        y_val = np.asarray(splits.val.y, dtype=np.int64)
        labelled = y_val >= 0
        if labelled.sum() >= 2:
            return (logits_of(val_outputs)[labelled], y_val[labelled], "val",
                    f"the {int(labelled.sum())} labelled validation examples")
    crossed = getattr(task, "cross_fitted_", None)
    solved = getattr(task, "solved_head_", None)
    same = (head is None or solved is not None and isinstance(head, nn.Linear)
            and torch.equal(head.weight.detach().cpu(), solved[0]) and torch.equal(head.bias.detach().cpu(), solved[1]))
    if crossed is not None and len(crossed[1]) >= 2 and same:
        return (np.asarray(crossed[0], dtype=np.float64), np.asarray(crossed[1]), "cross-fitted",
                f"the out-of-fold outputs of the {len(crossed[1])} training examples (k-fold "
                "cross-fitting: there is no validation split)")
    return np.zeros((0, 0)), np.zeros(0, np.int64), "none", ""


def _choose_method(task: Any, z_cal: np.ndarray, y_cal: np.ndarray, kind: str,
                   log: Callable[[str], None]) -> tuple[str, str]:
    """(method, why): the config's calibration resolved against the data there is.
    ``auto`` is bias-corrected temperature scaling when a prior correction follows (EM and the
    prior shift need calibrated class biases, Alexandari et al. 2020), else temperature scaling."""
    method = str(task.config.calibration)
    correcting = str(task.config.prior_correction) != "none"
    if kind == "none":
        if method in ("temperature", "bcts"):
            log(f"[yellow]warning: calibration={method} skipped: no labelled validation split to fit "
                "it on; set data.val_fraction > 0.[/yellow]")
        return "none", "there is no labelled validation split (nor cross-fitted outputs) to fit it on"
    if method != "auto":
        return method, f"set to '{method}'"
    # every calibration example right: the NLL falls as T -> 0, the fit would make every
    # probability 0 or 1 (6 carved fine-foods examples: test ECE 0.12 -> 0.33)
    if bool((z_cal.argmax(1) == y_cal).all()):
        return "none", "'auto': every calibration example is already right, so the fitted temperature would be 0"
    if correcting:
        return "bcts", ("'auto': a prior correction follows, which needs calibrated class biases "
                        "(bias-corrected temperature scaling, Alexandari et al. 2020)")
    return "temperature", "'auto': there are labelled calibration examples"


def calibrate(task: Any, head: CalibratedLinear, splits: Any, val_outputs: np.ndarray | None,
              test_outputs: np.ndarray, log: Callable[[str], None]
              ) -> tuple[np.ndarray | None, np.ndarray, dict[str, Any]]:
    """The classification task's step after training (``Task.adjust``): fit the calibration
    (``task.config.calibration``) on :func:`calibration_set`, then move the probabilities to the
    target prior (``task.config.prior_correction``), store both in ``head`` and return the
    adjusted (val, test) probabilities and the summary sections ``calibration``,
    ``prior_correction`` and ``decision``. The test split's labels are read only for the
    before/after metrics; EM reads unlabelled inputs' probabilities, never labels."""
    from transferkit.tasks.classification import calibration_curve, classification_metrics

    classes = [str(c) for c in splits.train.classes]
    y_test = np.asarray(splits.test.y, dtype=np.int64)
    z_test = logits_of(test_outputs)
    z_val = logits_of(val_outputs) if val_outputs is not None else None
    z_cal, y_cal, kind, words = calibration_set(task, splits, val_outputs, head)
    method, why = _choose_method(task, z_cal, y_cal, kind, log)
    temperature, cal_bias = 1.0, np.zeros(len(classes))
    if method == "temperature":
        temperature = fit_temperature(z_cal, y_cal)
    elif method == "bcts":
        temperature, cal_bias = fit_bcts(z_cal, y_cal)
    before = classification_metrics(y_test, probabilities(z_test))
    after = classification_metrics(y_test, probabilities(z_test / temperature + cal_bias))
    fitted = method != "none"
    sections: dict[str, Any] = {"calibration": {
        "method": method, "why": why, "temperature": temperature,
        "bias": _by_class(cal_bias, classes) if method == "bcts" else None,
        "fitted_on": kind if fitted else None, "fitted_on_words": words if fitted else None,
        "n_val": int(len(y_cal)) if fitted else 0,
        "val_nll_before": nll(z_cal, y_cal) if fitted else None,
        "val_nll_after": nll(z_cal / temperature + cal_bias, y_cal) if fitted else None,
        "ece_before": before["ece"], "ece_after": after["ece"],
        "accuracy_before": before["accuracy"], "accuracy_after": after["accuracy"],
        "curve_before": calibration_curve(y_test, probabilities(z_test)),
    }}
    if fitted:
        log(f"[bold]calibration[/bold] {method} (T {temperature:.3f}"
            + (", class bias " + ", ".join(f"{b:+.3f}" for b in cal_bias) if method == "bcts" else "")
            + f") fitted on {words}: test ECE {before['ece']:.4f} -> {after['ece']:.4f}")
    label_bias, train_prior = label_free_bias(task, splits, z_test / temperature, classes, sections, log)
    offset = cal_bias + label_bias
    if str(task.config.prior_correction) != "none":
        offset = offset + _prior_step(task, splits, z_test, temperature, offset, label_bias, train_prior,
                                      classes, sections, log, cal=(z_cal, y_cal))
    head.set_adjustment(temperature, offset if offset.any() else None)
    val_adj = probabilities(z_val / temperature + offset) if z_val is not None else None
    test_adj = probabilities(z_test / temperature + offset)
    _decision_step(task, classes, splits, val_adj, test_adj, sections, log)
    return val_adj, test_adj, sections


def _prior_step(task: Any, splits: Any, z_test: np.ndarray, temperature: float, offset: np.ndarray,
                label_bias: np.ndarray, train_prior: np.ndarray, classes: list[str],
                sections: dict[str, Any], log: Callable[[str], None],
                cal: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The per-class bias of the prior correction (added to ``offset``, the calibration's
    bias), its summary section and log line. EM (and BBSE's and 'match''s predictions) run on
    the calibrated outputs of the user's unlabelled pool (``prior_pool``) when given, else of
    the test inputs; BBSE's confusion matrix comes from ``cal`` (the calibration's labelled
    examples: validation or cross-fitted training outputs)."""
    from transferkit.tasks.classification import classification_metrics

    y_test = np.asarray(splits.test.y, dtype=np.int64)
    pool = getattr(task, "pool_outputs_", None)
    on_pool = pool is not None and len(pool) > 0
    if on_pool:
        em_on = logits_of(pool) / temperature + offset
        em_words = (f"EM (Saerens et al. 2002) on the calibrated posteriors of the {len(pool)} inputs "
                    f"of the unlabelled pool '{getattr(task.config, 'prior_pool', None)}'")
    else:
        em_on = z_test / temperature + offset
        em_words = (f"EM (Saerens et al. 2002) on the calibrated posteriors of the {len(z_test)} test "
                    "inputs, without their labels (transductive)")
    em, iterations = em_prior(probabilities(em_on), train_prior)
    bbse = None
    if cal is not None and len(cal[1]):
        bbse = bbse_prior((cal[0] / temperature + offset).argmax(1), cal[1], em_on.argmax(1), len(classes))
    estimates = {"em": (em, em_words), "bbse": (bbse, (
        f"BBSE (Lipton et al. 2018): the confusion matrix of the {len(cal[1]) if cal else 0} calibration "
        f"examples against the predicted classes of the {len(em_on)} {'pool' if on_pool else 'test'} "
        "inputs, without their labels"))}
    choice, target, source = _target_prior(task, splits, on_pool, estimates, classes, log)
    rule = "match" if choice.startswith("match") else "shift"
    if rule == "match":  # counts matched on the inputs EM reads (the pool, else the test inputs)
        shift, _ = match_counts(em_on, target)
        source += (f"; predictions matched to its class counts on the {len(em_on)} "
                   f"{'pool' if on_pool else 'test'} inputs (proportional assignment, labels unused)")
    else:
        shift = log_prior_ratio(train_prior, target)
    share = np.bincount((em_on + shift).argmax(axis=1), minlength=len(classes)) / max(len(em_on), 1)
    # before: the model without prior correction and without the calibration's class bias,
    # i.e. what --prior-correction none gives (a temperature does not move the argmax)
    before = classification_metrics(y_test, probabilities(z_test / temperature + label_bias))
    corrected = classification_metrics(y_test, probabilities(z_test / temperature + offset + shift))
    sections["prior_correction"] = {
        "method": choice, "rule": rule, "source": source,
        "prior": _by_class(target, classes), "train_prior": _by_class(_normalised(train_prior), classes),
        "em_prior": _by_class(em, classes), "em_iterations": iterations,
        "bbse_prior": _by_class(bbse, classes) if bbse is not None else None,
        "em_on": "pool" if on_pool else "test inputs", "predicted_share": _by_class(share, classes),
        "accuracy_before": before["accuracy"], "accuracy_after": corrected["accuracy"],
        "balanced_accuracy_before": before["balanced_accuracy"],
        "balanced_accuracy_after": corrected["balanced_accuracy"],
    }
    log(f"[bold]prior correction[/bold] {choice} prior "
        + ", ".join(f"{c} {p:.3f}" for c, p in zip(classes, target, strict=True))
        + f" (training {', '.join(f'{p:.3f}' for p in _normalised(train_prior))}): test accuracy "
        f"{before['accuracy']:.4f} -> {corrected['accuracy']:.4f}, balanced accuracy "
        f"{before['balanced_accuracy']:.4f} -> {corrected['balanced_accuracy']:.4f}")
    return shift


def _target_prior(task: Any, splits: Any, has_pool: bool,
                  estimates: dict[str, tuple[np.ndarray | None, str]], classes: list[str],
                  log: Callable[[str], None]) -> tuple[str, np.ndarray, str]:
    """(method, target prior, where it comes from) of ``task.config.prior_correction``:
    ``auto`` is EM on a given pool, else the recorded pool prior, else EM on the test inputs;
    ``match`` / ``match:FILE`` take the recorded prior (else EM's) / the file's prior;
    ``bbse`` falls back to EM (with a warning) when a class has no calibration example."""
    em, em_words = estimates["em"]
    choice = str(task.config.prior_correction)
    if choice == "bbse":
        bbse, words = estimates["bbse"]
        if bbse is not None:
            return "bbse", bbse, words
        log("[yellow]warning: prior_correction=bbse needs labelled calibration examples of every "
            "class (a validation split, or a linear probe's cross-fitted shots); EM used instead.[/yellow]")
        choice = "em"

    known = splits.train.meta.get("class_prior")
    if choice == "auto":
        choice = "em" if has_pool else "known" if known else "em"
    if choice == "match":
        if known:
            return "match", _normalised(known), "the labelled pool's class counts before --shots"
        return "match", em, em_words
    if choice.startswith("match:"):
        path = choice[len("match:"):]
        return "match:file", read_prior(path, classes), f"the file '{path}'"
    if choice == "known":
        return choice, _normalised(known), "the labelled pool's class counts before --shots"
    if choice == "em":
        return choice, em, em_words
    return "file", read_prior(choice, classes), f"the file '{choice}'"


def _decision_step(task: Any, classes: list[str], splits: Any, val_adj: np.ndarray | None,
                   test_adj: np.ndarray, sections: dict[str, Any], log: Callable[[str], None]) -> None:
    """``task.config.decision``: the threshold (stored in ``task.decision_``) and its section."""
    rule = parse_decision(task.config.decision)
    task.decision_ = None
    if rule is None:
        return
    y_test = np.asarray(splits.test.y, dtype=np.int64)
    y_val = np.asarray(splits.val.y, dtype=np.int64) if val_adj is not None else np.zeros(0, np.int64)
    labelled = y_val >= 0
    positive = classes.index(task.config.positive_class) if task.config.positive_class else 1
    val_pos = (val_adj[labelled, positive], y_val[labelled] == positive) if val_adj is not None else None
    decision = choose_threshold(rule, val_pos, test_adj[:, positive], y_test == positive)
    decision = {"rule": task.config.decision, "positive": classes[positive], "positive_index": positive,
                **decision}
    sections["decision"] = decision
    if decision.get("threshold") is not None:
        task.decision_ = {k: decision[k] for k in ("rule", "positive", "positive_index", "threshold")}
        log(f"[bold]decision[/bold] predict '{classes[positive]}' when its probability is >= "
            f"{decision['threshold']:.4f} ({decision['chosen_by']}): test precision "
            f"{decision['test_precision']:.4f}, recall {decision['test_recall']:.4f}")
    else:
        log(f"[yellow]warning: decision {task.config.decision} not applied: {decision['why']}[/yellow]")


def label_free_bias(task: Any, splits: Any, logits: np.ndarray, classes: Sequence[str],
                    sections: dict[str, Any], log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """(per-class bias, training prior) of the head before any prior correction. With labelled
    training examples the bias is 0 and the prior their class counts. A head built without
    labels (``--shots 0``: prototypes) has a uniform prior, and -- with ``bias_calibration``
    'uniform' (what 'auto' means there) -- a bias from :func:`match_prior` on the unlabelled
    test inputs (their labels are read only for the before/after metrics): the mean predicted
    distribution becomes uniform, which removes the preference of the class names."""
    from transferkit.tasks.classification import classification_metrics

    train_y = np.asarray(splits.train.y, dtype=np.int64)
    counts = np.bincount(train_y[train_y >= 0], minlength=len(classes)).astype(np.float64)
    bias = np.zeros(len(classes))
    if counts.sum() > 0:
        return bias, counts
    uniform = np.full(len(classes), 1.0 / len(classes))
    method = str(getattr(task.config, "bias_calibration", "none"))
    if method == "auto":
        method = "uniform"
    if method == "none" or not len(logits):
        return bias, uniform
    implicit, iterations = match_prior(probabilities(logits), uniform)
    bias = log_prior_ratio(implicit, uniform)
    y_test = np.asarray(splits.test.y, dtype=np.int64)
    before = classification_metrics(y_test, probabilities(logits))
    after = classification_metrics(y_test, probabilities(logits + bias))
    sections["bias_calibration"] = {
        "method": method, "fitted_on": f"the {len(logits)} test inputs, without their labels",
        "bias": _by_class(bias, classes), "iterations": iterations,
        "balanced_accuracy_before": before["balanced_accuracy"],
        "balanced_accuracy_after": after["balanced_accuracy"],
        "accuracy_before": before["accuracy"], "accuracy_after": after["accuracy"]}
    log("[bold]bias calibration[/bold] no labels: per-class bias "
        + ", ".join(f"{c} {b:+.3f}" for c, b in zip(classes, bias, strict=True))
        + f" makes the mean prediction on the {len(logits)} unlabelled test inputs uniform: balanced "
        f"accuracy {before['balanced_accuracy']:.4f} -> {after['balanced_accuracy']:.4f}")
    return bias, uniform


def _by_class(prior: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    return {c: round(float(p), 6) for c, p in zip(classes, prior, strict=True)}


__all__ = ["CalibratedLinear", "calibrate", "calibration_set", "fit_bcts", "choose_threshold", "decide", "em_prior", "label_free_bias", "match_prior", "parse_decision", "fit_temperature", "log_prior_ratio", "logits_of", "nll",
           "probabilities", "read_prior", "shift_posteriors"]
