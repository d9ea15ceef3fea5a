"""Token classification (named entities): one tag per word, judged on whole entities.

Data: sentences of words with IOB2 tags (CoNLL-style or JSONL files, the built-ins
``wnut16`` and ``bbc-news-ner``; see :mod:`transferkit.data.conll`). The backbone is a
text encoder read per word (:class:`~transferkit.backbones.tokens.TokenEncoder`: each
word's vector is its first sub-token's hidden state, the other sub-tokens carry no label
-- Hugging Face's token-classification recipe -- and long sentences are read in
overlapping windows and merged back). The head is linear on each word's vector and those
of its neighbours (``context`` words on each side, :class:`WordContextHead`; 0: the word's
own vector only); the loss is the cross-entropy over the words (padding ignored).

Metrics: entity-level precision, recall and F1 with seqeval's default (conlleval) rules --
an entity counts when its type and both ends match; F1 is the selection metric and the
transfer gain's -- token accuracy over words, and per-type scores (detailed). Baselines:
``all_o`` (every word outside an entity) and ``memoriser`` (each word's most frequent
training tag, lower-cased; unseen words ``O``). ``--shots K``: K training sentences in
total, sampled greedily so that every entity type appears (see
:func:`transferkit.data.tags.sample_sentences`); ``labels_used`` counts sentences.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.data.tags import IGNORE, allowed_transitions, decode_row, entity_types, spans
from transferkit.errors import ConfigError, DataError
from transferkit.options import Options, option
from transferkit.tasks import TASKS
from transferkit.tasks._base import Accumulator, Task, with_l2_sp

#: error examples a test report keeps
ERROR_EXAMPLES = 5
#: how a sentence's tags are read from its words' probabilities (``task_params.decode``)
DECODINGS = ("viterbi", "argmax")


@dataclass
class TokenClassificationConfig(Options):
    """Parameters of the token-classification task."""

    decode: str = option("viterbi", "How each sentence's tags are read from its words' tag "
                         "probabilities, for every metric (validation selection and test), "
                         "prediction and served entity: 'viterbi' (the most probable sequence -- "
                         "the largest sum of log-probabilities -- among valid IOB2 sequences: no "
                         "sentence starts with I-X, and I-X only follows B-X or I-X; no parameters) "
                         "or 'argmax' (each word's most probable tag, which can leave an I-X "
                         "without its B-X).", choices=DECODINGS)
    context: int = option(1, "Words on each side of a word whose vectors its tag is also read from: "
                          "the head is linear on the concatenated vectors of the 2 context + 1 "
                          "words centred on it (zeros past the sentence's ends) -- a 1-D "
                          "convolution over the words, solved in closed form like a linear probe "
                          "on cached features, where the probe also chooses how many of them it "
                          "reads (0 to context, with its C, by entity F1; the outer taps stay zero "
                          "and fine-tuning may use them). 0: each word's own vector only. The default 1 was "
                          "chosen on N1's validation sentences (WNUT-16, 500 sentences, seeds 0-2: "
                          "mean validation entity F1 42.1 / 44.3 / 40.5 % for 0 / 1 / 2; see "
                          "benchmarks/RESULTS.md).", ge=0, le=8)


def viterbi_codes(log_probs: np.ndarray, lengths: Sequence[int] | np.ndarray, start: np.ndarray,
                  follows: np.ndarray) -> np.ndarray:
    """The most probable tag codes of each sentence under hard transition constraints.

    ``log_probs`` ``(N, W, K)``: each word's log-probabilities; ``lengths`` ``(N,)``: the
    words of each sentence (positions past it are ignored); ``start`` ``(K,)`` and
    ``follows`` ``(K, K)`` (bool): the tags a sentence may start with, and ``follows[a, b]``
    that tag ``b`` may come after ``a`` (:func:`~transferkit.data.tags.allowed_transitions`).
    Returns int64 ``(N, W)`` codes maximising the sum of the words' log-probabilities over
    the allowed sequences (past a sentence's length: its last code, to be cut off). Dynamic
    programming over positions, all sentences at once: ``O(W K^2)`` per sentence.

    >>> lp = np.log([[[0.5, 0.1, 0.4], [0.4, 0.1, 0.5]]])  # O, B-PER, I-PER
    >>> viterbi_codes(lp, [2], *allowed_transitions(["O", "B-PER", "I-PER"])).tolist()
    [[0, 0]]
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    n, w, k = lp.shape
    codes = np.zeros((n, w), dtype=np.int64)
    if w == 0 or n == 0:
        return codes
    live_len = np.asarray(lengths, dtype=np.int64)  # (N,)
    trans = np.where(follows, 0.0, -np.inf)  # (K, K): 0 allowed, -inf not
    score = np.where(start, lp[:, 0], -np.inf)  # (N, K): the best path ending in each tag
    back = np.zeros((n, w, k), dtype=np.int64)  # (N, W, K): the previous tag of that path
    stay = np.broadcast_to(np.arange(k), (n, k))  # past a sentence's end: keep its last tag
    for t in range(1, w):
        cand = score[:, :, None] + trans  # (N, K_prev, K)
        best = cand.argmax(1)  # (N, K)
        new = np.take_along_axis(cand, best[:, None, :], 1)[:, 0] + lp[:, t]  # (N, K)
        live = (t < live_len)[:, None]  # (N, 1)
        score = np.where(live, new, score)
        back[:, t] = np.where(live, best, stay)
    codes[:, -1] = score.argmax(1)
    rows = np.arange(n)
    for t in range(w - 1, 0, -1):
        codes[:, t - 1] = back[rows, t, codes[:, t]]
    return codes


def decode_codes(probs: np.ndarray, lengths: Sequence[int] | np.ndarray, classes: Sequence[str],
                 decode: str = "viterbi") -> np.ndarray:
    """Tag codes ``(N, W)`` of words' tag probabilities ``(N, W, K)`` by ``decode`` (one of
    :data:`DECODINGS`; see :class:`TokenClassificationConfig`); ``lengths`` ``(N,)`` words
    per sentence (the positions past them are padding, whatever they hold)."""
    probs = np.asarray(probs)
    if decode == "argmax":
        return probs.argmax(-1) if probs.size else np.zeros(probs.shape[:2], dtype=np.int64)
    if decode != "viterbi":
        raise ConfigError(f"The 'decode' parameter of the token-classification task must be one of "
                          f"{', '.join(DECODINGS)}. Got {decode!r} instead.")
    if probs.shape[-1] != len(classes):
        raise DataError(f"Expected {len(classes)} tag probabilities per word (the run's classes); "
                        f"got {probs.shape[-1]}.")
    # a probability of 0 (padding, or underflow) is the smallest positive float: the path stays finite
    log_probs = np.log(np.maximum(probs.astype(np.float64), np.finfo(np.float64).tiny))
    return viterbi_codes(log_probs, lengths, *allowed_transitions(classes))


class WordContextHead(nn.Module):
    """Tag logits of each word from its own vector and those of the ``context`` words on
    each side: ``(B, W, D) -> (B, W, K)``, ``logits[b, i] = W [x_{i-c}; ...; x_{i+c}] + bias``
    with zero vectors past a sentence's ends (padded words are zero vectors; the model
    keeps them zero after a mapping, see :attr:`reads_neighbours`). A ``Conv1d`` over the
    word axis, kernel ``2 c + 1``; :meth:`set_window_weights` loads the ``(K, (2c+1) D)``
    weights of a linear map on :func:`window_rows`' features (the closed-form probe)."""

    #: the model zeroes padded words after the mapping, so that they read as a sentence's edge
    reads_neighbours = True

    def __init__(self, in_features: int, out_features: int, context: int = 1) -> None:
        super().__init__()
        self.in_features, self.out_features, self.context = int(in_features), int(out_features), int(context)
        self.conv = nn.Conv1d(self.in_features, self.out_features, 2 * self.context + 1, padding=self.context)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, W, D) -> (B, W, K)
        return self.conv(x.transpose(1, 2)).transpose(1, 2)

    @torch.no_grad()
    def set_window_weights(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Weights ``(K, (2c+1) D)`` ordered as :func:`window_rows` lays out a word's
        neighbourhood (the farthest word before it first), and bias ``(K,)``."""
        k, span = self.out_features, 2 * self.context + 1
        w = torch.as_tensor(weight, dtype=self.conv.weight.dtype).reshape(k, span, self.in_features)
        self.conv.weight.copy_(w.permute(0, 2, 1))  # (K, D, 2c+1): tap j reads word i + j - c
        self.conv.bias.copy_(torch.as_tensor(bias, dtype=self.conv.bias.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, context={self.context}"


#: inverse L2 strengths the token probe tries (features centred and scaled to unit mean square)
TOKEN_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
#: folds over the training sentences when the probe's strength is cross-validated
TOKEN_FOLDS = 3


def choose_token_c(x: np.ndarray, y: np.ndarray, classes: Sequence[str], decode: str, seed: int = 0,
                   val: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[float, dict[float, float], str]:
    """The L2 strength C of the token probe: the value of :data:`TOKEN_C_GRID` whose
    logistic regression on the words of ``x`` ``(N, W, D)`` / ``y`` ``(N, W)`` gives the best
    **entity F1** (the task's selection metric; tags read by ``decode``; ties: the better
    token accuracy, then the stronger regularisation) on the validation sentences ``val``,
    or without them on held-out sentences of :data:`TOKEN_FOLDS`-fold cross-validation over
    the training sentences (seeded; whole sentences per fold, so a word's neighbours never
    straddle a fold, and entities are scored whole). Returns C, each C's score and how it
    was chosen; C = 1 with fewer than 2 training sentences."""
    return token_c_path(x, y, classes, decode, seed, val)[:3]


def token_c_path(x: np.ndarray, y: np.ndarray, classes: Sequence[str], decode: str, seed: int = 0,
                 val: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[float, dict[float, float], str, tuple[torch.Tensor, torch.Tensor, int] | None]:
    """:func:`choose_token_c`, and with validation sentences also the head it chose: the
    weights and bias (:func:`~transferkit.train.convex.fold_logistic_head`) of the fit at that C,
    which was trained on every training word -- the final head, so it is not fitted again (a
    sixth of the probe's time with all of WNUT-16's 1,723 sentences) -- and its iterations
    (the path's warm-started ones at that C). ``None`` under
    cross-validation, whose fits saw only part of the sentences."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from transferkit._threads import blas_threads
    from transferkit.train.convex import centre_and_scale, fold_logistic_head

    x, y = np.asarray(x), np.asarray(y)
    n = len(y)
    if val is not None and len(val[1]):
        parts = [(np.arange(n), None)]
        how = "the validation sentences' entity F1"
    elif n >= 2:
        order = np.random.default_rng(seed).permutation(n)
        folds = np.array_split(order, min(TOKEN_FOLDS, n))
        parts = [(np.setdiff1d(order, held), held) for held in folds]
        how = f"the entity F1 of {len(folds)}-fold cross-validation over the training sentences"
    else:
        return 1.0, {}, "the default (fewer than 2 training sentences)", None
    f1s: dict[float, list[float]] = {c: [] for c in TOKEN_C_GRID}
    accs: dict[float, list[float]] = {c: [] for c in TOKEN_C_GRID}
    fits: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}  # C -> the fit on every training word
    with blas_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of small folds
        for train_idx, held in parts:
            x_h, y_h = (val[0], np.asarray(val[1])) if held is None else (x[held], y[held])
            width = min(x_h.shape[1], y_h.shape[1])
            x_h, y_h = x_h[:, :width], y_h[:, :width]
            xw, yw = word_rows(x[train_idx], y[train_idx])
            z, mean, std = centre_and_scale(xw)
            z_h = (x_h.reshape(-1, x_h.shape[-1]) - mean) / std
            # one path per fold from the strongest regularisation up, each fit starting from the
            # last: the same optimum to the solver's tolerance, in a fraction of the iterations
            model = LogisticRegression(solver="lbfgs", max_iter=1000, warm_start=True)
            for c in TOKEN_C_GRID:
                model.set_params(C=c).fit(z, yw)
                if held is None:  # trained on every training word: a candidate final head
                    fits[c] = (model.coef_.copy(), model.intercept_.copy(), model.classes_.copy(),
                               int(np.max(model.n_iter_)))
                probs = np.zeros((len(z_h), len(classes)))
                probs[:, model.classes_] = model.predict_proba(z_h)
                gold, pred = sentence_tags(y_h, probs.reshape(*x_h.shape[:2], -1), classes, decode)
                m = entity_metrics(gold, pred)
                f1s[c].append(m["entity_f1"])
                accs[c].append(m["token_accuracy"])
    scores = {c: float(np.mean(v)) for c, v in f1s.items()}
    ranked = [(-scores[c], -float(np.mean(accs[c])), c) for c in TOKEN_C_GRID]
    c = min(ranked)[2]
    if c not in fits:
        return c, scores, how, None
    coef, intercept, fitted, n_iter = fits[c]
    return c, scores, how, (*fold_logistic_head(coef, intercept, fitted, mean, std, len(classes)), n_iter)


def window_rows(x: np.ndarray, context: int) -> np.ndarray:
    """Per-word features ``(N, W, D)`` -> ``(N, W, (2c+1) D)``: each word's vector with those
    of the ``c = context`` words before and after it, farthest-before first, zeros past the
    ends of the array (padded words are zero vectors already).

    >>> window_rows(np.array([[[1.0], [2.0], [3.0]]]), 1)[0].tolist()
    [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 0.0]]
    """
    x = np.asarray(x)
    if not context:
        return x
    n, w, d = x.shape
    padded = np.zeros((n, w + 2 * context, d), dtype=x.dtype)
    padded[:, context:context + w] = x
    return np.concatenate([padded[:, j:j + w] for j in range(2 * context + 1)], axis=-1)


def _aligned(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``(B, W, K)`` and targets ``(B, W')`` cut to the same width: the wider one
    holds only padding past the narrower (a batch pads to its longest sentence, a split
    to its longest)."""
    w = min(outputs.shape[1], targets.shape[1])
    return outputs[:, :w], targets[:, :w].to(outputs.device, torch.long)


def sentence_tags(targets: np.ndarray, outputs: np.ndarray, classes: Sequence[str],
                  decode: str = "viterbi") -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag sequences of each sentence: the words are the positions
    whose target is not -100; the prediction is read from the words' tag probabilities
    ``(N, W, K)`` by ``decode`` (:func:`decode_codes`), or is given as codes ``(N, W)``."""
    targets = np.asarray(targets)
    outputs = np.asarray(outputs)
    if len(outputs) != len(targets):
        raise DataError(f"Expected outputs for {len(targets)} sentences; got {len(outputs)}.")
    lengths = (targets != IGNORE).sum(1) if targets.ndim == 2 else np.zeros(len(targets), dtype=np.int64)
    if len(lengths) and int(lengths.max()) > outputs.shape[1]:
        raise DataError(f"A sentence has {int(lengths.max())} words but only {outputs.shape[1]} predicted tags.")
    codes = decode_codes(outputs, lengths, classes, decode) if outputs.ndim == 3 else outputs  # (N, W)
    gold = [decode_row(t, classes) for t in targets]
    pred = [[classes[int(k)] for k in c[:n]] for c, n in zip(codes, lengths, strict=True)]
    return gold, pred


def entity_metrics(gold: list[list[str]], pred: list[list[str]], detailed: bool = False) -> dict[str, Any]:
    """Entity precision/recall/F1 (seqeval, default mode), token accuracy, and with
    ``detailed`` per-type scores.

    >>> m = entity_metrics([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]])
    >>> m["entity_f1"], m["token_accuracy"]
    (0.5, 0.75)
    """
    try:
        from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    except ImportError:
        raise ConfigError("Token classification's entity metrics need the seqeval package, which is "
                          "not installed. Install it: pip install transferkit[tokens].") from None

    if not gold:
        raise DataError("Metrics need labelled sentences; this split has none.")
    words = sum(len(g) for g in gold)
    right = sum(a == b for g, p in zip(gold, pred, strict=True) for a, b in zip(g, p, strict=True))
    out: dict[str, Any] = {
        "entity_f1": float(f1_score(gold, pred, zero_division=0)),
        "entity_precision": float(precision_score(gold, pred, zero_division=0)),
        "entity_recall": float(recall_score(gold, pred, zero_division=0)),
        "token_accuracy": float(right / max(words, 1)),
        "n": len(gold),
    }
    if detailed:
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
        out["per_type"] = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]),
                               "f1": float(v["f1-score"]), "support": int(v["support"])}
                           for k, v in report.items() if not k.endswith(" avg")}
    return out


class TokenObjective(nn.Module):
    """Cross-entropy over the words of a batch (padding ignored) + L2-SP."""

    def __init__(self, forward: Callable[[nn.Module, Any], torch.Tensor], l2_sp: Any = None) -> None:
        super().__init__()
        self.forward_fn, self.l2_sp = forward, l2_sp

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, y = batch
        logits, y = _aligned(self.forward_fn(model, inputs).float(), y)  # (B, W, K), (B, W)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)
        logs = {"ce": float(loss.detach())}
        return with_l2_sp(loss, logs, self.l2_sp)


class TokenAccumulator(Accumulator):
    """Validation loss (mean cross-entropy over words), entity F1 and token accuracy (tags
    read by ``decode``, see :func:`decode_codes`)."""

    def __init__(self, classes: Sequence[str], decode: str = "viterbi") -> None:
        self.classes = list(classes)
        self.decode = decode
        self.loss_sum, self.words = 0.0, 0
        self.gold: list[list[str]] = []
        self.pred: list[list[str]] = []

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:  # (B, W, K), (B, W)
        logits, y = _aligned(outputs.detach().float(), targets)
        valid = y != IGNORE
        self.loss_sum += float(F.cross_entropy(logits[valid], y[valid], reduction="sum")) if valid.any() else 0.0
        self.words += int(valid.sum())
        probs = torch.softmax(logits, dim=-1).cpu().numpy()  # (B, W, K)
        gold, pred = sentence_tags(y.cpu().numpy(), probs, self.classes, self.decode)
        self.gold += gold
        self.pred += pred

    def compute(self) -> dict[str, float]:
        if not self.gold:
            return {}
        m = entity_metrics(self.gold, self.pred)
        return {"loss": self.loss_sum / max(self.words, 1), "entity_f1": m["entity_f1"],
                "token_accuracy": m["token_accuracy"]}


def memoriser_tags(train_x: Sequence[Sequence[str]], train_y: np.ndarray, classes: Sequence[str],
                   sentences: Sequence[Sequence[str]]) -> list[list[str]]:
    """Each word's most frequent training tag (lower-cased match; ties: the first seen), ``O``
    for words never seen in training."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for words, row in zip(train_x, np.asarray(train_y), strict=True):
        for w, tag in zip(words, decode_row(row, classes), strict=False):
            seen[w.lower()][tag] += 1
    best = {w: c.most_common(1)[0][0] for w, c in seen.items()}
    return [[best.get(w.lower(), "O") for w in words] for words in sentences]


@TASKS.register("token-classification", config=TokenClassificationConfig, help="Token classification / named entities: a tag per word "
                "(IOB2), first sub-token per word, entity-level F1 (seqeval) selects.")
class TokenClassificationTask(Task):
    """A tag per word: a linear head on each word's vector, cross-entropy, entity-level F1."""

    name = "token-classification"
    selection_metric = "entity_f1"
    directions = {"entity_f1": "max", "token_accuracy": "max", "loss": "min"}
    tie_break = ("token_accuracy", "loss")
    gain_metric = "entity_f1"
    gain_label = "entity F1"
    shots_meaning = ("training sentences in total, sampled greedily so that every entity type "
                     "appears (labels_used counts sentences)")
    targets = "tags"
    #: the backbone reads words, not whole texts (the engine asks, see ``prepare_backbone``)
    per_token = True
    #: runs written before ``context`` existed have a linear head
    unrecorded_params = {"context": 0}

    def __init__(self, config: TokenClassificationConfig | None = None) -> None:
        super().__init__(config if config is not None else TokenClassificationConfig())

    def build_head(self, in_dim: int, out_dim: int) -> nn.Module:
        """A linear map of each word's vector, and of its ``context`` neighbours' (see
        :class:`WordContextHead`)."""
        context = int(self.config.context)
        return WordContextHead(in_dim, out_dim, context) if context else nn.Linear(in_dim, out_dim)

    def describe_head(self, head: nn.Module) -> dict[str, Any]:
        """The parameter that shapes the head (transferkit.json's ``task_params``)."""
        return {"task_params": {"context": int(getattr(head, "context", 0))}}

    def decoding(self, meta: dict[str, Any] | None = None) -> str:
        """How tags are read from outputs: the run's (``decode`` in transferkit.json) or this
        task's ``decode`` parameter."""
        return str((meta or {}).get("decode") or self.config.decode)

    # ------------------------------------------------------------------ targets
    def output_dim(self, data: Any) -> int:
        return len(data.classes)

    def describe_targets(self, data: Any) -> dict[str, Any]:
        return {"classes": list(data.classes), "entity_types": entity_types(data.classes),
                "per_token": True, "decode": self.config.decode}

    def check_targets(self, manifest: dict[str, Any]) -> str | None:
        classes = [str(c) for c in manifest.get("classes") or []]
        if not classes or classes[0] != "O" or any(c[:2] not in ("B-", "I-") for c in classes[1:]):
            return "does not list IOB2 tags ('O', then 'B-TYPE'/'I-TYPE') as its classes."
        outputs = (manifest.get("head") or {}).get("num_classes")
        if outputs is not None and outputs != len(classes):
            return f"lists {len(classes)} tags but its head has {outputs} outputs."
        return None

    def prepare_backbone(self, backbone: Any) -> Any:
        """The text encoder read per word (first sub-token per word, windows for long sentences)."""
        from transferkit.backbones.tokens import TokenEncoder

        return backbone if isinstance(backbone, TokenEncoder) else TokenEncoder(backbone)

    # ------------------------------------------------------------------ model
    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        return TokenObjective(forward, l2_sp)

    def fit_targets(self, train: Any) -> None:
        self._classes = list(train.classes)

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each sentence's mean cross-entropy over its words ``(B, W, K) x (B, W) -> (B,)``."""
        logits, y = _aligned(outputs.float(), targets)
        per_word = F.cross_entropy(logits.transpose(1, 2), y, ignore_index=IGNORE, reduction="none")  # (B, W)
        return per_word.sum(1) / (y != IGNORE).sum(1).clamp(min=1)

    def solve_head(self, head: nn.Module, x: np.ndarray, y: np.ndarray, train_cfg: Any,
                   seed: int = 0, val: tuple[np.ndarray, np.ndarray] | None = None,
                   solver: str = "lbfgs", backbone: Any = None) -> dict[str, Any] | None:
        """Multinomial logistic regression of the words' tags on their cached vectors -- with
        their neighbours' for a :class:`WordContextHead` (:func:`window_rows`) -- a linear head
        under cross-entropy, exactly; padding left out. The neighbours it reads (``u`` words
        on each side, ``0 <= u <= context``: the head's outer taps stay zero) and the L2
        strength are the pair with the best entity F1 (:func:`choose_token_c` per ``u``; ties:
        fewer neighbours)."""
        if not isinstance(head, WordContextHead) and (not isinstance(head, nn.Linear) or head.bias is None):
            return None
        from concurrent.futures import ThreadPoolExecutor

        from transferkit._threads import blas_threads
        from transferkit.train.convex import fit_logistic_head

        context = getattr(head, "context", 0)  # a linear head reads the word alone

        def path(u: int) -> tuple[float, dict[float, float], str, Any]:
            v = (window_rows(val[0], u), val[1]) if val is not None and len(val[1]) else None
            return token_c_path(window_rows(x, u), y, self._classes, self.decoding(), seed, v)

        # one C path per number of neighbours, side by side, each on one BLAS thread (the limit is
        # process-wide: set here once, so a path that ends first cannot lift it under the other)
        with blas_threads(1), ThreadPoolExecutor(max_workers=min(context + 1, os.cpu_count() or 1)) as pool:
            tried = dict(zip(range(context + 1), pool.map(path, range(context + 1)), strict=True))
        used = max(tried, key=lambda u: (max(tried[u][1].values(), default=0.0), -u))
        c, scores, how, chosen = tried[used]
        x_w, y_w = word_rows(window_rows(x, used), y)
        if chosen is None:  # chosen by cross-validation: the final head is fitted on every sentence
            weight, bias, info = fit_logistic_head(x_w, y_w, head.out_features, seed=seed, c=c)
        else:  # the path's fit at the chosen C on every training word is the head
            weight, bias, n_iter = chosen
            info = {"solver": "lbfgs", "c": c, "n_iter": n_iter}
        info.update(c_chosen_on=how, cv_scores={str(k): round(f, 4) for k, f in scores.items()})
        if isinstance(head, WordContextHead):
            d = x.shape[-1]
            full = torch.zeros(head.out_features, (2 * context + 1) * d, dtype=weight.dtype)
            full[:, (context - used) * d:(context + used + 1) * d] = weight  # the centre 2u + 1 taps
            head.set_window_weights(full, bias)
            info["neighbours_used"] = used
            info["neighbour_scores"] = {str(u): round(max(t[1].values(), default=0.0), 4)
                                        for u, t in tried.items()}
        else:
            with torch.no_grad():
                head.weight.copy_(weight)
                head.bias.copy_(bias)
        info["words"] = int(len(y_w))
        if context:
            info["context"] = context
        return info

    def accumulator(self) -> Accumulator:
        return TokenAccumulator(getattr(self, "_classes", []), self.decoding())

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:  # (B, W, K) -> probabilities
        return torch.softmax(outputs.float(), dim=-1)

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        gold, pred = sentence_tags(targets, outputs, list(meta["classes"]), self.decoding(meta))
        out = entity_metrics(gold, pred, detailed)
        if detailed:
            out["errors"] = error_examples(gold, pred)
        return out

    def adjust(self, model: nn.Module, splits: Any, val_outputs: np.ndarray | None,
               test_outputs: np.ndarray, log: Callable[[str], None]
               ) -> tuple[np.ndarray | None, np.ndarray, dict[str, Any]]:
        """Nothing is fitted on top of a tagger; the summary keeps the first test sentences
        it got wrong (words, gold and predicted entities) for the report."""
        classes = list(splits.train.classes)
        gold, pred = sentence_tags(splits.test.y, test_outputs, classes, self.decoding())
        examples = []
        for e in error_examples(gold, pred):
            words = [str(w) for w in splits.test.input(e["sentence"])]
            examples.append({"sentence": " ".join(words),
                             **{k: [f"{t}: {' '.join(words[a:b])}" for t, a, b in e[k]]
                                for k in ("gold", "predicted")}})
        return val_outputs, test_outputs, ({"error_examples": examples} if examples else {})

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        if not len(test):
            return {}
        classes = list(train.classes)
        gold = [decode_row(r, classes) for r in test.y]
        all_o = [["O"] * len(g) for g in gold]
        memo = memoriser_tags(train.x, train.y, classes, [test.input(i) for i in range(len(test))])
        return {"all_o": entity_metrics(gold, all_o), "memoriser": entity_metrics(gold, memo)}

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        """Below the floor when the test entity F1 is no better than the memoriser's."""
        score = (metrics.get("test") or {}).get("entity_f1")
        floor = (baselines.get("memoriser") or {}).get("entity_f1")
        if not isinstance(score, float) or not isinstance(floor, float) or score > floor:
            return None
        return (f"below the floor: on the test set its entity F1 {score:.3f} is no better than tagging "
                f"each word with its most frequent training tag (entity F1 {floor:.3f}); train longer "
                "or with more sentences, or try full fine-tuning.")

    def headline(self, metrics: dict[str, Any]) -> str:
        return (f"entity F1 {metrics['entity_f1']:.4f} (precision {metrics['entity_precision']:.4f}, "
                f"recall {metrics['entity_recall']:.4f}), token accuracy {metrics['token_accuracy']:.4f}")

    def _tags(self, outputs: np.ndarray, meta: dict[str, Any], lengths: Sequence[int] | None
              ) -> list[list[str]]:
        classes = list(meta["classes"])
        outputs = np.asarray(outputs)
        if lengths is None:  # positions padded across batches are all-zero probabilities
            lengths = [int((row.sum(-1) > 0).sum()) for row in outputs]
        codes = decode_codes(outputs, lengths, classes, self.decoding(meta))  # (N, W)
        return [[classes[int(k)] for k in row[:n]] for row, n in zip(codes, lengths, strict=True)]

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """One list of tags per sentence (for inputs, see :meth:`predictions_for`)."""
        return self._tags(outputs, meta, None)

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"tags": " ".join(t)} for t in self.predictions(outputs, meta)]

    def predictions_for(self, items: Sequence[Any], outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """One list of entities per input: ``{"type", "text", "start", "end", "score"}``;
        ``start``/``end`` are character offsets for a text input, word indices (end
        exclusive) for a list of words; ``score`` is the mean probability of its tags (as
        decoded, see ``decode``)."""
        from transferkit.data.conll import split_words

        rows = []
        outputs = np.asarray(outputs)
        split = [split_words(it) if isinstance(it, str) else [(w, i, i + 1) for i, w in enumerate(it)]
                 for it in items]
        all_codes = decode_codes(outputs, [len(w) for w in split], list(meta["classes"]), self.decoding(meta))
        for item, words, probs, codes in zip(items, split, outputs, all_codes, strict=True):
            tags = [meta["classes"][int(k)] for k in codes[:len(words)]]
            found = []
            for kind, a, b in spans(tags):
                score = float(np.mean([probs[i, codes[i]] for i in range(a, b)]))
                text = item[words[a][1]:words[b - 1][2]] if isinstance(item, str) else \
                    " ".join(w for w, _, _ in words[a:b])
                found.append({"type": kind, "text": text, "start": words[a][1], "end": words[b - 1][2],
                              "score": round(score, 4)})
            rows.append(found)
        return rows

    def rows_for(self, items: Sequence[Any], outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        """``predict``'s rows: the entities as ``type:start-end:text`` joined by ``; `` and the
        tags of the words."""
        lengths = [len(_words(it)) if isinstance(it, str) else len(it) for it in items]
        tags = self._tags(outputs, meta, lengths)
        return [{"entities": "; ".join(f"{e['type']}:{e['start']}-{e['end']}:{e['text']}" for e in found),
                 "tags": " ".join(t)}
                for found, t in zip(self.predictions_for(items, outputs, meta), tags, strict=True)]

    def answers_for(self, items: Sequence[Any], outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"entities": e} for e in self.predictions_for(items, outputs, meta)]

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        classes = list(meta.get("classes") or [])
        return {"name": "logits", "dtype": "float32", "shape": ["batch", "words", len(classes)],
                "meaning": "softmax over the last axis gives each word's tag probabilities (IOB2, in the "
                           "order of `classes`); a word's vector is its first sub-token's",
                "card": f"one logit per tag ({len(classes)} IOB2 tags) for each word; entities are read "
                        + ("from the most probable valid IOB2 tag sequence (Viterbi)."
                           if self.decoding(meta) == "viterbi" else "from the most probable tags.")}

    def card(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return {"noun": "named-entity tagger",
                "columns": (("entity_f1", "entity F1", "pct"), ("entity_precision", "precision", "pct"),
                            ("entity_recall", "recall", "pct"), ("token_accuracy", "token accuracy", "pct")),
                "gain": "{gain_pct:+.1f} entity-F1 points", "gain_short": "{gain_pct:+.1f} pts",
                "use": "Finding entities of the listed types in English text like the target data above.",
                "limits": ["Entities of types it was not trained on are never found.",
                           "Text is cut into words by a simple pattern at prediction time; a different "
                           "word split than the training data's can move entity boundaries."]}

    # ------------------------------------------------------------------ examples
    @classmethod
    def tiny_example(cls, workdir: Any) -> dict[str, Any]:
        """A synthetic CoNLL file of 120 sentences: people ('anna smith') and places
        ('paris') in a few templates; the built-in MiniLM, a linear probe."""
        path = Path(workdir) / "tokens-tiny.conll"
        write_tiny_conll(path)
        return {"data": str(path), "backbone": "minilm", "strategy": "linear-probe", "epochs": 5}

    # ------------------------------------------------------------------ inference
    @classmethod
    def matches(cls, y: Any) -> tuple[bool, str]:
        return False, "it takes tags per word (a CoNLL-style file or JSONL with 'tokens' and 'tags')"


def word_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The words of per-word features ``(N, W, D)`` and targets ``(N, W')``: ``(M, D)`` and
    ``(M,)`` over the positions that hold a word."""
    x, y = np.asarray(x), np.asarray(y)
    w = min(x.shape[1], y.shape[1])
    keep = y[:, :w] != IGNORE  # (N, w)
    return x[:, :w][keep], y[:, :w][keep]


def _words(text: str) -> list[str]:
    from transferkit.data.conll import split_words

    return [w for w, _, _ in split_words(text)]


def error_examples(gold: list[list[str]], pred: list[list[str]], k: int = ERROR_EXAMPLES) -> list[dict[str, Any]]:
    """The first ``k`` test sentences whose predicted entities differ from the gold ones:
    their index and both entity lists ``[type, start, end]`` (word indices)."""
    out = []
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        sg, sp = spans(g), spans(p)
        if sg != sp:
            out.append({"sentence": i, "gold": [list(s) for s in sg], "predicted": [list(s) for s in sp]})
            if len(out) >= k:
                break
    return out


def write_tiny_conll(path: Path, n: int = 120, seed: int = 0) -> None:
    """Template sentences with person and place entities, as a CoNLL file (tab-separated);
    'jordan' and 'georgia' are people in some sentences and places in others, so a word's
    most frequent tag is not always right."""
    rng = np.random.default_rng(seed)
    first = ["anna", "john", "maria", "peter", "laura", "david", "jordan", "georgia"]
    last = ["smith", "jones", "brown", "miller"]
    places = ["paris", "london", "berlin", "madrid", "rome", "jordan", "georgia"]
    when = ["today", "yesterday", "again", "twice", "later", "early", "once"]
    lines = []
    for _ in range(n):
        person = [(str(rng.choice(first)), "B-person"), (str(rng.choice(last)), "I-person")]
        place = [(str(rng.choice(places)), "B-geo-loc")]
        tail = [(str(rng.choice(when)), "O"), (str(int(rng.integers(1, 99))), "O")]
        template = int(rng.integers(3))
        if template == 0:
            sent = person + [("lives", "O"), ("in", "O")] + place + tail
        elif template == 1:
            sent = [("we", "O"), ("met", "O")] + person + [("near", "O")] + place + tail
        else:
            sent = [("the", "O"), ("weather", "O"), ("in", "O")] + place + [("is", "O"), ("nice", "O")] + tail
        lines += [f"{w}\t{t}" for w, t in sent] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
