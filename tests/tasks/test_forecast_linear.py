"""The linear path of forecasting: the ``lags`` backbone (a series' last L values) and the
task's closed-form ridge probe, against sklearn / brute force, and its L2 strength chosen
without reading the test origins."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch

from transferkit.tasks._forecast_ridge import (
    SHRINK_GRID,
    _coefs,
    _loo_residuals,
    fit_forecast_ridge,
    rolling_rounds,
)


def _windows(rng: np.random.Generator, n: int, d: int, h: int, ordered: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) and window target rows (corrections z, anchors 0, series 0, origin,
    mean 0, std 1, MASE scale 1) whose corrections are linear in the features + noise. Not
    ``ordered``: every window at origin 0 (no history to roll an origin through)."""
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d) + rng.normal(size=d)
    z = x @ rng.normal(size=(d, h)) + 0.3 * rng.normal(size=(n, h)) + 1.5
    origin = np.arange(n) if ordered else np.zeros(n)
    extra = np.column_stack([np.zeros(n), origin, np.zeros(n), np.ones(n), np.ones(n)])
    return x, np.hstack([z, np.zeros((n, h)), extra])


def _ridge_forecast(x: np.ndarray, z: np.ndarray, xe: np.ndarray, alpha: float) -> np.ndarray:
    """sklearn's Ridge on features standardised on ``x``."""
    from sklearn.linear_model import Ridge

    mu, sd = x.mean(0), x.std(0)
    return Ridge(alpha=alpha).fit((x - mu) / sd, z).predict((xe - mu) / sd)


def test_ridge_head_matches_sklearn_and_brute_force_leave_one_out():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    x, y = _windows(rng, 30, 5, 3)
    w, b, info = fit_forecast_ridge(x, y, [0.1, 0.5, 0.9], alphas=(2.0,))
    assert info["alpha"] == 2.0 and info["alpha_chosen_on"].startswith("leave-one-out")
    mu, sd = x.mean(0), x.std(0)
    ref = Ridge(alpha=2.0).fit((x - mu) / sd, y[:, :3])
    pred = x @ w.T + b  # (N, H * Q), quantile-minor
    median = pred.reshape(30, 3, 3)[:, :, 1]
    assert np.allclose(median, ref.predict((x - mu) / sd), atol=1e-8)
    # the outer quantiles: the median plus the leave-one-out residuals' quantiles, by brute force
    loo = np.empty((30, 3))
    for i in range(30):
        keep = np.arange(30) != i
        m_i, s_i = mu, sd  # standardisation is fixed before leaving out (as in the solver)
        r = Ridge(alpha=2.0).fit((x[keep] - m_i) / s_i, y[keep, :3])
        loo[i] = y[i, :3] - r.predict(((x[i] - m_i) / s_i)[None])[0]
    low = pred.reshape(30, 3, 3)[:, :, 0] - median
    assert np.allclose(low[0], np.quantile(loo, 0.1, axis=0), atol=1e-6)
    xs = (x - mu) / sd
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    zc = y[:, :3] - y[:, :3].mean(0)
    assert np.allclose(_loo_residuals(u, s, xs, zc, _coefs(u, s, vt, zc, 2.0), 2.0), loo, atol=1e-8)


def test_ridge_alpha_and_shrinkage_are_chosen_on_the_validation_windows_mase():
    rng = np.random.default_rng(1)
    x, y = _windows(rng, 40, 4, 2)
    xv, yv = _windows(np.random.default_rng(2), 6, 4, 2)
    alphas = (0.01, 1.0, 1e4)
    _, _, info = fit_forecast_ridge(x, y, None, (xv, yv), alphas=alphas)
    mase = {}
    for a in alphas:  # by hand: unit std and scale, anchor 0, so MASE is the mean |error|
        f = _ridge_forecast(x, y[:, :2], xv, a)
        for lam in SHRINK_GRID:
            mase[a, lam] = np.mean(np.abs(lam * f - yv[:, :2]))
    best = min(mase, key=lambda k: (mase[k], -k[0], -k[1]))
    assert (info["alpha"], info["shrink"]) == best and info["score"] == pytest.approx(mase[best], abs=1e-5)
    assert info["scores"]["seasonal naive"] == {
        f"{a:g}": pytest.approx(min(mase[a, lam] for lam in SHRINK_GRID), abs=1e-5) for a in alphas}
    assert info["prior"] == "seasonal naive"  # anchors 0: both priors fit alike, the tie keeps it
    assert info["rolling_rounds"] == 0 and info["alpha_chosen_on"].startswith(
        "rolling-origin MASE (6 validation window(s) + 0 origin(s)")


def test_rolling_origin_rounds_refit_on_the_past_and_pool_with_validation():
    # two series: each round forecasts the window j steps before ITS last training origin
    series, origins = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), np.array([5, 6, 7, 8, 3, 4, 5, 6, 7, 8])
    rounds = rolling_rounds(series, origins, 2, min_fraction=0.4)  # >= 4 windows
    assert [e.nonzero()[0].tolist() for _, e in rounds] == [[3, 9], [2, 8]]
    assert rounds[0][0].nonzero()[0].tolist() == [0, 1, 4, 5, 6, 7]  # targets end by the origin
    assert len(rolling_rounds(series, origins, 2, min_fraction=0.4, max_rounds=1)) == 1
    # the choice = brute force: sklearn refits per round + the validation windows, pooled MASE
    x, y = _windows(np.random.default_rng(4), 30, 3, 2, ordered=True)
    y[:, -1] = np.linspace(1.0, 2.0, 30)  # MASE scales differ per window: the std / scale weight
    xv, yv = _windows(np.random.default_rng(5), 4, 3, 2)
    alphas = (0.1, 10.0, 1e3)
    _, _, info = fit_forecast_ridge(x, y, None, (xv, yv), alphas=alphas)
    errors: dict = {}
    for j in range(14):  # the refit keeps >= 15 of the 30 windows: origin <= 29 - j - 2
        fit = np.arange(30) <= 29 - j - 2
        for a in alphas:
            f = _ridge_forecast(x[fit], y[fit, :2], x[29 - j:30 - j], a)
            for lam in SHRINK_GRID:
                errors.setdefault((a, lam), []).append(np.abs(lam * f - y[29 - j, :2]).mean() / y[29 - j, -1])
    for a in alphas:
        f = _ridge_forecast(x, y[:, :2], xv, a)
        for lam in SHRINK_GRID:
            errors[a, lam] += list(np.abs(lam * f - yv[:, :2]).mean(1))
    mase = {k: np.mean(v) for k, v in errors.items()}
    best = min(mase, key=lambda k: (mase[k], -k[0], -k[1]))
    assert info["rolling_rounds"] == 14 and info["validation_windows"] == 4
    assert (info["alpha"], info["shrink"]) == best and info["score"] == pytest.approx(mase[best], abs=1e-5)


def test_ridge_shrinks_towards_the_context_mean_when_that_validates_better():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(3)

    def rows(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, 4))  # feature 0 is the anchor (the value a season ago)
        future = 0.5 * x[:, [3]] + 0.1 * rng.normal(size=(n, 1))  # mean-reverting, not seasonal
        extra = np.column_stack([np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n), np.ones(n)])
        return x, np.hstack([future - x[:, [0]], x[:, [0]], extra])

    (x, y), (xv, yv) = rows(60), rows(20)
    w, b, info = fit_forecast_ridge(x, y, None, (xv, yv), alphas=(1e4,))
    assert info["prior"] == "context mean" and info["shrink"] == 1.0  # the mean beats seasonal naive
    mu, sd = x.mean(0), x.std(0)
    ref = Ridge(alpha=1e4).fit((x - mu) / sd, y[:, 0] + y[:, 1])  # regresses the values
    assert np.allclose((xv @ w.T + b)[:, 0] + xv[:, 0], ref.predict((xv - mu) / sd), atol=1e-8)


def test_lags_backbone_takes_the_last_values_padded_on_the_left():
    from transferkit.backbones import create_backbone
    from transferkit.data.dataset import TransferDataset

    x = np.arange(2 * 5 * 2, dtype=np.float32).reshape(2, 5, 2)
    bb = create_backbone("lags:3")
    bb.adapt_to(TransferDataset("s", "sequence", x, np.zeros(2), []))
    short = np.array([[1.0, 10.0], [np.nan, 20.0]], dtype=np.float32)  # 2 steps, a missing value
    feats = bb(bb.collate([x[0], short])).numpy()
    assert bb.feature_dim == 6 and feats.shape == (2, 6)
    assert feats[0].tolist() == x[0, 2:].reshape(-1).tolist()
    fill = float(np.mean(x[:, :, 0]))  # channel 0's training mean
    assert feats[1].tolist() == pytest.approx([1.0, 10.0, 1.0, 10.0, fill, 20.0])
    cols = bb.context_columns()  # (C, L): where channel c's step s sits
    assert cols.shape == (2, 3) and (feats[0][cols] == x[0, 2:].T).all()
    rebuilt = type(bb).from_description(bb.describe())
    rebuilt.load_state_dict(bb.state_dict())
    assert torch.equal(rebuilt(rebuilt.collate([short])), bb(bb.collate([short])))


def _series_csv(path, tail: float) -> str:
    rng = np.random.default_rng(0)
    t = np.arange(90)
    y = 50 + 10 * np.sin(2 * np.pi * t / 6) + rng.normal(0, 1.0, 90)
    y[-8:] += tail  # the test period only (2 origins x H 4, stride 4)
    pd.DataFrame({"id": "a", "time": t, "value": y}).to_csv(path, index=False)
    return str(path)


def test_lags_fit_is_solved_in_closed_form_and_never_reads_the_test_origins(tmp_path):
    import transferkit as tk

    heads, summaries, kept = [], [], []
    for k, tail in enumerate((0.0, 500.0)):
        run = tk.fit(data=_series_csv(tmp_path / f"s{k}.csv", tail), task="forecasting", backbone="lags",
                     seed=0, out=str(tmp_path / f"run{k}"), log=None, horizon=4, context=12, season=6,
                     origins=2, stride=4)
        summaries.append(run.summary)
        heads.append({k: v.clone() for k, v in run.model.head.state_dict().items()})
        kept.append(run.model.head.forecast_shrink)
    solver = summaries[0]["stages"][0]["solver"]
    assert solver["solver"] == "ridge" and solver["rolling_rounds"] > 0
    assert solver["alpha_chosen_on"].startswith("rolling-origin MASE (2 validation window(s) + ")
    assert summaries[0]["strategy"] == "linear-probe"
    # changing the test period's values changes the test metrics, never the fitted head nor
    # anything its choice saw (the rolling origins lie in the training history)
    assert summaries[1]["stages"][0]["solver"] == solver
    assert kept == [solver["shrink"]] * 2  # the evaluation's tune_head kept the ridge's choice
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])
    assert summaries[0]["metrics"]["test"]["mase"] != summaries[1]["metrics"]["test"]["mase"]
    assert summaries[0]["metrics"]["test"]["mase"] < summaries[0]["baselines"]["mean"]["mase"]


def test_forecasting_defaults_to_lags_and_auto_stops_at_its_probe():
    from transferkit.backbones.lags import LagsBackbone
    from transferkit.jobs.auto import strategy_ladder
    from transferkit.jobs.fit import resolve_config, with_task_backbone
    from transferkit.pipeline.candidates import task_pool
    from transferkit.tasks import get_task

    said: list[str] = []
    cfg = with_task_backbone(resolve_config(None, (), data="lynx", task="forecasting"), said.append)
    assert cfg.backbone.name == "lags" and "the forecasting task's default" in said[0]
    named = resolve_config(None, (), data="lynx", task="forecasting", backbone="sequence:cnn")
    assert with_task_backbone(named, said.append).backbone.name == "sequence:cnn"
    # the config's default image backbone typed by name is the user's choice too (then its
    # own error about series data), through every front door; the CLI's config goes through fit again
    from transferkit.cli import build_parser, config_from_args
    from transferkit.config import BackboneConfig, FitConfig

    typed = BackboneConfig().name
    args = build_parser().parse_args(["fit", "--data", "lynx", "--task", "forecasting", "--backbone", typed])
    for cfg in (resolve_config(None, (), data="lynx", task="forecasting", backbone=typed),
                resolve_config(None, (f"backbone.name={typed}",), data="lynx", task="forecasting"),
                resolve_config(config_from_args(FitConfig, args))):
        assert with_task_backbone(cfg, said.append).backbone.name == typed
    plain = build_parser().parse_args(["fit", "--data", "lynx", "--task", "forecasting"])
    assert with_task_backbone(resolve_config(config_from_args(FitConfig, plain)), said.append).backbone.name == "lags"
    auto = resolve_config(None, (), data="lynx", task="forecasting", strategy="auto")
    assert with_task_backbone(auto, said.append).backbone.name == auto.backbone.name  # auto: its pool
    pool = task_pool("sequence", get_task("forecasting"))
    assert "lags" in pool and pool.index("lags") >= 2  # after the modality's own pool
    # the packaged forecaster joins where its package is installed
    has_fracast = importlib.util.find_spec("fracast") is not None
    assert ("fracast" in pool) == ("lags+fracast" in pool) == has_fracast
    from transferkit.backbones import installed

    assert installed("lags+sequence:cnn") and installed("lags+fracast") == has_fracast
    assert "lags" not in task_pool("sequence", get_task("classification"))
    ladder, why = strategy_ladder(LagsBackbone(), 100, 1, unit="training windows")
    assert ladder == ["linear-probe"] and "stops at the probe" in why
    import transferkit as tk
    from transferkit.errors import ConfigError

    for objective in ("supervised", "masked"):  # nothing in lags would carry over
        with pytest.raises(ConfigError, match="cannot pretrain 'lags'"):
            tk.pretrain(data="lynx", arch="lags", objective=objective, log=None)


def test_onnx_export_of_a_forecaster_gives_the_series_units_that_predict_gives(tmp_path):
    import onnxruntime as ort

    import transferkit as tk
    from transferkit.export import export
    from transferkit.jobs.predict import load
    from transferkit.tasks import TASKS
    from transferkit.tasks._forecast_io import forecast_files

    data = TASKS.get("forecasting").tiny_example(tmp_path)
    run = tk.fit(data=data["data"], season=12, task="forecasting", backbone="lags", seed=0,
                 out=str(tmp_path / "run"), log=None)
    out = export(run.run_dir, "onnx", tmp_path / "onnx")
    predictor = load(run.run_dir, device="cpu")
    rows = forecast_files(predictor, data["data"])
    frame = pd.read_csv(data["data"])
    context = predictor.manifest["forecast"]["context"]
    x = np.stack([frame[frame["id"] == s]["value"].to_numpy()[-context:] for s in ("s0", "s2")])
    x = x[:, :, None].astype(np.float32)
    session = ort.InferenceSession(str(out / "model.onnx"))
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, [x, np.full(2, context, dtype=np.int64)], strict=True)))[0]
    got = got.reshape(2, -1, 3)  # (series, H, quantiles 0.1 / 0.5 / 0.9)
    for k, sid in enumerate(("s0", "s2")):
        want = [r for r in rows if r["series"] == sid]
        assert np.allclose(got[k, :, 1], [r["forecast"] for r in want], rtol=1e-4)
        assert np.allclose(got[k, :, 2], [r["q0.9"] for r in want], rtol=1e-4)


def test_dry_run_of_a_forecasting_fit_plans_lags_and_its_closed_form_probe(tmp_path):
    import transferkit as tk
    from transferkit.tasks import TASKS

    data = TASKS.get("forecasting").tiny_example(tmp_path)
    lines: list[str] = []
    plan = tk.fit(data=data["data"], season=12, task="forecasting", dry_run=True, log=lines.append,
                  cache_dir=str(tmp_path / "cache"))
    assert plan["backbone"]["name"] == "lags" and plan["strategy"] == "linear-probe"
    stage = plan["stages"][0]
    assert stage["inputs"].endswith("solved in closed form by the task's convex solver (ridge)")
    # no SGD step count beside the closed-form solve (kept apart for a solver that declines)
    assert stage["steps"] == 0 and stage["epochs"] == 0 and stage["sgd_steps_if_declined"] >= 1
    said = next(line for line in lines if "stage head:" in line)
    assert "no training steps" in said and " steps," not in said.replace("no training steps,", "")


def test_lags_plus_puts_the_last_values_beside_the_encoders_features(tmp_path):
    from transferkit.backbones import create_backbone, from_description
    from transferkit.data.dataset import TransferDataset

    x = np.random.default_rng(0).normal(size=(4, 10, 2)).astype(np.float32)
    bb = create_backbone("lags+sequence:cnn:8")
    bb.adapt_to(TransferDataset("s", "sequence", x, np.zeros(4), []))
    bb.eval()
    batch = bb.collate(list(x))
    feats = bb(batch)
    assert bb.feature_dim == 8 + 20 and feats.shape == (4, 28)
    assert torch.equal(feats[:, :8], bb.inner(batch)) and torch.equal(feats[:, 8:], torch.from_numpy(x).flatten(1))
    assert (feats.detach().numpy()[:, bb.context_columns()] == x.transpose(0, 2, 1)).all()  # after the encoder's
    assert len(bb.blocks()) == len(bb.inner.blocks())  # strategies train the encoder as alone
    rebuilt = from_description(bb.describe())
    rebuilt.load_state_dict(bb.state_dict())
    rebuilt.eval()
    assert torch.allclose(rebuilt(rebuilt.collate(list(x))), feats)


def test_tune_head_keeps_the_ridges_choice_until_the_head_trains_again():
    from torch import nn

    from transferkit.tasks import get_task

    task = get_task("forecasting", {"loss": "mse"})
    x, y = _windows(np.random.default_rng(6), 30, 3, 2)
    xv, yv = _windows(np.random.default_rng(7), 5, 3, 2)
    head = nn.Linear(3, 2)
    info = task.solve_head(head, x, y, None, val=(xv, yv))
    before = head.weight.detach().clone()
    outputs = (torch.from_numpy(xv).float() @ head.weight.T + head.bias).detach().numpy()
    kept = task.tune_head(head, yv, outputs)
    assert kept["shrink"] == info["shrink"] and not kept["outputs_changed"] and "val_mase" not in kept
    assert torch.equal(head.weight, before)  # nothing re-chosen on the validation windows alone
    with torch.no_grad():  # a later stage trained the head: the validation shrinkage applies again
        head.weight.add_(0.5)
    assert "val_mase" in task.tune_head(head, yv, outputs)


def test_anchor_map_needs_evidence_when_few_windows_fit_anything():
    """With fewer windows than features any anchors fit exactly, which proves nothing (a
    fracast-like backbone with 112 features on 61 windows was taken for lags); a selection
    of feature columns (lags) is recognised whatever the number of windows."""
    from transferkit.tasks._forecast_ridge import anchor_map

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 30))
    assert anchor_map(x, rng.normal(size=(10, 2))) is None
    p = anchor_map(x, x[:, [3, 7]])  # lags: the anchors are two of the features
    assert p is not None and np.allclose(np.hstack([x, np.ones((10, 1))]) @ p, x[:, [3, 7]])
    many = rng.normal(size=(50, 30))  # more windows than features: an exact fit is evidence
    mixed = many[:, :2] @ np.array([[1.0, 2.0], [0.5, -1.0]]) + 3.0
    assert anchor_map(many, mixed) is not None and anchor_map(many, rng.normal(size=(50, 2))) is None


def _pretrained_windows(rng: np.random.Generator, n: int, bias: float = 0.4, ordered: bool = True,
                        noise: float = 0.05, others: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[lag0, lag1, other, forecast step 1, forecast step 2, others...]`` and window
    rows whose anchors are the two lags and whose scaled future is the forecast + a bias +
    noise (the pretrained model is right but for its bias)."""
    x = rng.normal(size=(n, 5 + others))
    future = x[:, 3:5] + bias + noise * rng.normal(size=(n, 2))
    origin = np.arange(n) if ordered else np.zeros(n)
    extra = np.column_stack([np.zeros(n), origin, np.zeros(n), np.ones(n), np.ones(n)])
    return x, np.hstack([future - x[:, :2], x[:, :2], extra])


def test_pretrained_forecast_prior_regresses_what_the_model_missed():
    from sklearn.linear_model import Ridge

    # few noisy windows, many useless features: shrinking towards the model's forecast wins
    x, y = _pretrained_windows(np.random.default_rng(8), 24, bias=0.0, noise=0.5, others=12)
    xv, yv = _pretrained_windows(np.random.default_rng(9), 6, bias=0.0, ordered=False, noise=0.5, others=12)
    cols = np.array([3, 4])
    _, _, info = fit_forecast_ridge(x, y, None, (xv, yv), forecast=cols)
    assert info["prior"].startswith("pretrained forecast") and set(info["priors_skipped"]) == {"seasonal mean"}
    assert set(info["scores"]) == {"seasonal naive", "context mean", "pretrained forecast",
                                   "pretrained forecast + bias"}
    x, y = _pretrained_windows(np.random.default_rng(8), 60)
    xv, yv = _pretrained_windows(np.random.default_rng(9), 6, ordered=False)
    # a huge alpha, all of the correction: the head forecasts the model's own forecast (its
    # intercept is penalised too), as a linear map of the features
    w, b, info = fit_forecast_ridge(x, y, None, (xv, yv), alphas=(1e14,), forecast=cols,
                                    priors=("pretrained forecast",), fractions=(1.0,))
    assert info["prior"] == "pretrained forecast" and info["shrink"] == 1.0
    assert np.allclose(xv @ w.T + b + yv[:, 2:4], xv[:, cols], atol=1e-8)  # correction + anchor
    # any alpha: sklearn's ridge (intercept penalised alike) on what the model missed, added
    # to its forecast; a smaller alpha corrects the model's bias
    mu, sd = x.mean(0), x.std(0)
    ones, missed = np.ones((60, 1)), y[:, :2] + y[:, 2:4] - x[:, cols]
    for alpha in (3.0, 300.0):
        w, b, _ = fit_forecast_ridge(x, y, None, (xv, yv), alphas=(alpha,), forecast=cols,
                                     priors=("pretrained forecast",), fractions=(1.0,))
        ref = Ridge(alpha=alpha, fit_intercept=False).fit(np.hstack([(x - mu) / sd, ones]), missed)
        want = ref.predict(np.hstack([(xv - mu) / sd, np.ones((6, 1))])) + xv[:, cols]
        assert np.allclose(xv @ w.T + b + yv[:, 2:4], want, atol=1e-8)
    assert ref.coef_[:, -1] == pytest.approx(missed.mean(0) * 60 / 360)  # N / (N + alpha) of the bias
    # "+ bias": the intercept unpenalised, a huge alpha forecasts the model's forecast + its
    # mean training error (per step)
    w, b, _ = fit_forecast_ridge(x, y, None, (xv, yv), alphas=(1e14,), forecast=cols,
                                 priors=("pretrained forecast + bias",), fractions=(1.0,))
    assert np.allclose(xv @ w.T + b + yv[:, 2:4], xv[:, cols] + missed.mean(0), atol=1e-8)


def test_the_prior_is_chosen_by_rolling_origin_mase_alone():
    """Brute force over every (prior, alpha, fraction): sklearn refits per rolling-origin
    round + the validation windows, pooled MASE; the ridge's choice is its minimum."""
    x, y = _pretrained_windows(np.random.default_rng(10), 30, bias=0.0)
    xv, yv = _pretrained_windows(np.random.default_rng(11), 4, bias=0.0, ordered=False)
    for xx, yy in ((x, y), (xv, yv)):  # anchors mixing lags and forecast: every prior has a chance
        yy[:, 2:4] += 0.3 * xx[:, 3:5]
    cols, alphas = np.array([3, 4]), (30.0, 300.0, 3e3)  # strong enough for the priors to differ
    _, _, info = fit_forecast_ridge(x, y, None, (xv, yv), alphas=alphas, forecast=cols)

    priors = ("seasonal naive", "context mean", "pretrained forecast", "pretrained forecast + bias")

    def shift(xx: np.ndarray, yy: np.ndarray, prior: str) -> np.ndarray:  # what the prior adds
        return {"seasonal naive": 0.0, "context mean": yy[:, 2:4]}.get(prior, yy[:, 2:4] - xx[:, cols])

    def ridge(xf: np.ndarray, t: np.ndarray, xe: np.ndarray, a: float, prior: str) -> np.ndarray:
        if prior != "pretrained forecast":
            return _ridge_forecast(xf, t, xe, a)
        from sklearn.linear_model import Ridge  # the pretrained prior's intercept is penalised

        mu, sd = xf.mean(0), xf.std(0)
        ref = Ridge(alpha=a, fit_intercept=False).fit(np.hstack([(xf - mu) / sd, np.ones((len(xf), 1))]), t)
        return ref.predict(np.hstack([(xe - mu) / sd, np.ones((len(xe), 1))]))

    errors: dict = {}
    parts = [(np.arange(30) <= 27 - j, slice(29 - j, 30 - j), x, y) for j in range(14)]
    parts.append((np.ones(30, bool), slice(None), xv, yv))
    for fit, ev, xe_all, ye_all in parts:
        xe, ye = xe_all[ev], ye_all[ev]
        for prior in priors:
            for a in alphas:
                f = ridge(x[fit], y[fit, :2] + shift(x[fit], y[fit], prior), xe, a, prior) - shift(xe, ye, prior)
                for lam in SHRINK_GRID:
                    errors.setdefault((prior, a, lam), []).extend(np.abs(lam * f - ye[:, :2]).mean(1))
    mase = {k: np.mean(v) for k, v in errors.items()}
    best = min(mase, key=lambda k: (mase[k], priors.index(k[0]), -k[1], -k[2]))
    assert info["rolling_rounds"] == 14 and info["validation_windows"] == 4
    assert sorted(mase.values())[1] - mase[best] > 1e-6, sorted(mase.items(), key=lambda kv: kv[1])[:3]
    assert (info["prior"], info["alpha"], info["shrink"]) == best
    assert info["score"] == pytest.approx(mase[best], abs=1e-5)


def test_pretrained_prior_is_skipped_with_a_reason_when_the_layout_does_not_allow_it():
    from torch import nn

    from transferkit.tasks import get_task
    from transferkit.tasks.forecasting import ForecastingTask

    x, y = _pretrained_windows(np.random.default_rng(12), 30)
    no_lags = x[:, 2:]  # the anchors are no function of these features
    _, _, info = fit_forecast_ridge(no_lags, y, None, forecast=np.array([1, 2]))
    assert set(info["priors_skipped"]) == {"context mean", "seasonal mean", "pretrained forecast",
                                           "pretrained forecast + bias"}
    assert "lags+<encoder>" in info["priors_skipped"]["pretrained forecast"]

    class Declares(nn.Module):  # a backbone whose features are x, its forecast 1 step per channel
        name, feature_dim = "toy", 5

        def forecast_columns(self) -> np.ndarray:
            return np.array([[3], [4]])  # (channels, steps)

    assert ForecastingTask.forecast_columns(Declares(), 5, 1)[0].tolist() == [3]  # channel 0: the target
    cols, why = ForecastingTask.forecast_columns(Declares(), 5, 2)
    assert cols is None and "forecasts 1 steps, fewer than the horizon (2)" in why
    cols, why = ForecastingTask.forecast_columns(Declares(), 7, 1)
    assert cols is None and "a mapping sits between them" in why
    task, head = get_task("forecasting", {"loss": "mse"}), nn.Linear(5, 2)
    info = task.solve_head(head, x, y, None, backbone=Declares())
    assert "fewer than the horizon" in info["priors_skipped"]["pretrained forecast"]
    assert ForecastingTask.forecast_columns(nn.Linear(2, 2), 5, 2) == (None, None)  # declares nothing


def test_a_fit_offers_the_forecast_the_backbone_declares_as_a_prior(tmp_path, monkeypatch):
    """The stage hands the task its backbone: a backbone declaring forecast columns (here
    lags, told to call its last 4 values a forecast of the next 4) gets the prior scored."""
    import transferkit as tk
    from transferkit.backbones.lags import LagsBackbone

    data = _series_csv(tmp_path / "s.csv", 0.0)
    plan = {"horizon": 4, "context": 12, "season": 6, "origins": 2, "stride": 4}
    run = tk.fit(data=data, task="forecasting", backbone="lags", seed=0, out=str(tmp_path / "r0"), log=None, **plan)
    solver = run.summary["stages"][0]["solver"]
    assert "pretrained forecast" not in solver["scores"]
    assert "declares no forecast" in solver["priors_skipped"]["pretrained forecast"]
    monkeypatch.setattr(LagsBackbone, "forecast_columns", lambda self: np.arange(8, 12)[None, :], raising=False)
    run = tk.fit(data=data, task="forecasting", backbone="lags", seed=0, out=str(tmp_path / "r1"), log=None, **plan)
    solver = run.summary["stages"][0]["solver"]
    assert "pretrained forecast" in solver["scores"] and solver["priors_skipped"] == {}


def _seasonal_windows(rng: np.random.Generator, n: int, length: int = 9, m: int = 3, h: int = 4,
                      ordered: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Lags features (the last ``length`` values of a noisy season of ``m``) and window rows
    whose anchors are seasonal naive and whose future repeats the season + noise."""
    season = rng.normal(size=m)
    start = rng.integers(0, m, size=n)
    steps = np.arange(length + h)
    values = season[(start[:, None] + steps[None, :]) % m] + 0.8 * rng.normal(size=(n, length + h))
    x, future = values[:, :length], values[:, length:]
    anchors = x[:, length - m + np.arange(h) % m]
    origin = np.arange(n) if ordered else np.zeros(n)
    extra = np.column_stack([np.zeros(n), origin, np.zeros(n), np.ones(n), np.ones(n)])
    return x, np.hstack([future - anchors, anchors, extra])


def test_season_columns_read_the_season_off_the_anchors():
    from transferkit.tasks._forecast_ridge import season_columns

    x, y = _seasonal_windows(np.random.default_rng(20), 40)
    anchors = y[:, 4:8]
    cols = season_columns(x, anchors, np.arange(9))
    # m = 3 read off the anchors; L // m = 3 seasons back; row j: the value j + 1 seasons before
    assert cols.tolist() == [[6, 7, 8, 6], [3, 4, 5, 3], [0, 1, 2, 0]]
    # the context's columns may sit anywhere among the features (lags+<encoder>: after it)
    wide = np.hstack([np.random.default_rng(1).normal(size=(40, 5)), x])
    assert (season_columns(wide, anchors, np.arange(5, 14)) == cols + 5).all()
    assert season_columns(x, anchors + 1.0, np.arange(9)) is None  # anchors that are no context value


def test_seasonal_mean_prior_forecasts_the_mean_of_k_seasons():
    from sklearn.linear_model import Ridge

    x, y = _seasonal_windows(np.random.default_rng(21), 60)
    xv, yv = _seasonal_windows(np.random.default_rng(22), 6, ordered=False)
    ctx = np.arange(9)
    _, _, info = fit_forecast_ridge(x, y, None, (xv, yv), context=ctx)
    assert {"seasonal mean of 2", "seasonal mean of 3"} <= set(info["scores"])
    # noise around a fixed season: the mean of three seasons beats the last one
    assert min(info["scores"]["seasonal mean of 3"].values()) < min(info["scores"]["seasonal naive"].values())
    _, _, info = fit_forecast_ridge(x, y, None, (xv, yv))  # no context columns: no seasonal means
    assert "seasonal mean" in info["priors_skipped"] and "seasonal mean of 2" not in info["scores"]
    seasons = {"train": [x[:, [6, 7, 8, 6]], x[:, [3, 4, 5, 3]], x[:, [0, 1, 2, 0]]],
               "val": [xv[:, [6, 7, 8, 6]], xv[:, [3, 4, 5, 3]], xv[:, [0, 1, 2, 0]]]}
    mu, sd = x.mean(0), x.std(0)
    for k in (2, 3):
        mean_v = sum(seasons["val"][:k]) / k
        # a huge alpha (its intercept penalised too): exactly the mean of the last k seasons
        w, b, info = fit_forecast_ridge(x, y, None, (xv, yv), alphas=(1e14,), context=ctx,
                                        priors=(f"seasonal mean of {k}",), fractions=(1.0,))
        assert info["prior"] == f"seasonal mean of {k}" and set(info["scores"]) == {info["prior"]}
        assert np.allclose(xv @ w.T + b + yv[:, 4:8], mean_v, atol=1e-8)  # correction + anchor
        # any alpha: sklearn's ridge (intercept penalised alike) on what the mean missed, added back
        missed = y[:, :4] + y[:, 4:8] - sum(seasons["train"][:k]) / k
        w, b, _ = fit_forecast_ridge(x, y, None, (xv, yv), alphas=(5.0,), context=ctx,
                                     priors=(f"seasonal mean of {k}",), fractions=(1.0,))
        ref = Ridge(alpha=5.0, fit_intercept=False).fit(np.hstack([(x - mu) / sd, np.ones((60, 1))]), missed)
        want = ref.predict(np.hstack([(xv - mu) / sd, np.ones((6, 1))])) + mean_v
        assert np.allclose(xv @ w.T + b + yv[:, 4:8], want, atol=1e-8)


def test_auto_counts_non_overlapping_windows_before_fine_tuning_a_forecaster():
    from transferkit.jobs.auto import FULL_MIN_PER_CLASS, strategy_ladder
    from transferkit.tasks import get_task

    class Windows(list):  # 140 stride-1 windows of one series: 150 observed values read, L + H = 32
        meta = {"forecast": {"context": 24, "horizon": 8}, "observed_used": 150}
        classes: list = []

    class TwoBlocks:  # a network auto could fine-tune end to end (Fracast-0: encoder, head)
        modality = "sequence"

        def blocks(self) -> list:
            return [torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)]

    n, classes, unit = get_task("forecasting").ladder_examples(Windows(range(140)))
    assert (n, classes) == (150 // 32, 1) and "non-overlapping" in unit
    ladder, why = strategy_ladder(TwoBlocks(), n, classes, unit)
    assert ladder == ["linear-probe"] and "too few for full fine-tuning" in why and "non-overlapping" in why
    many = Windows(range(900))
    many.meta = {"forecast": {"context": 12, "horizon": 6}, "observed_used": 18 * FULL_MIN_PER_CLASS}
    assert strategy_ladder(TwoBlocks(), *get_task("forecasting").ladder_examples(many))[0][-1] == "full"


def test_probes_are_ranked_by_the_rolling_origin_mase_their_ridge_was_chosen_on():
    from transferkit.tasks import get_task

    task = get_task("forecasting")
    head = torch.nn.Linear(4, 3)
    model = torch.nn.Module()
    model.head = head
    assert task.probe_score(model, 0.9) == 0.9  # nothing solved: the validation metric
    head.forecast_solved = (head.weight.detach().clone(), {"score": 0.4})
    assert task.probe_score(model, 0.9) == 0.4  # solved: the pooled score it was chosen on
    with torch.no_grad():
        head.weight.add_(1.0)  # trained since: the validation metric again
    assert task.probe_score(model, 0.9) == 0.9
