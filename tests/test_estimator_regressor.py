"""TransferRegressor: scikit-learn's estimator checks, Pipeline / cross_val_score, original
units (also with log1p), clone / get_params, and a run directory that predicts the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks

import transferkit as tk
from transferkit.estimator import TransferClassifier, TransferEstimator, TransferRegressor


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fast(**kw) -> TransferRegressor:
    return TransferRegressor(**{"backbone": "tabular", "epochs": 10, "lr": 0.01, "batch_size": 32, **kw})


def _linear(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, 5000 + 800 * x[:, 0] - 300 * x[:, 1] + 20 * rng.normal(size=n)  # dollars


# TransferClassifier runs every scikit-learn check on the shared base (inputs, fitted state,
# parameters); here the ones about a regressor's targets and outputs, on the regressor.
CHECKS = ("check_regressors_train", "check_regressor_data_not_an_array", "check_regressors_int",
          "check_regressors_no_decision_function", "check_estimators_unfitted",
          "check_get_params_invariance", "check_set_params", "check_dont_overwrite_parameters",
          "check_fit2d_predict1d", "check_n_features_in", "check_estimators_nan_inf")


@pytest.mark.parametrize("name", CHECKS)
def test_sklearn_estimator_checks(name):
    getattr(estimator_checks, name)("TransferRegressor", _fast(epochs=4))


def test_shares_the_classifiers_base_and_clones():
    assert issubclass(TransferRegressor, TransferEstimator) and issubclass(TransferClassifier, TransferEstimator)
    est = _fast(target_transform="log1p", seed=3)
    params = clone(est).get_params()
    assert params["target_transform"] == "log1p" and params["seed"] == 3 and "label_smoothing" not in params
    assert tk.TransferRegressor is TransferRegressor


def test_pipeline_and_cross_val_score_predict_in_original_units():
    x, y = _linear()
    scores = cross_val_score(make_pipeline(StandardScaler(), _fast(strategy="linear-probe")), x, y, cv=3)
    assert scores.mean() > 0.9  # R²: a linear target, the closed-form probe finds it
    est = _fast(strategy="linear-probe").fit(x, y)
    pred = est.predict(x)
    assert pred.shape == (len(y),) and abs(pred.mean() - 5000) < 100  # dollars, not z-scores
    assert est.score(x, y) > 0.9


def test_log1p_and_a_run_directory(tmp_path):
    x, y = _linear()
    y = np.exp(y / 1000)  # ~ e^5 spread over orders of magnitude
    est = _fast(target_transform="log1p", strategy="linear-probe", run_dir=str(tmp_path / "run")).fit(x, y)
    assert est.score(x, y) > 0.5
    loaded = np.asarray(tk.load(tmp_path / "run").predict(
        __import__("pandas").DataFrame(x, columns=[f"x{i}" for i in range(4)])))
    assert np.allclose(loaded, est.predict(x), rtol=1e-4)


def test_bad_targets_name_the_row():
    x, y = _linear(20)
    y[7] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        _fast().fit(x, y)
    with pytest.raises(ValueError, match="numeric targets.*TransferClassifier"):
        _fast().fit(x, np.array(["a", "b"] * 10))
