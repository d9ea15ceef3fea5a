"""The forecasting task: metrics against hand computation, the pinball loss, the plain
forecasts, and fit -> predict on a series file from the command line."""

from __future__ import annotations

import csv
import io
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from transferkit.tasks import get_task
from transferkit.tasks._forecast_metrics import forecast_metrics, plain_forecasts, smape


def _rows(actual, mean, std, scale, series=0, origin=10, anchor=0.0):
    """A window's target row from actual values (scaled by mean/std as the data layer does,
    as corrections of a constant scaled anchor)."""
    z = (np.asarray(actual, dtype=float) - mean) / std
    return np.concatenate([z - anchor, np.full(len(z), anchor), [series, origin, mean, std, scale]])


def test_mase_smape_mae_rmse_against_hand_computation():
    # series 0: actual 10, 12; forecast 11, 15; in-sample scale 2
    # series 1: actual 100, 0; forecast 90, 0; in-sample scale 5
    targets = np.stack([_rows([10, 12], 11.0, 2.0, 2.0, 0, anchor=0.5), _rows([100, 0], 50.0, 10.0, 5.0, 1)])
    forecast = np.array([[11.0, 15.0], [90.0, 0.0]])
    # scaled and as corrections of the anchor, like the model's outputs
    outputs = (forecast - targets[:, [6]]) / targets[:, [7]] - targets[:, 2:4]
    m = forecast_metrics(targets, outputs, None, ["a", "b"], detailed=True)
    mase_a, mase_b = ((1 + 3) / 2) / 2.0, ((10 + 0) / 2) / 5.0
    assert m["mase"] == pytest.approx((mase_a + mase_b) / 2)
    terms = [2 * 1 / 21, 2 * 3 / 27, 2 * 10 / 190, 0.0]  # 0/0 counts 0
    assert m["smape"] == pytest.approx(100 * np.mean(terms))
    assert m["mae"] == pytest.approx((1 + 3 + 10 + 0) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 9 + 100 + 0) / 4))
    assert m["per_series"]["a"]["mase"] == pytest.approx(mase_a)
    assert smape(np.array([100.0, 0.0]), np.array([110.0, 0.0])) == pytest.approx(100 * (20 / 210) / 2)


def test_missing_targets_are_left_out_and_quantiles_give_coverage():
    targets = _rows([1.0, np.nan, 3.0], 0.0, 1.0, 1.0)[None]
    outputs = np.array([[0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0]])  # (1, H*Q), Q = 0.1/0.5/0.9
    m = forecast_metrics(targets, outputs, [0.1, 0.5, 0.9])
    assert m["mae"] == pytest.approx(0.0) and m["coverage"] == 1.0


def test_pinball_loss_by_hand():
    task = get_task("forecasting")  # quantiles 0.1, 0.5, 0.9
    out = torch.tensor([[0.0, 1.0, 2.0]])  # H = 1
    y = torch.tensor([[1.5, 0, 0, 0, 0, 1, 1]])  # z - a = 1.5
    expected = np.mean([0.1 * 1.5, 0.5 * 0.5, (0.9 - 1) * (1.5 - 2.0)])
    assert float(task.example_loss(out, y)[0]) == pytest.approx(expected)


def test_plain_forecasts_by_hand():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])[:, :, None]  # (1, L=5, 1)
    f = plain_forecasts(x, horizon=5, season=2)
    assert f["naive"].tolist() == [[5.0] * 5]
    assert f["seasonal_naive"].tolist() == [[4.0, 5.0, 4.0, 5.0, 4.0]]
    assert f["mean"].tolist() == [[3.0] * 5]


def test_fit_then_predict_cli_writes_the_next_values(tmp_path, monkeypatch):
    import transferkit as tk
    from transferkit.cli import main
    from transferkit.tasks import TASKS

    monkeypatch.chdir(tmp_path)
    data = TASKS.get("forecasting").tiny_example(tmp_path)
    run = tk.fit(**data, task="forecasting", seed=0, out=str(tmp_path / "run"), log=None)
    s = run.summary
    assert s["data"]["split_by"].startswith("rolling origin: 3 test origin(s)")
    assert {"naive", "seasonal_naive", "mean"} <= set(s["baselines"])
    assert "<h2>Test forecasts</h2>" in (run.run_dir / "report.html").read_text(encoding="utf-8")
    # the next H values of a new series, in its own units (a level the training never saw)
    t = np.arange(60)
    series = pd.DataFrame({"id": "new", "time": t, "value": 5000 + 1000 * np.sin(2 * np.pi * t / 12)})
    path = tmp_path / "new.csv"
    series.to_csv(path, index=False)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["predict", str(run.run_dir), str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [int(r["step"]) for r in rows] == list(range(1, 13)) and rows[0]["series"] == "new"
    values = np.array([[float(r["q0.1"]), float(r["forecast"]), float(r["q0.9"])] for r in rows])
    assert (np.diff(values, axis=1) >= 0).all()  # quantiles in order
    assert 3000 < values[:, 1].mean() < 7000  # back in the series' units
    # serve answers a whole series the same way: {"sequences": [[v, ...]]}
    from starlette.testclient import TestClient

    from transferkit.serve import create_app

    with TestClient(create_app(run.run_dir)) as client:
        reply = client.post("/predict", json={"sequences": [series["value"].tolist()]})
    assert reply.status_code == 200, reply.text
    answer = reply.json()["predictions"][0]
    assert np.allclose(answer["forecast"], values[:, 1], rtol=1e-5)
    assert np.allclose(answer["quantiles"]["0.9"], values[:, 2], rtol=1e-5)


def test_the_learned_correction_is_shrunk_on_validation_origins_only():
    from torch import nn

    task = get_task("forecasting")  # quantiles 0.1 / 0.5 / 0.9, H = 2 here
    targets = np.stack([_rows([1.0, 2.0], 0.0, 1.0, 1.0), _rows([3.0, 1.0], 0.0, 1.0, 1.0)])
    head = nn.Linear(1, 6)
    with torch.no_grad():  # a head that adds +1 to every quantile: harmful where anchor 0 is right
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, 1.0, 2.0, 0.0, 1.0, 2.0]))
    outputs = np.tile([0.0, 1.0, 2.0], (2, 2))  # the head's answers: median correction +1
    info = task.tune_head(head, targets, outputs)
    # true corrections 1, 2 / 3, 1 (anchor 0, unit scale): the median's MASE at lambda is
    # mean |lambda - truth|, lowest at lambda = 1
    truth = targets[:, :2]
    expect = {lam: np.mean(np.abs(lam - truth)) for lam in (0.0, 0.25, 0.5, 0.75, 1.0)}
    best = min(expect, key=lambda v: (expect[v], -v))
    assert info["val_mase"] == {str(k): pytest.approx(v) for k, v in expect.items()}
    assert info["shrink"] == best == 1.0
    # a head whose median says -5 (the truth is positive): seasonal naive wins, and the
    # interval keeps its width
    with torch.no_grad():
        head.bias.copy_(torch.tensor([-6.0, -5.0, -4.0, -6.0, -5.0, -4.0]))
    outputs = np.tile([-6.0, -5.0, -4.0], (2, 2))
    info = task.tune_head(head, targets, outputs)
    assert info["shrink"] == 0.0 and info["outputs_changed"]
    assert head.bias.tolist() == [-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]
    assert task.describe_head(head) == {"shrink": 0.0}
    assert task.tune_head(head, None, None) is None  # no validation origins: nothing chosen


def test_rank_scores_forecasting_windows_with_logme(tmp_path):
    from transferkit.pipeline.candidates import rank
    from transferkit.tasks import TASKS

    data = TASKS.get("forecasting").tiny_example(tmp_path)
    ranking = rank(data["data"], backbones=["sequence:cnn:8"], task="forecasting", seed=0,
                   cache_dir=str(tmp_path / "c"), season=12)
    row = ranking[0]
    assert set(row["scores"]) == {"logme"} and np.isfinite(row["scores"]["logme"])
    kind, z = get_task("forecasting").rank_targets(np.stack([_rows([1.0, np.nan], 0.0, 1.0, 1.0),
                                                             _rows([3.0, 5.0], 0.0, 1.0, 1.0)]))
    assert kind == "values" and z.tolist() == [[1.0, 5.0], [3.0, 5.0]]  # a missing target: its step's mean


def test_auto_keeps_the_backbone_with_the_lowest_validation_mase(monkeypatch):
    from transferkit.config import FitConfig
    from transferkit.pipeline import candidates

    rows = [{"backbone": b, "scores": {"logme": lm}, "probe_val_mase": m}
            for b, lm, m in (("sequence:cnn", -1.4, 0.93), ("minirocket", -1.1, 0.54))]
    monkeypatch.setattr(candidates, "rank", lambda *a, **k: candidates.Ranking(
        rows, "logme", task="forecasting", probe_metric="mase"))

    class Data:
        modality = "sequence"

        def __len__(self) -> int:
            return 3

    name, why, _ = candidates.choose_backbone(FitConfig(), Data(), lambda _m: None, val=Data())
    assert name == "minirocket" and "0.5400" in why
