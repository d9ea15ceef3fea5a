"""Plain-tool baselines of single-label classification: what a practitioner would fit without
transfer, on the same training split, scored on the same test split.

- texts: TF-IDF (word 1-2-grams, sublinear tf) + logistic regression;
- tables: histogram gradient boosting and logistic regression on standardised columns
  (categoricals one-hot), each on at most :data:`MAX_BASELINE_ROWS` training rows (a
  random subsample above it, drawn before anything is encoded); test rows are encoded and
  predicted a block at a time.

Each returns its test metrics and its test probabilities ``(N, K)`` over the run's classes,
which the paired tests (:func:`transferkit.pipeline.baselines.paired_plain`) compare with
the model's on the same examples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

#: baselines fit on at most this many training rows (a random subsample above it)
MAX_BASELINE_ROWS = 200_000


#: test rows turned into a matrix (one-hot categoricals) at a time when baselines predict
TEST_BLOCK_ROWS = 100_000


def _one_hot(train: Any) -> tuple[list[str], dict[str, list[str]]]:
    """The categorical columns of ``train`` and, per column, its categories in the training rows."""
    schema = getattr(train, "schema", None)
    cats = [c.name for c in schema.columns if c.kind == "categorical"] if schema is not None else []
    return cats, {name: sorted(set(train.x[name].astype(str))) for name in cats}


def _encode(frame: Any, cats: list[str], known: dict[str, list[str]]) -> np.ndarray:
    import pandas as pd

    frame = frame.copy() if cats else frame
    for name in cats:
        frame[name] = pd.Categorical(frame[name].astype(str), categories=known[name])
    return pd.get_dummies(frame, columns=cats, dtype=np.float64).to_numpy(dtype=np.float64)


def table_matrix(train: Any, test: Any) -> tuple[np.ndarray, np.ndarray]:
    """Numeric columns as they are, categoricals one-hot (categories of the training rows)."""
    cats, known = _one_hot(train)
    return _encode(train.x, cats, known), _encode(test.x, cats, known)


def baseline_rows(y: np.ndarray, seed: int) -> np.ndarray:
    """The labelled training rows a baseline fits on: all, or a random :data:`MAX_BASELINE_ROWS`."""
    keep = np.flatnonzero(y >= 0) if y.dtype.kind != "f" else np.flatnonzero(np.isfinite(y))
    if len(keep) > MAX_BASELINE_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(keep, MAX_BASELINE_ROWS, replace=False))
    return keep


def predict_blocks(predict: Callable[[np.ndarray], np.ndarray], train: Any, test: Any) -> np.ndarray:
    """``predict`` of the test rows' matrix, built :data:`TEST_BLOCK_ROWS` rows at a time with the
    training rows' categories (a table of millions of rows is never one-hot encoded whole)."""
    cats, known = _one_hot(train)
    parts = [predict(_encode(test.x.iloc[s:s + TEST_BLOCK_ROWS], cats, known))
             for s in range(0, len(test), TEST_BLOCK_ROWS)]
    return np.concatenate(parts)


def _thread_limit() -> Any:
    """BLAS and OpenMP pools (gradient boosting's) held to the process's thread budget: on a
    loaded 2-core machine unlimited OpenMP threads made WDBC's 399-row fit take 31 s."""
    import contextlib

    from transferkit._threads import thread_budget

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=thread_budget())


def _models(modality: str, seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if modality == "text":
        return {"tfidf_logistic": make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(max_iter=1000))}
    return {"hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed),
            "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))}


def plain_classifiers(train: Any, test: Any, metrics: Callable[[np.ndarray, np.ndarray], dict[str, Any]],
                      seed: int = 0) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(baselines, their test probabilities) of the plain tools for ``train``'s modality
    (texts and tables; none for other data, or a training split with a single class).
    ``metrics(y, probs)`` scores a baseline's test probabilities as the model's are scored."""
    modality = getattr(train, "modality", None)
    y_tr = np.asarray(train.y)
    if modality not in ("text", "table") or not len(test) or len(np.unique(y_tr[y_tr >= 0])) < 2:
        return {}, {}
    keep = baseline_rows(y_tr, seed)  # chosen before anything is read or encoded
    sub = train.subset(keep)
    if modality == "text":
        x_tr: Any = [str(t) for t in sub.inputs(np.arange(len(sub)))]
        x_te: Any = [str(t) for t in test.inputs(np.arange(len(test)))]
    else:
        x_tr, x_te = _encode(sub.x, *_one_hot(sub)), None
    k = len(train.classes)
    out: dict[str, Any] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, model in _models(modality, seed).items():
        t0 = time.perf_counter()
        with _thread_limit():
            model.fit(x_tr, y_tr[keep])
            probs = np.zeros((len(test), k))
            probs[:, model.classes_] = (model.predict_proba(x_te) if x_te is not None  # absent classes: 0
                                        else predict_blocks(model.predict_proba, sub, test))
        out[name] = {**metrics(np.asarray(test.y), probs), "train_rows": int(len(keep)),
                     "train_s": round(time.perf_counter() - t0, 3)}
        outputs[name] = probs
    return out, outputs


def logistic_on_features(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, k: int,
                         seed: int = 0) -> tuple[np.ndarray, float]:
    """(test probabilities ``(N, k)``, seconds) of scikit-learn's logistic regression
    (``max_iter=1000``, default C) on standardised features -- the plain tool a practitioner
    fits on a frozen backbone's features (e.g. adapt's source-only check: source features in,
    target test features out). Rows labelled -1 are left out; classes absent from the
    training rows get probability 0."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    y = np.asarray(y_train)
    keep = baseline_rows(y, seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    with _thread_limit():
        model.fit(np.asarray(x_train, dtype=np.float64)[keep], y[keep])
        probs = np.zeros((len(x_test), k))
        probs[:, model.classes_] = model.predict_proba(np.asarray(x_test, dtype=np.float64))
    return probs, time.perf_counter() - t0


__all__ = ["MAX_BASELINE_ROWS", "baseline_rows", "logistic_on_features", "plain_classifiers",
           "predict_blocks", "table_matrix"]
