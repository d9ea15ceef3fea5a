"""Prior correction by matching class counts (``--prior-correction match``): the bias by
hand, the counts it reaches, why it keeps balanced accuracy where the Saerens shift does not,
and the fit end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transferkit.errors import ConfigError
from transferkit.tasks._prior import log_prior_ratio, match_counts


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == k] == k) for k in np.unique(y)]))


def test_match_counts_by_hand():
    # margins z0 - z1 = 2, 1, -0.5, -2 and 3 of 4 inputs wanted in class 0: class 0's bias goes
    # midway between the 3rd and 4th input's need (0.5 and 2 -> 1.25), class 1's between
    # -0.75 and 0.75 (-> 0); centred: [0.625, -0.625]
    z = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 0.5], [0.0, 2.0]])
    bias, rounds = match_counts(z, [0.75, 0.25])
    np.testing.assert_allclose(bias, [0.625, -0.625])
    assert rounds == 2  # the second round moves nothing
    # three classes, by hand: the inputs' ranking decides; 2 / 1 / 1 of 4 wanted
    z3 = np.array([[3.0, 0.0, 0.0], [2.0, 1.9, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    b3, _ = match_counts(z3, [0.5, 0.25, 0.25])
    assert (z3 + b3).argmax(1).tolist() == [0, 1, 0, 2]  # input 1 is the closest to class 1
    assert abs(b3.sum()) < 1e-12
    # a class the prior gives no input and one that takes all of them
    assert (z + match_counts(z, [0.0, 1.0])[0]).argmax(1).tolist() == [1, 1, 1, 1]
    assert (z + match_counts(z, [1.0, 0.0])[0]).argmax(1).tolist() == [0, 0, 0, 0]


def test_match_counts_reaches_the_prior_on_random_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 4)) * 2
    prior = np.array([0.5, 0.3, 0.15, 0.05])
    bias, _ = match_counts(z, prior)
    counts = np.bincount((z + bias).argmax(1), minlength=4)
    assert np.abs(counts - 600 * prior).max() <= 2


def test_match_keeps_balanced_accuracy_where_the_saerens_shift_does_not():
    """Balanced training, target 66/34, and a model whose posteriors on the target inputs
    already lean to the majority (the covariate shift of fine-foods' other products): the
    Saerens shift to the known prior adds the full log ratio on top and costs the minority's
    recall; matching the counts moves the boundary only as far as the prior asks."""
    rng = np.random.default_rng(1)
    prior = np.array([0.66, 0.34])
    y = rng.choice(2, size=4000, p=prior)
    score = np.where(y == 0, 0.5, -0.5) + rng.normal(size=4000)  # weak classifier, margin z0 - z1
    z = np.stack([score + 0.4, np.zeros(4000)], axis=1)  # + 0.4: leans to class 0 already
    before = z.argmax(1)
    shifted = (z + log_prior_ratio([0.5, 0.5], prior)).argmax(1)
    matched = (z + match_counts(z, prior)[0]).argmax(1)
    assert np.mean(matched == 0) == pytest.approx(0.66, abs=0.001)
    assert np.mean(shifted == 0) > 0.8  # over-shoots the prior
    ba0, ba_shift, ba_match = (_balanced_accuracy(y, p) for p in (before, shifted, matched))
    assert ba_shift < ba0 - 0.03
    assert ba_match > ba0 - 0.01
    assert np.mean(matched == y) > prior[0]  # above the majority class


def test_match_with_a_missing_file_is_refused():
    from transferkit.tasks import get_task

    with pytest.raises(ConfigError, match="no such file: 'nofile.json'"):
        get_task("classification", {"prior_correction": "match:nofile.json"})


def test_fit_matches_the_file_prior_on_the_test_inputs(tmp_path):
    """End to end from the CLI: match:FILE predicts the test inputs in the file's proportions."""
    from transferkit.cli import main

    prior = tmp_path / "prior.json"
    prior.write_text(json.dumps({"benign": 0.8, "malignant": 0.2}))
    out = tmp_path / "run"
    assert main(["fit", "--data", "breast-cancer-wdbc", "--backbone", "tabular", "--strategy", "linear-probe",
                 "--shots", "10", "--prior-correction", f"match:{prior}", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    section = summary["prior_correction"]
    assert section["method"] == "match:file" and section["rule"] == "match"
    assert section["predicted_share"]["benign"] == pytest.approx(0.8, abs=0.01)
    cm = np.array(summary["metrics"]["test"]["confusion_matrix"])  # rows true, columns predicted
    assert cm[:, 0].sum() / cm.sum() == pytest.approx(0.8, abs=0.01)


def test_bbse_solves_the_confusion_matrix_system_by_hand():
    from transferkit.tasks._prior import bbse_prior

    # labelled: class 0 predicted 0 8 times of 10, class 1 predicted 1 7 times of 10, so
    # C = [[0.8, 0.3], [0.2, 0.7]]; target predictions 60 % class 0:
    # 0.8 pi + 0.3 (1 - pi) = 0.6 -> pi = 0.6
    pred_l = np.array([0] * 8 + [1] * 2 + [0] * 3 + [1] * 7)
    y_l = np.array([0] * 10 + [1] * 10)
    np.testing.assert_allclose(bbse_prior(pred_l, y_l, np.array([0] * 6 + [1] * 4), 2), [0.6, 0.4])
    # more predicted 0 than C allows even at pi = 1: clipped at 0, renormalised
    np.testing.assert_allclose(bbse_prior(pred_l, y_l, np.zeros(10, np.int64), 2), [1.0, 0.0])
    assert bbse_prior(pred_l, np.zeros(20, np.int64), pred_l, 2) is None  # class 1 unlabelled


def test_bbse_recovers_a_synthetic_label_shift_within_005():
    from transferkit.tasks._prior import bbse_prior

    rng = np.random.default_rng(2)
    means = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])

    def predictions(y):
        x = means[y] + rng.normal(size=(len(y), 2))
        return (-0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1)).argmax(1)

    y_l = rng.choice(3, size=3000)  # held-out labelled examples, uniform
    target = np.array([0.1, 0.3, 0.6])
    y_t = rng.choice(3, size=4000, p=target)
    estimate = bbse_prior(predictions(y_l), y_l, predictions(y_t), 3)
    assert np.abs(estimate - target).max() < 0.05


def test_match_on_a_prior_pool_matches_the_pool_not_the_test_split(tmp_path):
    """With --prior-pool the counts are matched on the user's unlabelled inputs."""
    from sklearn.datasets import load_breast_cancer

    import transferkit as tk

    frame = load_breast_cancer(as_frame=True).data
    pool = tmp_path / "pool.csv"
    frame.iloc[np.random.default_rng(0).choice(len(frame), 100, replace=False)].to_csv(pool, index=False)
    prior = tmp_path / "prior.csv"
    prior.write_text("class,frequency\nbenign,0.3\nmalignant,0.7\n")
    run = tk.fit(data="breast-cancer-wdbc", backbone="tabular", strategy="linear-probe", shots=10,
                 out=str(tmp_path / "r"), log=None,
                 task_params={"prior_correction": f"match:{prior}", "prior_pool": str(pool)})
    section = run.summary["prior_correction"]
    assert section["em_on"] == "pool" and "100 pool inputs" in section["source"]
    assert section["predicted_share"] == {"benign": 0.3, "malignant": 0.7}
