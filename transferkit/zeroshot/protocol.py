"""The seen/unseen protocol: zero-shot (ZSL) and generalised zero-shot (GZSL) accuracy.

* **ZSL**: test images of the unseen classes, each classified among the unseen classes
  only; the mean of the per-class accuracies (Xian et al. 2018's "average per-class top-1").
* **GZSL**: every test image classified among all classes; per-class mean accuracy on
  the seen classes' images (``acc_seen``) and on the unseen classes' (``acc_unseen``), and
  their harmonic mean ``H = 2 s u / (s + u)``.
* **Calibrated stacking** (Chao et al., ECCV 2016): a constant ``gamma`` is subtracted from
  the seen classes' scores before the argmax. It is chosen without unseen data: the seen
  classes' training images are split per class into a fitting part (80 %) and a held-out
  part; each seen class in turn plays "unseen" -- the method is fitted on the others'
  fitting images -- and ``gamma`` maximises the mean H over these folds on the held-out
  images. ``gamma`` is measured in standard deviations of the model's scores, so the
  folds' models and the final one (fitted on all seen images) share it.
* **Transductive self-training** (optional, ``--transductive``): the unlabelled test images
  are read (never their labels). In each of the rounds of :data:`SELF_TRAINING` the current
  map labels them with calibrated stacking; of the images it assigns to each unseen class,
  the ones with the largest margin between their top two unseen-class scores -- an equal
  quota per class, 10 %, 20 %, ..., 50 % of (pool size / number of classes) -- join the seen
  classes' labelled images as that class, and the method is refitted on both with the same
  parameters. A fixed schedule in the spirit of transductive zero-shot learning's
  self-training (Fu et al., TPAMI 2015; Ye & Guo, CVPR 2017): nothing in it is chosen on labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from transferkit.errors import ConfigError
from transferkit.zeroshot._base import LabelSpace, ZeroShotMethod

#: calibrated stacking: the gammas tried, in standard deviations of the scores
GAMMAS = np.round(np.linspace(-1.0, 3.0, 81), 3)
#: the share of each seen class's training images held out to choose gamma
HELD_OUT = 0.2
#: transductive self-training: per round, each unseen class's quota of pseudo-labelled
#: images as a share of (pool size / number of classes)
SELF_TRAINING = (0.1, 0.2, 0.3, 0.4, 0.5)


def split_classes(classes: Sequence[str], unseen: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(seen, unseen) class indices; an unknown name is an error listing the classes."""
    names = [str(c) for c in classes]
    unknown = [u for u in unseen if u not in names]
    if unknown:
        raise ConfigError(f"The 'unseen_classes' parameter names {unknown}, which the data does not "
                          f"have. Classes: {', '.join(names)}.")
    if len(set(unseen)) < 1 or len(set(unseen)) > len(names) - 2:
        raise ConfigError(f"The 'unseen_classes' parameter must name between 1 and {len(names) - 2} "
                          f"classes (at least 2 stay seen to learn from). Got {list(unseen)!r}.")
    out = np.array(sorted(names.index(u) for u in set(unseen)))
    return np.array([i for i in range(len(names)) if i not in set(out)]), out


def per_class_accuracy(y: np.ndarray, pred: np.ndarray, classes: np.ndarray) -> float:
    """Mean over ``classes`` present in ``y`` of the share of their examples predicted right."""
    accs = [float((pred[y == c] == c).mean()) for c in classes if (y == c).any()]
    return float(np.mean(accs)) if accs else float("nan")


def gzsl(scores: np.ndarray, y: np.ndarray, seen: np.ndarray, unseen: np.ndarray,
         gamma: float = 0.0) -> dict[str, float]:
    """acc_seen, acc_unseen and H of ``argmax(scores - gamma * [seen])`` over all classes."""
    shifted = np.array(scores, dtype=np.float64)
    shifted[:, seen] -= gamma
    pred = shifted.argmax(axis=1)
    s, u = per_class_accuracy(y, pred, seen), per_class_accuracy(y, pred, unseen)
    return {"acc_seen": s, "acc_unseen": u, "h": 2 * s * u / (s + u) if s + u > 0 else 0.0}


def zsl_accuracy(scores: np.ndarray, y: np.ndarray, unseen: np.ndarray) -> float:
    """Per-class mean accuracy of the unseen classes' examples, among the unseen classes."""
    mask = np.isin(y, unseen)
    pred = unseen[np.asarray(scores)[mask][:, unseen].argmax(axis=1)]
    return per_class_accuracy(y[mask], pred, unseen)


def centred(s_all: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Label embeddings minus the seen classes' mean, renormalised (see
    :attr:`~transferkit.zeroshot.ZeroShotMethod.centre_labels`)."""
    s = np.asarray(s_all, dtype=np.float64) - np.asarray(s_all, dtype=np.float64)[seen].mean(axis=0)
    return s / np.clip(np.linalg.norm(s, axis=1, keepdims=True), 1e-12, None)


def held_out_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held-out) indices: ``HELD_OUT`` of each class's examples, at least one, held out."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = max(1, int(round(HELD_OUT * len(idx)))) if len(idx) > 1 else 0
        held.append(idx[:k])
        fit.append(idx[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def choose_gamma(make: Callable[[], ZeroShotMethod], x: np.ndarray, raw: np.ndarray, y: np.ndarray,
                 seen: np.ndarray, s_all: np.ndarray, space: LabelSpace, seed: int = 0
                 ) -> dict[str, Any]:
    """Calibrated stacking's gamma (in score standard deviations) from the seen classes alone
    (see the module docstring): ``{"gamma", "h_held_out", "folds"}``."""
    fit, held = held_out_split(y, seed)
    curves, folds = [], []
    for c in seen:
        rest = np.array([k for k in seen if k != c])
        rows = fit[np.isin(y[fit], rest)]
        local = np.searchsorted(rest, y[rows])  # class indices among ``rest``
        model = make().fit(x[rows], local, s_all[rest], space, seed=seed)
        scores = model.scores(x[held], s_all[seen], raw[held])  # (H, |seen|)
        scale = float(model.scores(x[rows], s_all[seen], raw[rows]).std()) or 1.0
        y_held = np.searchsorted(seen, y[held])
        pseudo_seen = np.searchsorted(seen, rest)
        pseudo_unseen = np.searchsorted(seen, [c])
        curves.append([gzsl(scores, y_held, pseudo_seen, pseudo_unseen, g * scale)["h"] for g in GAMMAS])
        folds.append((scores / scale, y_held, pseudo_seen))
    mean = np.mean(curves, axis=0)
    best = int(np.argmax(mean))
    return {"gamma": float(GAMMAS[best]), "h_held_out": float(mean[best]), "folds": len(curves),
            "chosen_by": "mean harmonic mean over folds that hold out one seen class as pseudo-unseen, "
                         f"on {HELD_OUT:.0%} of each seen class's training images",
            "temperature": fold_temperature(folds, float(GAMMAS[best]))}


def fold_temperature(folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]], gamma: float) -> float:
    """The softmax temperature of the saved model's scores (in training standard deviations,
    with calibrated stacking's ``gamma`` subtracted from the seen classes): the one that
    minimises the negative log-likelihood of the held-out images over the folds of
    :func:`choose_gamma` -- each fold's model never saw its held-out class, so its scores are
    what a zero-shot prediction looks like (Guo et al. 2017's temperature scaling, fitted where
    the only labels are)."""
    from transferkit.tasks._calibration import fit_temperature

    logits, labels = [], []
    for scores, y_held, pseudo_seen in folds:
        z = np.asarray(scores, dtype=np.float64).copy()
        z[:, pseudo_seen] -= gamma
        logits.append(z)
        labels.append(y_held)
    return float(fit_temperature(np.concatenate(logits), np.concatenate(labels)))


def self_train(make: Callable[[], ZeroShotMethod], x: np.ndarray, raw: np.ndarray, y: np.ndarray,
               pool: tuple[np.ndarray, np.ndarray], seen: np.ndarray, unseen: np.ndarray,
               s_all: np.ndarray, space: LabelSpace, gamma: float, model: ZeroShotMethod,
               seed: int = 0) -> tuple[ZeroShotMethod, dict[str, Any]]:
    """Transductive self-training (see the module docstring) from ``model``, fitted on the
    seen images ``x, raw, y`` (``y``: class indices among all classes), over the unlabelled
    ``pool`` = (features, raw features); ``gamma`` is calibrated stacking's, in score
    standard deviations. Returns the refitted method and what each round added."""
    if not model.trains:
        raise ConfigError(f"Transductive self-training refits the map on pseudo-labelled images; "
                          f"'{model.name}' learns no map. Use --method eszsl or devise, or drop "
                          "--transductive.")
    px, praw = pool
    order = np.concatenate([seen, unseen])  # the refit's classes: seen, then unseen
    y_seen = np.searchsorted(seen, y)
    base = len(px) / len(s_all)
    rounds = []
    for share in SELF_TRAINING:
        scale = float(model.scores(x, s_all, raw).std()) or 1.0
        scores = np.asarray(model.scores(px, s_all, praw), dtype=np.float64)
        shifted = scores.copy()
        shifted[:, seen] -= gamma * scale
        to_unseen = np.isin(shifted.argmax(axis=1), unseen)
        among = scores[:, unseen]
        top2 = np.sort(among, axis=1)[:, -2:]
        margin, label = top2[:, -1] - top2[:, 0], among.argmax(axis=1)
        quota = int(round(share * base))
        picked = [np.flatnonzero(to_unseen & (label == k)) for k in range(len(unseen))]
        picked = [rows[np.argsort(-margin[rows], kind="stable")][:quota] for rows in picked]
        rows = np.concatenate(picked)
        labels = np.concatenate([np.full(len(p), len(seen) + k) for k, p in enumerate(picked)])
        model = make().fit(np.concatenate([x, px[rows]]), np.concatenate([y_seen, labels]).astype(np.int64),
                           s_all[order], space, seed=seed)
        rounds.append({"quota_per_class": quota,
                       "pseudo_labelled": {int(unseen[k]): int(len(p)) for k, p in enumerate(picked)}})
    return model, {"pool": int(len(px)), "rounds": rounds,
                   "chosen_by": "a fixed schedule (transferkit.zeroshot.protocol.SELF_TRAINING); no labels read"}


def evaluate(make: Callable[[], ZeroShotMethod], train: tuple[np.ndarray, np.ndarray, np.ndarray],
             test: tuple[np.ndarray, np.ndarray, np.ndarray], seen: np.ndarray, unseen: np.ndarray,
             s_all: np.ndarray, space: LabelSpace, seed: int = 0, transductive: bool = False
             ) -> dict[str, Any]:
    """Fit on the seen classes of ``train`` = (features, raw features, labels), choose
    calibrated stacking's gamma, and report ZSL and GZSL on ``test`` (the same triple);
    ``"model"`` is the fitted method, ``"score_scale"`` its training scores' standard deviation
    times the temperature fitted on the held-out folds (:func:`fold_temperature`), which divides
    the saved model's scores so that its probabilities are calibrated. ``transductive``: the
    method is then refitted by :func:`self_train` on the test images (their labels unread)."""
    x, raw, y = train
    keep = np.isin(y, seen)
    x, raw, y = x[keep], raw[keep], y[keep]
    if make().centre_labels:
        s_all = centred(s_all, seen)
    stacking = choose_gamma(make, x, raw, y, seen, s_all, space, seed)
    model = make().fit(x, np.searchsorted(seen, y), s_all[seen], space, seed=seed)
    selftraining = None
    if transductive:
        model, selftraining = self_train(make, x, raw, y, (test[0], test[1]), seen, unseen, s_all, space,
                                         stacking["gamma"], model, seed)
    scale = float(model.scores(x, s_all, raw).std()) or 1.0
    scores = model.scores(test[0], s_all, test[1])  # (N, C)
    y_test = test[2]
    return {"zsl_accuracy": zsl_accuracy(scores, y_test, unseen), "self_training": selftraining,
            "zsl_chance": 1.0 / len(unseen),
            "gzsl": gzsl(scores, y_test, seen, unseen, stacking["gamma"] * scale),
            "gzsl_no_stacking": gzsl(scores, y_test, seen, unseen, 0.0),
            "stacking": {**stacking, "gamma_scores": stacking["gamma"] * scale},
            "n_train_seen": int(len(y)), "n_test": int(len(y_test)),
            "model": model, "score_scale": scale * stacking["temperature"]}


__all__ = ["GAMMAS", "HELD_OUT", "SELF_TRAINING", "centred", "choose_gamma", "evaluate", "gzsl",
           "held_out_split", "per_class_accuracy", "self_train", "split_classes", "zsl_accuracy"]
