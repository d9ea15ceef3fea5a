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

#: the L2 strengths (towards the prototypes) tried on the validation split
STRENGTHS = (1.0, 0.1, 0.01, 0.001)


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
            if not len(train) else "the L2 strength towards the prototypes, on the validation split"}


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


def solve_prototype_head(head: nn.Module, x: np.ndarray, y: np.ndarray,
                         val: tuple[np.ndarray, np.ndarray] | None = None,
                         strength: float | None = None) -> dict[str, Any]:
    """Fit a prototype head to labelled features, pulled towards its prototypes (its current
    weights): the L2 strength is ``strength``, or the one of :data:`STRENGTHS` with the best
    validation accuracy (ties: the stronger pull), or 0.1 without validation labels."""
    w0 = head.weight.detach().clone()
    labelled = val is not None and len(val[1]) and (np.asarray(val[1]) >= 0).all()
    grid = [strength] if strength is not None else list(STRENGTHS) if labelled else [0.1]
    best: tuple[float, float, Any] | None = None
    scores = {}
    for lam in grid:
        w, b = fit_towards(x, y, w0, lam)
        acc = float("nan")
        if labelled and val is not None:
            xv = torch.nn.functional.normalize(torch.as_tensor(np.asarray(val[0]), dtype=torch.float32), dim=1)
            acc = float(((xv @ w.T + b).argmax(1).numpy() == np.asarray(val[1])).mean())
            scores[str(lam)] = acc
        if best is None or acc > best[0]:
            best = (acc, lam, (w, b))
    _, lam, (w, b) = best if best is not None else (0.0, grid[0], fit_towards(x, y, w0, grid[0]))
    with torch.no_grad():
        head.weight.copy_(w)
        head.bias.copy_(b)
    # c: the inverse strength, as the logistic solver reports its C
    return {"solver": "lbfgs-towards-prototypes", "strength": lam, "c": round(1.0 / lam, 6),
            "val_accuracy": scores or None,
            "chosen_by": "validation accuracy" if len(grid) > 1 else "default", "n_iter": 1}


__all__ = ["STRENGTHS", "encode_texts", "fit_towards", "init_prototype_head", "prototype_head", "prototype_texts",
           "read_descriptions", "solve_prototype_head"]
