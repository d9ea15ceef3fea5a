"""The linear probe's convex head: L-BFGS logistic regression with cross-validated L2,
folded into the model's nn.Linear head."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

import transferkit as tk
from transferkit.train.convex import fit_logistic_head


def _blobs(k: int, n: int = 30, d: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, d))
    y = np.repeat(np.arange(k), n)
    scale = rng.uniform(0.1, 50.0, size=d)  # features on very different scales
    return (centers[y] + rng.normal(size=(len(y), d))) * scale + 7.0, y


def _logits(w: torch.Tensor, b: torch.Tensor, x: np.ndarray) -> np.ndarray:
    return (torch.from_numpy(x).float() @ w.T + b).numpy()


def test_the_head_equals_sklearn_logistic_regression_on_scaled_features():
    for k in (2, 3):  # binary: sklearn's single logit becomes two softmax logits
        x, y = _blobs(k)
        w, b, info = fit_logistic_head(x, y, k)
        assert w.shape == (k, x.shape[1]) and b.shape == (k,)
        z = (x - x.mean(0)) / (np.linalg.norm(x, axis=1).mean() / np.sqrt(x.shape[1]))
        ref = LogisticRegression(C=info["c"], max_iter=1000).fit(z, y)
        probs = torch.softmax(torch.from_numpy(_logits(w, b, x)), dim=1).numpy()
        np.testing.assert_allclose(probs, ref.predict_proba(z), atol=1e-4)


def test_an_absent_class_is_never_predicted():
    x, y = _blobs(3)
    keep = y != 1
    w, b, _ = fit_logistic_head(x[keep], y[keep], 3)
    assert not (_logits(w, b, x).argmax(1) == 1).any()


def test_without_validation_the_l2_strength_comes_from_cross_validation():
    x, y = _blobs(3, n=10)
    _, _, info = fit_logistic_head(x, y, 3)
    assert len(info["cv_scores"]) > 1 and info["c"] in {float(c) for c in info["cv_scores"]}


def test_linear_probe_solves_by_default_and_sgd_on_request(tmp_path):
    common = dict(data="breast-cancer-wdbc", backbone="tabular", strategy="linear-probe",
                  cache_dir=str(tmp_path / "c"), log=None)
    solved = tk.fit(out=str(tmp_path / "a"), **common)
    stage = solved.summary["stages"][0]
    assert stage["stopped"] == "converged" and stage["solver"]["solver"] == "lbfgs"
    assert solved.summary["metrics"]["test"]["accuracy"] > 0.85
    sgd = tk.fit(out=str(tmp_path / "b"), strategy_params={"solver": "sgd"}, **common)
    assert sgd.summary["stages"][0]["stopped"] != "converged"


def test_the_l2_strength_comes_from_the_validation_split_when_there_is_one():
    x, y = _blobs(3, n=10)
    x_val, y_val = _blobs(3, n=10, seed=0)
    _, _, info = fit_logistic_head(x, y, 3, x_val=x_val + 0.5, y_val=y_val)
    assert info["c_chosen_on"] == "the validation split"
    _, _, info = fit_logistic_head(x, y, 3)
    assert info["c_chosen_on"].startswith("cross-validation")


def test_the_ridge_head_is_sklearns_ridge_classifier_cv_on_standardised_features():
    from sklearn.linear_model import RidgeClassifierCV

    from transferkit.train.convex import RIDGE_ALPHAS, fit_ridge_classifier_head

    for k in (2, 3):
        x, y = _blobs(k, n=8, d=40)
        w, b, info = fit_ridge_classifier_head(x, y, k)
        z = (x - x.mean(0)) / x.std(0)
        ref = RidgeClassifierCV(alphas=RIDGE_ALPHAS).fit(z, y)
        assert info["alpha"] == ref.alpha_
        scores = ref.decision_function(z)
        scores = np.stack([-scores / 2, scores / 2], 1) if k == 2 else scores
        np.testing.assert_allclose(_logits(w, b, x) * info["temperature"], scores, rtol=1e-3, atol=1e-3)


def test_the_ridge_temperature_comes_from_leave_one_out_scores():
    from transferkit.train.convex import fit_ridge_classifier_head

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 20)), np.arange(30) % 3  # no signal: LOO is wrong often
    _, _, info = fit_ridge_classifier_head(x, y, 3)
    assert info["loo_accuracy"] < 1 and info["temperature"] != 1.0
    x, y = _blobs(3, n=10)  # well separated: no finite temperature is best, so none is applied
    _, _, info = fit_ridge_classifier_head(x, y, 3)
    assert info["loo_accuracy"] == 1 and info["temperature"] == 1.0
