"""Temperature scaling and label-prior shift correction (transferkit/tasks/_calibration.py):
hand-computed cases, synthetic shifts, and a fit whose saved, loaded and exported model
gives the adjusted probabilities."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from transferkit.errors import ConfigError
from transferkit.tasks._calibration import (
    CalibratedLinear,
    em_prior,
    fit_temperature,
    log_prior_ratio,
    nll,
    probabilities,
    read_prior,
    shift_posteriors,
)
from transferkit.tasks.classification import expected_calibration_error


def _overconfident(n: int = 3000, k: int = 3, scale: float = 3.0, seed: int = 0):
    """Labels drawn from softmax(z); the model reports scale * z (over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, size=(n, k))
    y = np.array([rng.choice(k, p=p) for p in probabilities(z)])
    return scale * z, y


def test_fitted_temperature_is_the_grid_minimum_of_the_nll():
    logits, y = _overconfident()
    t = fit_temperature(logits, y)
    grid = np.exp(np.linspace(np.log(0.2), np.log(20), 4001))
    best = grid[np.argmin([nll(logits, y, g) for g in grid])]
    assert t == pytest.approx(best, rel=2e-3)
    assert t == pytest.approx(3.0, rel=0.1)  # the planted over-confidence
    assert nll(logits, y, t) <= nll(logits, y, best) + 1e-9


def test_temperature_lowers_ece_and_keeps_every_prediction():
    logits, y = _overconfident(seed=1)
    t = fit_temperature(logits[:1500], y[:1500])  # fitted on a "validation" half
    raw, cal = probabilities(logits[1500:]), probabilities(logits[1500:] / t)
    assert (raw.argmax(1) == cal.argmax(1)).all()
    assert expected_calibration_error(y[1500:], cal) < 0.5 * expected_calibration_error(y[1500:], raw)


def test_an_under_confident_model_gets_a_temperature_below_one():
    logits, y = _overconfident(scale=0.4, seed=2)
    assert fit_temperature(logits, y) == pytest.approx(0.4, rel=0.1)


def test_shift_posteriors_by_hand():
    # p' ∝ p * (0.75 / 0.5, 0.25 / 0.5): [0.9*1.5, 0.1*0.5] = [1.35, 0.05] -> [27/28, 1/28]
    out = shift_posteriors(np.array([[0.9, 0.1]]), [0.5, 0.5], [0.75, 0.25])
    np.testing.assert_allclose(out, [[27 / 28, 1 / 28]])
    np.testing.assert_allclose(log_prior_ratio([1, 1], [3, 1]), [np.log(1.5), np.log(0.5)])


def test_em_reaches_the_hand_computed_fixed_point():
    # posteriors 0.9 and 0.2 of class 0 under a uniform training prior: the fixed point pi of
    # pi = (0.9 pi / (0.1 + 0.8 pi) + 0.2 pi / (0.8 - 0.6 pi)) / 2 solves
    # 0.96 pi^2 - 1.54 pi + 0.58 = 0, i.e. pi = 1.16 / 1.92 = 29/48 (the other root is 1)
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    prior, iterations = em_prior(probs, [0.5, 0.5])
    np.testing.assert_allclose(prior, [29 / 48, 19 / 48], atol=1e-6)
    assert iterations > 1
    np.testing.assert_allclose(shift_posteriors(probs, [0.5, 0.5], prior).mean(0), prior, atol=1e-7)


def test_em_recovers_a_synthetic_label_shift_within_005():
    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    target = np.array([0.7, 0.2, 0.1])
    y = rng.choice(3, size=4000, p=target)
    x = means[y] + rng.normal(size=(4000, 2))
    # exact posteriors of unit Gaussians under the uniform training prior
    logits = -0.5 * ((x[:, None, :] - means[None]) ** 2).sum(-1)  # (N, K)
    probs = probabilities(logits)
    prior, _ = em_prior(probs, [1 / 3, 1 / 3, 1 / 3])
    assert np.abs(prior - target).max() < 0.05
    assert np.abs(probs.mean(0) - target).max() > 0.1  # the uncorrected mean is far off
    before = (probs.argmax(1) == y).mean()
    after = (shift_posteriors(probs, [1 / 3] * 3, prior).argmax(1) == y).mean()
    assert after > before + 0.03


def test_calibrated_head_divides_and_shifts_and_loads_old_weights():
    torch.manual_seed(0)
    head = CalibratedLinear(4, 3)
    x = torch.randn(5, 4)
    plain = torch.nn.functional.linear(x, head.weight, head.bias)
    torch.testing.assert_close(head(x), plain)  # identity while it trains
    head.set_adjustment(2.0, [0.1, -0.2, 0.0])
    torch.testing.assert_close(head(x), plain / 2.0 + torch.tensor([0.1, -0.2, 0.0]))
    old = CalibratedLinear(4, 3)  # weights saved before the buffers existed load as identity
    old.temperature.fill_(5.0)
    old.load_state_dict({"weight": head.weight, "bias": head.bias})
    torch.testing.assert_close(old(x), plain)


def test_read_prior_from_json_and_csv_and_its_errors(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"b": 1, "a": 3}))
    np.testing.assert_allclose(read_prior(tmp_path / "p.json", ["a", "b"]), [0.75, 0.25])
    (tmp_path / "p.csv").write_text("class,frequency\na,0.2\nb,0.8\n")
    np.testing.assert_allclose(read_prior(tmp_path / "p.csv", ["a", "b"]), [0.2, 0.8])
    (tmp_path / "bad.csv").write_text("a,0.2\nc,0.8\n")
    with pytest.raises(ConfigError, match="class 'c'.*Known classes: a, b"):
        read_prior(tmp_path / "bad.csv", ["a", "b"])
    (tmp_path / "short.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ConfigError, match=r"no frequency for the class\(es\) \['b'\]"):
        read_prior(tmp_path / "short.json", ["a", "b"])


def test_an_unknown_prior_correction_is_refused_before_training(tmp_path):
    from transferkit.tasks import get_task

    with pytest.raises(ConfigError, match="'prior_correction' parameter must be auto, bbse, em, match, none"):
        get_task("classification", {"prior_correction": "nofile.json"})
    with pytest.raises(ConfigError, match="calibration"):
        get_task("classification", {"calibration": "platt"})
    bad = tmp_path / "prior.json"
    bad.write_text(json.dumps({"great": 1, "other": 2}))
    with pytest.raises(ConfigError, match="names the class 'great'"):  # before any training
        get_task("classification", {"prior_correction": str(bad)}).fit_targets(
            type("Train", (), {"classes": ["benign", "malignant"]})())


@pytest.fixture(scope="module")
def corrected_run(tmp_path_factory):
    import transferkit as tk

    out = tmp_path_factory.mktemp("calib") / "run"
    # max_val: a validation set drawn outside the shots (the label budget's escape hatch)
    return tk.fit(data="breast-cancer-wdbc", backbone="tabular", strategy="linear-probe", shots=10,
                  max_val=1000, out=str(out), task_params={"prior_correction": "auto"}, log=None)


def test_fit_reports_calibration_and_prior_correction(corrected_run):
    s = corrected_run.summary
    cal, prior = s["calibration"], s["prior_correction"]
    # a prior correction follows: 'auto' calibrates with a temperature and class biases (BCTS)
    assert cal["method"] == "bcts" and cal["fitted_on"] == "val" and cal["temperature"] > 0
    assert cal["val_nll_after"] <= cal["val_nll_before"] + 1e-12
    assert cal["ece_after"] <= cal["ece_before"]
    assert prior["method"] == "known"  # the built-in recorded its pool's class counts
    assert prior["train_prior"] == {"benign": 0.5, "malignant": 0.5}
    assert prior["prior"]["benign"] > 0.55 and abs(sum(prior["prior"].values()) - 1) < 1e-6
    assert s["metrics"]["test"]["accuracy"] == prior["accuracy_after"]
    assert s["metrics"]["test"]["balanced_accuracy"] == prior["balanced_accuracy_after"]


def test_saved_loaded_and_onnx_models_give_the_adjusted_probabilities(corrected_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from transferkit.data import load_splits
    from transferkit.export import export
    from transferkit.jobs.predict import load
    from transferkit.pipeline import predict_outputs
    from transferkit.tasks.classification import classification_metrics

    s = corrected_run.summary
    predictor = load(corrected_run.run_dir)
    head = predictor.model.head
    assert float(head.temperature) == pytest.approx(s["calibration"]["temperature"], rel=1e-6)
    ratio = (np.log(np.array(list(s["prior_correction"]["prior"].values())) / 0.5)
             + np.array(list(s["calibration"]["bias"].values())))
    np.testing.assert_allclose(head.log_prior_ratio.numpy(), ratio, atol=1e-4)
    splits = load_splits("breast-cancer-wdbc", shots=10)
    probs = predict_outputs(predictor.model, splits.test)
    m = classification_metrics(splits.test.y, probs)
    assert m["accuracy"] == pytest.approx(s["metrics"]["test"]["accuracy"])
    assert m["ece"] == pytest.approx(s["metrics"]["test"]["ece"], abs=1e-5)

    out = export(corrected_run.run_dir, "onnx", tmp_path / "onnx")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    items = [splits.test.input(i) for i in range(16)]
    batch = predictor.model.backbone.collate(items)
    name = session.get_inputs()[0].name
    logits = session.run(["logits"], {name: batch.numpy()})[0]
    np.testing.assert_allclose(probabilities(logits), probs[:16], atol=1e-4)


def test_report_draws_before_and_after_and_the_prior_correction(corrected_run):
    html = (corrected_run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "before and after bias-corrected temperature scaling" in html
    assert f"{corrected_run.summary['calibration']['ece_before']:.3f} before" in html
    assert "Label-prior correction" in html


def test_cli_flags_turn_calibration_and_prior_correction_off(tmp_path, capsys):
    from transferkit.cli import main

    out = tmp_path / "plain"
    code = main(["fit", "--data", "breast-cancer-wdbc", "--backbone", "tabular", "--strategy",
                 "linear-probe", "--shots", "10", "--max-val", "1000", "--calibration", "none", "--prior-correction",
                 "none", "--out", str(out), "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["calibration"]["method"] == "none"
    assert summary["calibration"]["ece_after"] == summary["calibration"]["ece_before"]
    assert "prior_correction" not in summary
    assert "prior correction" not in capsys.readouterr().out


def test_decision_rules_by_hand():
    from transferkit.tasks._calibration import choose_threshold, decide, parse_decision

    assert parse_decision("cost=5:1") == ("cost", 5.0, 1.0)
    assert parse_decision("none") is None
    with pytest.raises(ConfigError, match="'decision' parameter must be cost=FN:FP"):
        parse_decision("cost=5")
    y = np.array([True, True, False, True, False, False])
    p = np.array([0.9, 0.6, 0.5, 0.3, 0.2, 0.1])
    cost = choose_threshold(("cost", 5.0, 1.0), None, p, y)
    assert cost["threshold"] == pytest.approx(1 / 6)  # FP / (FP + FN)
    # p >= 1/6 predicts 5 positives, 3 of them right: precision 3/5, recall 3/3
    assert cost["test_precision"] == pytest.approx(0.6) and cost["test_recall"] == 1.0
    # precision >= 0.99 on validation: only p >= 0.6 (2 right of 2); recall >= 0.9: p >= 0.3
    assert choose_threshold(("precision", 0.99, 0), (p, y), p, y)["threshold"] == pytest.approx(0.6)
    assert choose_threshold(("recall", 0.9, 0), (p, y), p, y)["threshold"] == pytest.approx(0.3)
    probs = np.stack([1 - p, p], axis=1)
    decision = {"positive_index": 1, "threshold": 1 / 6}
    np.testing.assert_array_equal(decide(probs, decision), [1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(decide(probs, None), [1, 1, 0, 0, 0, 0])


def test_a_cost_decision_is_stored_and_used_by_predict(tmp_path):
    import transferkit as tk
    from transferkit.data import load_splits
    from transferkit.jobs.predict import load

    run = tk.fit(data="breast-cancer-wdbc", backbone="tabular", strategy="linear-probe", shots=10,
                 out=str(tmp_path / "r"), task_params={"decision": "cost=9:1"}, log=None)
    decision = run.summary["decision"]
    assert decision["positive"] == "malignant" and decision["threshold"] == pytest.approx(0.1)
    predictor = load(run.run_dir)
    assert predictor.manifest["decision"]["threshold"] == pytest.approx(0.1)
    assert "Decision threshold" in (run.run_dir / "report.html").read_text(encoding="utf-8")
    test = load_splits("breast-cancer-wdbc", shots=10).test
    frame = test.x.copy()
    probs = predictor.predict_proba(frame)
    expected = np.where(probs[:, 1] >= 0.1, "malignant", "benign")
    assert list(predictor.predict(frame)) == list(expected)
    accuracy = (expected == np.array(test.classes)[test.y]).mean()
    assert run.summary["metrics"]["test"]["accuracy"] == pytest.approx(accuracy)
    assert (expected == "malignant").sum() > (probs.argmax(1) == 1).sum()  # the threshold acts
    pred = expected == "malignant"
    truth = np.asarray(test.y) == 1
    assert decision["test_recall"] == pytest.approx((pred & truth).sum() / truth.sum())
    with pytest.raises(ConfigError, match="binary classification; the data has 10 classes"):
        tk.fit(data="digits", backbone="tabular", strategy="linear-probe", shots=2,
               out=str(tmp_path / "d"), task_params={"decision": "recall=0.9"}, log=None)


def test_a_prior_file_moves_the_predictions(tmp_path):
    import transferkit as tk

    prior = tmp_path / "prior.csv"
    prior.write_text("class,frequency\nbenign,0.9\nmalignant,0.1\n")
    run = tk.fit(data="breast-cancer-wdbc", backbone="tabular", strategy="linear-probe", shots=10,
                 out=str(tmp_path / "r"), task_params={"prior_correction": str(prior)}, log=None)
    section = run.summary["prior_correction"]
    assert section["method"] == "file" and section["prior"] == {"benign": 0.9, "malignant": 0.1}
    cm = np.array(run.summary["metrics"]["test"]["confusion_matrix"])
    assert cm[:, 0].sum() > cm[0].sum()  # more 'benign' answers than benign examples


def test_auto_skips_a_temperature_when_every_validation_example_is_right():
    """A few carved validation examples all right: the NLL falls as T -> 0, so 'auto' fits none
    (a fit would make every test probability 0 or 1); one wrong example brings the fit back."""
    from types import SimpleNamespace

    from transferkit.tasks import get_task
    from transferkit.tasks._calibration import calibrate

    task = get_task("classification")
    y_val, y_test = np.array([0, 1, 0, 1, 0, 1]), np.array([0, 1, 1, 0])
    part = lambda y: SimpleNamespace(y=y, classes=["a", "b"], meta={})  # noqa: E731
    splits = SimpleNamespace(train=part(np.array([0, 1])), val=part(y_val), test=part(y_test))
    right = np.where(y_val[:, None] == np.arange(2), 0.8, 0.2)  # (6, 2), every argmax right
    test = np.array([[0.7, 0.3], [0.4, 0.6], [0.6, 0.4], [0.3, 0.7]])
    _, out, sections = calibrate(task, CalibratedLinear(2, 2), splits, right, test, lambda _m: None)
    assert sections["calibration"]["method"] == "none" and "already right" in sections["calibration"]["why"]
    np.testing.assert_allclose(out, test, atol=1e-9)
    one_wrong = right.copy()
    one_wrong[0] = [0.3, 0.7]
    _, _, sections = calibrate(task, CalibratedLinear(2, 2), splits, one_wrong, test, lambda _m: None)
    assert sections["calibration"]["method"] == "temperature"


def test_bcts_bias_by_hand_on_uninformative_logits():
    """Constant logits carry no information: the NLL-optimal softmax(z / T + b) is the label
    frequency, 3/4 vs 1/4, so b0 - b1 = log 3 whatever T (centred: +-log(3)/2)."""
    from transferkit.tasks._calibration import fit_bcts

    z, y = np.zeros((8, 2)), np.array([0, 0, 0, 1, 0, 0, 0, 1])
    _, bias = fit_bcts(z, y)
    np.testing.assert_allclose(bias, [np.log(3) / 2, -np.log(3) / 2], atol=1e-4)


def test_bcts_is_the_nll_minimum_and_removes_a_planted_class_bias():
    from transferkit.tasks._calibration import fit_bcts

    z, y = _overconfident(n=2000, k=3, scale=2.0, seed=3)
    planted = np.array([1.5, 0.0, -1.5])  # the model prefers class 0
    t, b = fit_bcts(z + planted, y)
    best = nll((z + planted) / t + b, y)
    for dt in (0.9, 1.1):  # neither a nearby temperature nor a nudged bias does better
        assert nll((z + planted) / (t * dt) + b, y) > best
    assert nll((z + planted) / t + b + np.array([0.1, 0.0, -0.1]), y) > best
    # the fitted biases undo most of the planted preference (T = 2: the truth is z / 2, bias -planted / 2)
    np.testing.assert_allclose(b - b.mean(), -planted / t, atol=0.15)
    assert nll((z + planted) / t + b, y) < nll((z + planted) / fit_temperature(z + planted, y), y)


def test_calibration_without_validation_uses_cross_fitted_outputs():
    """No validation split: the temperature is fitted on the linear probe's out-of-fold outputs
    of the training shots (never on the test split), and stored in the head."""
    from types import SimpleNamespace

    from transferkit.tasks import get_task
    from transferkit.tasks._calibration import calibrate
    from transferkit.train.convex import out_of_fold_logits

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = (x[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(np.int64)
    oof = out_of_fold_logits(x, y, 2, c=100.0)
    assert oof.shape == (40, 2) and np.allclose(np.exp(oof).sum(1), 1.0)
    task = get_task("classification")
    task.cross_fitted_ = (oof, y)
    part = lambda y: SimpleNamespace(y=y, classes=["a", "b"], meta={})  # noqa: E731
    splits = SimpleNamespace(train=part(y), val=part(np.zeros(0, np.int64)), test=part(np.array([0, 1])))
    head = CalibratedLinear(5, 2)
    task.solved_head_ = (head.weight.detach().clone(), head.bias.detach().clone())  # as solve_head leaves it
    test = np.array([[0.9, 0.1], [0.2, 0.8]])
    _, _, sections = calibrate(task, head, splits, None, test, lambda _m: None)
    cal = sections["calibration"]
    assert cal["method"] == "temperature" and cal["fitted_on"] == "cross-fitted" and cal["n_val"] == 40
    assert cal["temperature"] == pytest.approx(fit_temperature(oof, y), rel=1e-6)
    assert float(head.temperature) == pytest.approx(cal["temperature"], rel=1e-6)
    with torch.no_grad():  # the head trained on after the solver (LP-FT): its OOF outputs are stale
        head.weight.add_(0.1)
    _, _, sections = calibrate(task, head, splits, None, test, lambda _m: None)
    assert sections["calibration"]["method"] == "none"


def test_em_on_a_given_pool_recovers_its_planted_prior():
    """The prior pool's posteriors, not the test inputs', drive EM: a pool drawn 80/20 from a
    calibrated model's world is estimated within 0.05, while the test inputs are 50/50."""
    from types import SimpleNamespace

    from transferkit.tasks import get_task
    from transferkit.tasks._calibration import calibrate

    rng = np.random.default_rng(1)

    def draw(n, prior):  # labels from prior, x | y ~ N(+-1, 1); the posterior under a 50/50 prior
        yy = (rng.random(n) >= prior[0]).astype(np.int64)
        x = rng.normal(np.where(yy == 0, -1.0, 1.0), 1.0)
        p1 = 1 / (1 + np.exp(-2 * x))
        return np.stack([1 - p1, p1], 1), yy

    pool, _ = draw(4000, [0.8, 0.2])
    test, y_test = draw(400, [0.5, 0.5])
    task = get_task("classification", {"prior_correction": "em", "calibration": "none"})
    task.pool_outputs_ = pool
    part = lambda y: SimpleNamespace(y=y, classes=["a", "b"], meta={})  # noqa: E731
    splits = SimpleNamespace(train=part(np.array([0, 1] * 10)), val=part(np.zeros(0, np.int64)),
                             test=part(y_test))
    _, _, sections = calibrate(task, CalibratedLinear(1, 2), splits, None, test, lambda _m: None)
    prior = sections["prior_correction"]
    assert prior["em_on"] == "pool" and prior["method"] == "em"
    assert abs(prior["prior"]["a"] - 0.8) < 0.05


def test_fit_reads_a_prior_pool_file(tmp_path):
    """End to end: --prior-pool names a CSV of unlabelled WDBC rows drawn 90 % benign; EM on
    it (not on the test split) sets the prior."""
    from sklearn.datasets import load_breast_cancer

    from transferkit.cli import main

    bunch = load_breast_cancer(as_frame=True)
    frame, target = bunch.data, bunch.target  # 1 = benign in scikit-learn
    rng = np.random.default_rng(0)
    benign, malignant = np.flatnonzero(target == 1), np.flatnonzero(target == 0)
    rows = np.concatenate([rng.choice(benign, 180, replace=False), rng.choice(malignant, 20, replace=False)])
    pool = tmp_path / "pool.csv"
    frame.iloc[rows].to_csv(pool, index=False)
    out = tmp_path / "run"
    assert main(["fit", "--data", "breast-cancer-wdbc", "--backbone", "tabular", "--strategy", "linear-probe",
                 "--shots", "10", "--prior-correction", "auto", "--prior-pool", str(pool), "--out", str(out),
                 "--quiet"]) == 0
    prior = json.loads((out / "summary.json").read_text())["prior_correction"]
    assert prior["method"] == "em" and prior["em_on"] == "pool" and "pool.csv" in prior["source"]
    assert abs(prior["prior"]["benign"] - 0.9) < 0.1
