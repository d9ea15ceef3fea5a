"""Regression beyond fit: LogME on numbers (rank), --strategy auto, and adapt with the
feature-alignment methods; refusals for what needs class probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ranking.logme_reference import slow_logme_values

import transferkit as tk
from transferkit.errors import ConfigError
from transferkit.ranking import SCORES
from transferkit.ranking.logme import LogMEScore


@pytest.mark.parametrize(("n", "d"), [(150, 8), (30, 50)])
def test_logme_on_values_matches_the_direct_formula(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    f = rng.normal(size=(n, d))
    y = 1000 * (f[:, 0] - 0.5 * f[:, 1]) + 50 * rng.normal(size=n) + 20_000  # dollars
    assert LogMEScore().score_values(f, y) == pytest.approx(slow_logme_values(f, y), rel=1e-6)
    # features that carry the target score higher than noise
    assert LogMEScore().score_values(f, y) > LogMEScore().score_values(rng.normal(size=(n, d)), y)


@pytest.mark.parametrize("name", ["leep", "nce", "hscore"])
def test_class_scores_refuse_numbers_and_name_logme(name: str) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match=f"The {name} score needs class labels.*numbers.*logme"):
        SCORES.build(name).score_values(rng.normal(size=(20, 3)), rng.normal(size=20))


def _table(path: Path, n: int = 240, shift: float = 0.0, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n) + shift
    y = 3 * a - 2 * b + 50 + rng.normal(scale=0.3, size=n)
    pd.DataFrame({"a": a, "b": b, "y": y}).to_csv(path, index=False)
    return str(path)


def test_rank_scores_a_regression_table_by_logme(tmp_path: Path) -> None:
    csv = _table(tmp_path / "t.csv")
    rows = tk.rank(csv, backbones=["tabular:8", "random:tabular:8"], label_column="y", validate=True,
                   cache_dir=str(tmp_path / "cache"))
    assert rows.task == "regression" and rows.probe_metric == "r2"
    assert [list(r["scores"]) for r in rows] == [["logme"], ["logme"]]  # LEEP/NCE/H-score skipped
    assert all(np.isfinite(r["scores"]["logme"]) and "probe_val_r2" in r for r in rows)
    assert all(r["source_probs"] is None for r in rows)  # no LEEP/NCE on numbers
    with pytest.raises(ConfigError, match="The leep score needs class labels.*logme"):
        tk.rank(csv, backbones=["tabular:8"], scores="leep", label_column="y")


def test_strategy_auto_selects_on_validation_r2(tmp_path: Path) -> None:
    run = tk.fit(data=_table(tmp_path / "t.csv"), label_column="y", backbone="tabular:8",
                 strategy="auto", epochs=2, time_budget="60s", out=str(tmp_path / "run"),
                 cache_dir=str(tmp_path / "cache"), log=None)
    s = run.summary
    assert s["task"] == "regression" and "validation r2" in s["choice"]
    assert s["auto"]["tried"][0]["strategy"] == "linear-probe" and "val_r2" in s["auto"]["tried"][0]
    assert s["metrics"]["test"]["r2"] > 0.5  # a linear target: the probe alone finds it


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[str, str, Path]:
    root = tmp_path_factory.mktemp("adapt-regression")
    return _table(root / "s.csv", seed=0), _table(root / "t.csv", shift=1.5, seed=1), root


def test_adapt_coral_on_regression(domains) -> None:
    source, target, root = domains
    run = tk.adapt(source={"data": source, "label_column": "y"}, target=target, method="coral", select="dev",
                   backbone="tabular:8", epochs=3, out=str(root / "coral"),
                   cache_dir=str(root / "cache"), log=None)
    s = run.summary
    assert s["task"] == "regression" and s["command"] == "adapt"
    assert {"r2", "rmse", "mae"} <= set(s["metrics"]["test"])
    assert {"mean", "ridge", "source_only"} <= set(s["baselines"])  # ridge: fit on the source rows
    assert s["adapt"]["adaptation_gain"] == pytest.approx(
        s["metrics"]["test"]["r2"] - s["baselines"]["source_only"]["test"]["r2"])
    chosen = [c for c in s["selection"]["candidates"] if c["chosen"]]
    assert chosen and "source_val_r2" in chosen[0]
    assert "error by decile of the true value" in (run.run_dir / "report.html").read_text()
    with np.load(run.run_dir / "test_predictions.npz", allow_pickle=False) as z:
        assert len(z["y"]) == len(z["pred"]) == s["data"]["n_test"]
    pred = np.asarray(tk.load(run.run_dir).predict(pd.read_csv(target).drop(columns=["y"]).head(20)))
    assert pred.shape == (20,) and 20 < pred.mean() < 80  # original units, around the mean of 50


@pytest.mark.parametrize("method", ["coral-transform", "importance"])
def test_adapt_shallow_methods_on_regression(domains, method: str) -> None:
    source, target, root = domains
    run = tk.adapt(source={"data": source, "label_column": "y"}, target=target, method=method, select="dev",
                   backbone="tabular:8", epochs=2, out=str(root / method),
                   cache_dir=str(root / "cache"), log=None)
    assert run.summary["task"] == "regression" and np.isfinite(run.summary["metrics"]["test"]["r2"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "cdan", "select": "dev"}, "'cdan' method of adapt needs class probabilities.*coral"),
    ({"method": "mcc", "select": "dev"}, "'mcc' method.*Methods that work for regression:.*mmd"),
    ({"method": "coral", "select": "snd"}, "'snd' validator.*Validators that work for regression: dev"),
    ({"method": "coral", "select": "entropy"}, "'entropy' validator.*--select dev"),
])
def test_adapt_refuses_what_needs_class_probabilities(domains, kwargs, message: str) -> None:
    source, target, root = domains
    with pytest.raises(ConfigError, match=message):
        tk.adapt(source={"data": source, "label_column": "y"}, target=target, backbone="tabular:8", epochs=1,
                 out=str(root / "refused"), cache_dir=str(root / "cache"), log=None, **kwargs)


def test_pretrain_on_a_regression_table_then_fit_from_it(tmp_path: Path) -> None:
    """The LaLonde chain on tiny tables: pretrain on the source's numbers, fit 40 target rows
    from that run with --compare scratch; predictions and the ONNX export speak dollars."""
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from transferkit.export import export

    rng = np.random.default_rng(0)

    def earnings(path: Path, n: int, shift: float) -> str:
        age, edu = rng.uniform(20, 60, n), rng.integers(6, 18, n).astype(float)
        re75 = np.maximum(0, rng.normal(8000 + shift, 4000, n))
        re78 = 0.6 * re75 + 400 * edu + 50 * age + rng.normal(0, 800, n)
        pd.DataFrame({"age": age, "educ": edu, "re75": re75, "re78": re78}).to_csv(path, index=False)
        return str(path)

    src, tgt = earnings(tmp_path / "src.csv", 300, 0.0), earnings(tmp_path / "tgt.csv", 200, 3000.0)
    pre = tk.pretrain(data=src, label_column="re78", arch="tabular:16", epochs=3, lr=0.01,
                      out=str(tmp_path / "pre"), log=None)
    assert pre.summary["command"] == "pretrain" and pre.summary["task"] == "regression"
    run = tk.fit(data=tgt, label_column="re78", backbone=str(tmp_path / "pre"), shots=40,
                 compare=["scratch"], epochs=3, out=str(tmp_path / "fit"), log=None)
    s = run.summary
    assert s["data"]["n_train"] == 40 and s["baselines"]["scratch"]["test"]["r2"] is not None
    assert s["transfer_gain"] == pytest.approx(s["metrics"]["test"]["r2"]
                                               - s["baselines"]["scratch"]["test"]["r2"])
    rows = pd.read_csv(tgt).drop(columns=["re78"]).head(5)
    expected = np.asarray(tk.load(run.run_dir).predict(rows))
    assert 3000 < expected.mean() < 30000  # dollars
    folder = export(run.run_dir, "onnx", tmp_path / "onnx")
    model = tk.load(run.run_dir)
    x = model.model.backbone.collate([rows.iloc[i].to_numpy() for i in range(len(rows))])
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0].reshape(-1)
    assert np.allclose(got, expected, rtol=1e-4)
