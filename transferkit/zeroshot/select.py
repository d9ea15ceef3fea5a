"""Choosing a zero-shot method's parameters without unseen classes: leave-classes-out.

The unseen classes' images may never steer a choice. So the seen classes play both roles:
each fold holds out ``hold`` seen classes as pseudo-unseen, fits the method on the other
seen classes' training images (label embeddings centred on *those* classes, as the final
fit centres on all seen ones), and scores the held-out classes' training images among the
held-out classes only (the ZSL protocol, per-class mean accuracy). A parameter setting's
score is the mean over folds; the best wins, ties going to the earlier setting of the grid.
This is the class-wise cross-validation Romera-Paredes & Torr (2015, section 4) use for
ESZSL's gamma and lambda.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from transferkit.zeroshot._base import LabelSpace, ZeroShotMethod

#: at most this many folds (combinations of held-out seen classes, in a fixed order)
MAX_FOLDS = 10


def class_folds(seen: np.ndarray, hold: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(rest, held)`` class-index pairs: every combination of ``hold`` seen classes held out
    (``hold`` shrinks so that two classes stay to fit on), at most ``MAX_FOLDS`` of them."""
    hold = max(1, min(hold, len(seen) - 2))
    folds = []
    for held in itertools.islice(itertools.combinations(range(len(seen)), hold), MAX_FOLDS):
        folds.append((np.array([c for i, c in enumerate(seen) if i not in held]), seen[list(held)]))
    return folds


def leave_classes_out(make: Callable[[dict[str, Any]], ZeroShotMethod], grid: dict[str, tuple[Any, ...]],
                      x: np.ndarray, raw: np.ndarray, y: np.ndarray, seen: np.ndarray,
                      s_all: np.ndarray, space: LabelSpace, seed: int = 0) -> dict[str, Any]:
    """``{"params", "score", "scores", "folds"}``: the grid setting with the best mean
    pseudo-unseen ZSL accuracy (see the module docstring); ``x, raw, y`` hold the seen
    classes' training images only."""
    from transferkit.zeroshot.protocol import centred, zsl_accuracy

    keys = list(grid)
    settings = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    folds = class_folds(seen)
    accs = np.zeros((len(settings), len(folds)))
    for f, (rest, held) in enumerate(folds):  # one fold's arrays for every setting (ESZSL reuses its Gram matrix)
        fit_rows, rows = np.isin(y, rest), np.isin(y, held)
        x_fit, y_fit, x_held, raw_held = x[fit_rows], np.searchsorted(rest, y[fit_rows]), x[rows], raw[rows]
        for i, params in enumerate(settings):
            method = make(params)
            s = centred(s_all, rest) if method.centre_labels else s_all
            method.fit(x_fit, y_fit, s[rest], space, seed=seed)
            accs[i, f] = zsl_accuracy(method.scores(x_held, s, raw_held), y[rows], held)
    table = [float(a) for a in accs.mean(axis=1)]
    best = int(np.argmax(table))
    return {"params": settings[best], "score": table[best], "folds": len(folds),
            "scores": [{**p, "score": round(t, 4)} for p, t in zip(settings, table, strict=True)],
            "chosen_by": f"mean ZSL accuracy over {len(folds)} folds that hold out "
                         f"{len(folds[0][1])} seen class(es) as pseudo-unseen (their training images)"}


__all__ = ["MAX_FOLDS", "class_folds", "leave_classes_out"]
