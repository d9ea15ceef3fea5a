"""The regression task on tables: fit, original units (also with log1p), bad targets,
inference, --shots, predict / serve / export, and the loss against a hand computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import transferkit as tk
from transferkit.data import load_splits
from transferkit.errors import ConfigError, DataError
from transferkit.tasks import get_task
from transferkit.tasks.regression import RegressionObjective, TargetScaler


def _table(path: Path, n: int = 600, seed: int = 0, log: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    c = rng.choice(["x", "y", "z"], n)
    signal = 3 * a - 2 * b + 1.5 * (c == "x")
    price = np.exp(1 + 0.8 * signal / 3 + rng.normal(scale=0.1, size=n)) * 1000 if log \
        else signal + 100 + rng.normal(scale=0.5, size=n)
    pd.DataFrame({"a": a, "b": b, "c": c, "price": price}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, Path, dict, list[str]]:
    root = tmp_path_factory.mktemp("regression")
    csv = _table(root / "prices.csv")
    lines: list[str] = []
    run = tk.fit(data=str(csv), label_column="price", backbone="tabular", strategy="full",
                 epochs=15, seed=0, compare=["scratch"], out=str(root / "run"), log=lines.append)
    return run.run_dir, csv, run.summary, lines


def test_fit_beats_the_mean_in_original_units(fitted):
    run_dir, csv, s, lines = fitted
    assert s["task"] == "regression"
    test = s["metrics"]["test"]
    assert test["r2"] > 0.5 and test["r2"] > s["baselines"]["mean"]["r2"] + 0.5
    assert {"ridge", "hist_gradient_boosting"} <= set(s["baselines"])
    # --compare scratch runs through the same task; the gain is in R² (positive = helped)
    assert s["transfer_gain"] == pytest.approx(test["r2"] - s["baselines"]["scratch"]["test"]["r2"])
    assert s["labels_used"] == {"train": s["data"]["n_train"], "val": s["data"]["n_val"]}
    # the console names the rule that chose the task
    assert any("task[/bold] regression (the labels are non-integer numbers" in line for line in lines)
    frame = pd.read_csv(csv)
    model = tk.load(run_dir)
    pred = np.asarray(model.predict(frame.drop(columns=["price"]).head(50)))
    assert abs(pred.mean() - 100) < 2  # dollars, not standard deviations
    assert np.abs(pred - frame["price"].head(50)).mean() < 2
    target = json.loads((run_dir / "transferkit.json").read_text())["target"]
    assert target["name"] == "price" and target["transform"] == "none" and target["std"] > 1
    html = (run_dir / "report.html").read_text()  # the report speaks the task's metrics
    assert "best val r2" in html and "R²</b> on the test set" in html


def test_image_regression_from_npz(tmp_path):
    """Images with numeric targets (an .npz with float y): the same task, another modality."""
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 1, 160)
    x = np.zeros((160, 32, 32, 3), np.uint8)
    for i, v in enumerate(y):  # the target is the size of a white square
        k = int(v * 28) + 2
        x[i, :k, :k] = 255
    np.savez(tmp_path / "squares.npz", x=x, y=y)
    run = tk.fit(data=str(tmp_path / "squares.npz"), backbone="timm:test_efficientnet", pretrained=False,
                 strategy="full", epochs=8, image_size=32, seed=0, out=str(tmp_path / "run"), log=None)
    assert run.summary["task"] == "regression"
    assert run.summary["metrics"]["test"]["r2"] > 0.5
    pred = tk.load(run.run_dir).predict([x[0], x[1]])
    assert np.allclose(pred, y[:2], atol=0.25)


def test_log1p_target_predicts_original_units(tmp_path):
    csv = _table(tmp_path / "amounts.csv", n=400, log=True)
    run = tk.fit(data=str(csv), label_column="price", backbone="tabular", strategy="full",
                 task="regression", overrides=["task_params.target_transform=log1p"],
                 epochs=60, seed=0, out=str(tmp_path / "run"), log=None)
    assert run.summary["metrics"]["test"]["r2"] > 0.5
    manifest = json.loads((run.run_dir / "transferkit.json").read_text())
    assert manifest["target"]["transform"] == "log1p"
    frame = pd.read_csv(csv).head(40)
    pred = np.asarray(tk.load(run.run_dir).predict(frame.drop(columns=["price"])))
    assert np.median(np.abs(np.log(pred / frame["price"]))) < 0.5  # thousands, not logs


def test_bad_targets_name_the_row(tmp_path):
    frame = pd.read_csv(_table(tmp_path / "t.csv", n=40))
    frame.loc[7, "price"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match="Row 7 of .*nan.csv"):
        load_splits(str(tmp_path / "nan.csv"), targets="values", label_column="price")
    frame.loc[7, "price"] = np.inf  # and an infinite one, through the task rule of a fit
    frame.to_csv(tmp_path / "inf.csv", index=False)
    with pytest.raises(DataError, match=r"Row 7 of .*inf.csv.*'inf', which is not finite"):
        tk.fit(data=str(tmp_path / "inf.csv"), label_column="price", backbone="tabular",
               out=str(tmp_path / "y"), log=None)
    frame.loc[7, "price"] = 1.0
    frame["price"] = frame["price"].astype(object)
    frame.loc[3, "price"] = "about 90"
    frame.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match=r"Row 3 of .*text.csv.*'about 90', which is not a number"):
        tk.fit(data=str(tmp_path / "text.csv"), label_column="price", backbone="tabular",
               task="regression", out=str(tmp_path / "x"), log=None)


def test_shots_are_a_total_and_the_test_split_stays(tmp_path):
    csv = str(_table(tmp_path / "t.csv", n=300))
    full = load_splits(csv, targets="values", label_column="price")
    few = load_splits(csv, targets="values", label_column="price", shots=25, seed=3)
    assert len(few.train) == 25 and few.train.has_values and few.train.classes == []
    assert np.array_equal(few.test.y, full.test.y)
    # stratified on quantile bins: the test split spans the target's range like the data
    assert full.test.y.min() < np.quantile(full.train.y, 0.1) < np.quantile(full.train.y, 0.9) < full.test.y.max()
    with pytest.raises(DataError, match="'shots' parameter asks for 5000 training examples"):
        load_splits(csv, targets="values", label_column="price", shots=5000)


def test_predict_serve_and_onnx_answer_numbers(fitted, tmp_path):
    pytest.importorskip("onnxruntime")
    from transferkit.cli import main
    from transferkit.export import export

    run_dir, csv, _, _ = fitted
    rows = pd.read_csv(csv).drop(columns=["price"]).head(5)
    expected = np.asarray(tk.load(run_dir).predict(rows))
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run_dir), str(tmp_path / "rows.csv"), "--output", str(out)]) == 0
    written = pd.read_csv(out)
    assert np.allclose(written["prediction"].to_numpy(dtype=float), expected, rtol=1e-5)

    fastapi = pytest.importorskip("fastapi.testclient")
    from transferkit.serve import create_app

    client = fastapi.TestClient(create_app(run_dir))
    r = client.post("/predict", json={"rows": rows.to_dict(orient="records")})
    assert r.status_code == 200, r.text
    answers = [p["prediction"] for p in r.json()["predictions"]]
    assert np.allclose(answers, expected, rtol=1e-5)

    import onnxruntime as ort

    folder = export(run_dir, "onnx", tmp_path / "onnx")
    model = tk.load(run_dir)
    x = model.model.backbone.collate([rows.iloc[i].to_numpy() for i in range(len(rows))])
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0].reshape(-1)
    assert np.allclose(got, expected, rtol=1e-5)  # the graph returns original units
    assert "predicted `price`" in (folder / "MODEL_CARD.md").read_text()


def test_objective_is_mse_on_standardised_targets():
    """Equivalence with the formula by hand: (g(y_hat) - m) / s vs (g(y) - m) / s."""
    scaler = TargetScaler(mean=2.0, std=4.0, transform="log1p")
    y = torch.tensor([1.0, 10.0, 100.0])
    y_hat = torch.tensor([[2.0], [8.0], [120.0]])
    objective = RegressionObjective(lambda m, x: x, scaler)
    loss, _ = objective(None, (y_hat, y), 0)
    by_hand = (((np.log1p([2.0, 8.0, 120.0]) - 2) / 4 - (np.log1p([1.0, 10.0, 100.0]) - 2) / 4) ** 2).mean()
    assert float(loss) == pytest.approx(by_hand, rel=1e-5)


def test_task_params_are_checked():
    with pytest.raises(ConfigError, match="target_transform"):
        get_task("regression", {"target_transform": "log"})
    with pytest.raises(ConfigError, match="task_params"):
        get_task("regression", {"los": "huber"})
    with pytest.raises(DataError, match="log1p needs targets > -1, and training example 1 has -2"):
        TargetScaler.fit(np.array([0.0, -2.0, 3.0]), "log1p")


def test_rank_infers_regression_from_numeric_targets(tmp_path):
    csv = str(_table(tmp_path / "t.csv", n=60))
    frame = pd.read_csv(csv)
    frame.rename(columns={"price": "label"}).to_csv(tmp_path / "l.csv", index=False)
    lines: list[str] = []
    rows = tk.rank(str(tmp_path / "l.csv"), backbones=["tabular"], log=lines.append)
    assert rows.task == "regression" and list(rows[0]["scores"]) == ["logme"]
    assert any("task[/bold] regression" in line for line in lines)


def test_dry_run_plans_a_regression_fit(tmp_path):
    csv = str(_table(tmp_path / "t.csv", n=100))
    lines: list[str] = []
    plan = tk.fit(data=csv, label_column="price", backbone="tabular", dry_run=True,
                  out=str(tmp_path / "run"), log=lines.append)
    assert plan["task"] == "regression" and plan["data"]["train"] == plan["labels_used"]["train"]
    assert any("numeric targets" in line for line in lines)
    assert not (tmp_path / "run").exists()


def test_a_regression_model_at_the_mean_or_behind_a_plain_model_is_said_so():
    from transferkit.tasks import get_task

    task = get_task("regression")
    base = {"mean": {"r2": 0.0}, "ridge": {"r2": 0.93}, "scratch": None}
    assert get_task("regression").floor_warning({"test": {"r2": 0.01}}, base, {}).startswith(
        "below the floor")
    ahead = task.floor_warning({"test": {"r2": 0.65}}, base, {})
    assert "ridge" in ahead and "0.930" in ahead and "0.650" in ahead
    assert task.floor_warning({"test": {"r2": 0.92}}, base, {}) is None


def test_the_report_shows_the_test_predictions(fitted):
    run_dir, _, s, _ = fitted
    with np.load(run_dir / "test_predictions.npz", allow_pickle=False) as z:
        y, pred = z["y"], z["pred"]
    assert len(y) == len(pred) == s["data"]["n_test"]
    # the saved predictions are the ones the summary's metrics were computed from
    assert np.sqrt(np.mean((pred - y) ** 2)) == pytest.approx(s["metrics"]["test"]["rmse"], rel=1e-6)
    deciles = s["metrics"]["test"]["by_decile"]
    assert len(deciles) == 10 and sum(b["n"] for b in deciles) == len(y)
    assert deciles[0]["high"] <= deciles[-1]["low"]
    html = (run_dir / "report.html").read_text()
    for text in ("Test predictions", "predicted against true values", "residuals",
                 "error by decile of the true value"):
        assert text in html
