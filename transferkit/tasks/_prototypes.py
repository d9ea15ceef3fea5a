"""Prototype heads: a classifier built from class names or descriptions, without labels.

Each class ``c`` gets a text -- its one-line description, or its name -- put into a template
(``"This review is about {}."``); the backbone that reads the inputs embeds those texts, and
the head scores an input by the cosine similarity of its features to each class's embedding
(Snell et al. 2017's prototypes, with the class text as the prototype)::

    logits_c(x) = s * <f(x) / ||f(x)||, p_c / ||p_c||> + b_c

``s`` (``prototype_scale``) is the inverse temperature of the softmax; the biases ``b`` are 0
and are fitted without labels afterwards (:func:`transferkit.tasks._calibration.label_free_bias`).
With ``K`` labels per class the same weights are the starting point and the prior of the
head's fit (:func:`solve_prototype_head`), so K = 0, 1, 2, 4, 8 form one curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.errors import ConfigError

#: the L2 strengths (towards the prototypes) tried on the validation split, or by k-fold
#: cross-validation on the shots; the strongest keeps the prototypes and fits little more than
#: the biases (the K = 0 head, its biases from labels)
STRENGTHS = (100.0, 10.0, 1.0, 0.1, 0.01, 0.001)
#: the most folds of the cross-validation on the shots (fewer when a class has fewer examples)
MAX_FOLDS = 5


def read_descriptions(path: str | Path, classes: Sequence[str]) -> list[str]:
    """One description per class, in the order of ``classes``, from a text file of lines
    ``name<TAB>description`` or ``name: description`` (blank lines and ``#`` comments are
    skipped). Every class needs one line; an unknown or repeated name is an error naming the
    line."""
    where = "The 'class_descriptions' parameter"
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{where} must be a text file of 'name<TAB>description' lines. Got "
                          f"{str(path)!r}, which is not a file.")
    names = [str(c) for c in classes]
    found: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        sep = "\t" if "\t" in line else ":"
        name, _, text = line.partition(sep)
        name, text = name.strip(), text.strip()
        if not _ or not text:
            raise ConfigError(f"{where}: line {number} of '{path}' ({line.strip()[:60]!r}) has no "
                              "description; write 'name<TAB>description' or 'name: description'.")
        if name not in names:
            raise ConfigError(f"{where}: line {number} of '{path}' names the class {name!r}, which the "
                              f"data does not have. Known classes: {', '.join(names)}.")
        if name in found:
            raise ConfigError(f"{where}: line {number} of '{path}' describes the class {name!r} a "
                              "second time; give one line per class.")
        found[name] = text
    missing = [c for c in names if c not in found]
    if missing:
        raise ConfigError(f"{where}: '{path}' has no line for the class(es) {missing}; give one "
                          "line per class (the name itself is a fine description).")
    return [found[c] for c in names]


def prototype_texts(classes: Sequence[str], descriptions: Sequence[str] | None,
                    template: str) -> list[str]:
    """The text embedded for each class: ``template`` with the description (or the name)."""
    if template.count("{}") != 1:
        raise ConfigError("The 'template' parameter must hold '{}' exactly once, where the class "
                          f"name or description goes (e.g. 'This review is about {{}}.'). Got "
                          f"{template!r} instead.")
    words = list(descriptions) if descriptions is not None else [str(c) for c in classes]
    return [template.replace("{}", w) for w in words]


@torch.no_grad()
def encode_texts(model: nn.Module, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Features of ``texts`` through ``model``'s backbone and mapping, as the head sees
    an input's features: ``(K, D)``, float32, on the CPU."""
    was_training = model.training
    model.eval()
    out = []
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    for start in range(0, len(texts), batch_size):
        batch = model.backbone.collate(list(texts[start:start + batch_size]))
        batch = {k: v.to(device) for k, v in batch.items()} if isinstance(batch, dict) else batch.to(device)
        out.append(model.features(batch).float().cpu())
    model.train(was_training)
    return torch.cat(out)  # (K, D)


def init_prototype_head(head: nn.Module, embeddings: torch.Tensor, scale: float) -> None:
    """Make ``head`` (a :class:`~transferkit.tasks._calibration.CalibratedLinear`) a prototype
    head: weights ``scale * p_c / ||p_c||``, biases 0, inputs L2-normalised."""
    weight = scale * torch.nn.functional.normalize(embeddings.float(), dim=1)  # (K, D)
    if tuple(weight.shape) != tuple(head.weight.shape):
        raise ConfigError(f"The class prototypes have shape {tuple(weight.shape)}, the head's weights "
                          f"{tuple(head.weight.shape)}: the mapping changes the feature size. Use "
                          "--mapping identity with prototypes.")
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.zero_()
        head.normalize_input.fill_(1.0)


def prototype_head(cfg: Any, model: nn.Module, train: Any) -> dict[str, Any] | None:
    """Make ``model.head`` a prototype head when the classification config ``cfg`` asks for one
    (``head_init``: 'prototypes', or 'auto' with no labels or with ``class_descriptions``, for a
    text backbone); returns what ``summary.json`` records under ``head_init``, or None."""
    reads_text = getattr(model.backbone, "modality", None) == "text"
    use = cfg.head_init
    if use == "auto":
        use = "prototypes" if reads_text and (not len(train) or cfg.class_descriptions) else "random"
    if use == "random":
        return None
    if not reads_text:
        raise ConfigError(f"head_init=prototypes embeds the class names with the backbone, and "
                          f"'{getattr(model.backbone, 'name', 'this backbone')}' reads "
                          f"{getattr(model.backbone, 'modality', 'no text')}, not text. Use a text "
                          "backbone (e.g. --backbone minilm), or `transferkit zeroshot` for images.")
    classes = [str(c) for c in train.classes]
    described = read_descriptions(cfg.class_descriptions, classes) if cfg.class_descriptions else None
    texts = prototype_texts(classes, described, cfg.template)
    init_prototype_head(model.head, encode_texts(model, texts), cfg.prototype_scale)
    return {"method": "prototypes", "template": cfg.template, "scale": cfg.prototype_scale,
            "descriptions": cfg.class_descriptions, "texts": dict(zip(classes, texts, strict=True)),
            "labels": int(len(train)),
            "selection": ("none: with zero labels there is no validation data and nothing to select; "
                          "the head is the prototypes, its biases fitted without labels")
            if not len(train) else ("the L2 strength towards the prototypes: on the validation split, or by "
                                      "k-fold cross-validation on the training labels without one")}


def fit_towards(x: np.ndarray, y: np.ndarray, w0: torch.Tensor, strength: float,
                max_iter: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) minimising ``mean_i CE(W x_i + b, y_i) + strength / 2 * ||W - W0||^2`` on
    L2-normalised rows ``x`` (convex; L-BFGS, float64, deterministic)."""
    xt = torch.nn.functional.normalize(torch.as_tensor(np.asarray(x), dtype=torch.float64), dim=1)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    anchor = w0.detach().to(torch.float64)
    w = anchor.clone().requires_grad_(True)
    b = torch.zeros(anchor.shape[0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt) \
            + 0.5 * strength * (w - anchor).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().float(), b.detach().float()


def _scores(x: np.ndarray, y: np.ndarray, w: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean log-loss) of the head ``(w, b)`` on L2-normalised rows ``x``."""
    xt = torch.nn.functional.normalize(torch.as_tensor(np.asarray(x), dtype=torch.float32), dim=1)
    logits = xt @ w.T + b
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    return (float((logits.argmax(1) == yt).float().mean()),
            float(torch.nn.functional.cross_entropy(logits, yt)))


def cross_validate_strengths(x: np.ndarray, y: np.ndarray, w0: torch.Tensor, seed: int = 0,
                             strengths: Sequence[float] = STRENGTHS) -> dict[float, tuple[float, float]]:
    """Each strength's mean (accuracy, log-loss) over stratified k-fold cross-validation on
    ``(x, y)``, k = min(:data:`MAX_FOLDS`, the smallest class's count); empty when a class has
    a single example (k < 2)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    counts = np.bincount(y)
    folds = min(MAX_FOLDS, int(counts[counts > 0].min()))
    if folds < 2:
        return {}
    split = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y))
    out = {}
    for lam in strengths:
        per_fold = [_scores(x[te], y[te], *fit_towards(x[tr], y[tr], w0, lam)) for tr, te in split]
        out[float(lam)] = (float(np.mean([a for a, _ in per_fold])), float(np.mean([v for _, v in per_fold])))
    return out


def solve_prototype_head(head: nn.Module, x: np.ndarray, y: np.ndarray,
                         val: tuple[np.ndarray, np.ndarray] | None = None,
                         strength: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Fit a prototype head to labelled features, pulled towards its prototypes (its current
    weights). The L2 strength is ``strength`` when given; else the one of :data:`STRENGTHS`
    with the best validation accuracy when there are validation labels, or the best mean
    accuracy of a stratified k-fold cross-validation on the training labels (the shots) when
    there are none -- ties: the lower log-loss, then the stronger pull; 0.1 when neither is
    possible (a class with one example and no validation labels)."""
    w0 = head.weight.detach().clone()
    x = np.asarray(x)
    y = np.asarray(y)
    labelled = val is not None and len(val[1]) and (np.asarray(val[1]) >= 0).all()
    scores: dict[float, tuple[float, float]] = {}
    if strength is not None:
        lam, chosen_by = float(strength), "given"
    elif labelled and val is not None:
        for cand in STRENGTHS:
            scores[float(cand)] = _scores(val[0], val[1], *fit_towards(x, y, w0, cand))
        chosen_by = "validation accuracy"
    else:
        scores = cross_validate_strengths(x, y, w0, seed)
        chosen_by = "k-fold cross-validation on the training labels" if scores else "default"
    if scores:  # best accuracy; ties: lower log-loss, then the stronger pull (STRENGTHS is descending)
        lam = min(scores, key=lambda k: (-round(scores[k][0], 12), round(scores[k][1], 12), -k))
    elif strength is None:
        lam = 0.1
    w, b = fit_towards(x, y, w0, lam)
    with torch.no_grad():
        head.weight.copy_(w)
        head.bias.copy_(b)
    # c: the inverse strength, as the logistic solver reports its C
    key = "val_accuracy" if chosen_by == "validation accuracy" else "cv_accuracy"
    return {"solver": "lbfgs-towards-prototypes", "strength": lam, "c": round(1.0 / lam, 6),
            key: {str(k): round(v[0], 4) for k, v in scores.items()} or None,
            "chosen_by": chosen_by, "n_iter": 1}


__all__ = ["MAX_FOLDS", "STRENGTHS", "cross_validate_strengths", "encode_texts", "fit_towards", "init_prototype_head", "prototype_head", "prototype_texts",
           "read_descriptions", "solve_prototype_head"]
