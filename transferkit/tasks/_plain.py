"""Plain-tool baselines of single-label classification: what a practitioner would fit without
transfer, on the same training split, scored on the same test split.

- texts: TF-IDF (word 1-2-grams, sublinear tf) + logistic regression;
- tables: histogram gradient boosting and logistic regression on standardised columns
  (categoricals one-hot), each on at most :data:`MAX_BASELINE_ROWS` training rows (a
  random subsample above it).

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


def table_matrix(train: Any, test: Any) -> tuple[np.ndarray, np.ndarray]:
    """Numeric columns as they are, categoricals one-hot (categories of the training rows)."""
    import pandas as pd

    schema = getattr(train, "schema", None)
    cats = [c.name for c in schema.columns if c.kind == "categorical"] if schema is not None else []
    both = pd.concat([train.x, test.x], ignore_index=True)
    for name in cats:
        known = sorted(set(train.x[name].astype(str)))
        both[name] = pd.Categorical(both[name].astype(str), categories=known)
    matrix = pd.get_dummies(both, columns=cats, dtype=np.float64).to_numpy(dtype=np.float64)
    return matrix[:len(train)], matrix[len(train):]


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
    if modality == "text":
        x_tr: Any = [str(train.input(i)) for i in range(len(train))]
        x_te: Any = [str(test.input(i)) for i in range(len(test))]
    else:
        x_tr, x_te = table_matrix(train, test)
    keep = np.flatnonzero(y_tr >= 0)
    if len(keep) > MAX_BASELINE_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(keep, MAX_BASELINE_ROWS, replace=False))
    x_tr = [x_tr[i] for i in keep] if isinstance(x_tr, list) else x_tr[keep]
    k = len(train.classes)
    out: dict[str, Any] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, model in _models(modality, seed).items():
        t0 = time.perf_counter()
        with _thread_limit():
            model.fit(x_tr, y_tr[keep])
            probs = np.zeros((len(test), k))
            probs[:, model.classes_] = model.predict_proba(x_te)  # absent classes: probability 0
        out[name] = {**metrics(np.asarray(test.y), probs), "train_rows": int(len(keep)),
                     "train_s": round(time.perf_counter() - t0, 3)}
        outputs[name] = probs
    return out, outputs


__all__ = ["MAX_BASELINE_ROWS", "plain_classifiers", "table_matrix"]
