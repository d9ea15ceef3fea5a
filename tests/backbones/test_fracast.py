"""The fracast backbone runs Fracast-0 as the fracast package does: its forecast features are
the package's own zero-shot median forecast, in the input's units, channel by channel."""

import numpy as np
import pytest
import torch

pytest.importorskip("fracast")

from transferkit.backbones import create_backbone  # noqa: E402
from transferkit.data.dataset import TransferDataset  # noqa: E402


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    t = np.arange(60, dtype=np.float32)
    a = 100 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 60)
    b = 5 + 0.1 * t + rng.normal(0, 0.2, 60)
    return np.stack([a, b], axis=1).astype(np.float32)  # (T, 2)


def test_forecast_features_are_the_packages_median_forecast(series):
    from fracast import FracastModel

    bb = create_backbone("fracast")
    data = TransferDataset("s", "sequence", series[None], np.zeros(1, int), ["a"])
    bb.adapt_to(data)
    short = series[-30:]  # a shorter series in the same batch: right-aligned, masked
    bb.eval()
    with torch.inference_mode():
        feats = bb(bb.collate([series, short])).numpy()
    assert feats.shape == (2, 2 * (48 + 64)) == (2, bb.feature_dim)
    model = FracastModel.from_pretrained(weights="fp32")
    for row, x in enumerate((series, short)):
        expected = model.forecast(x.T, horizon=48)[:, :, 4]  # (C, 48): the median, per channel
        got = feats[row].reshape(2, 48 + 64)[:, :48]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


def test_the_scratch_model_is_the_same_architecture_with_other_weights():
    pre, scratch = create_backbone("fracast"), create_backbone("fracast", pretrained=False)
    assert pre.state_dict().keys() == scratch.state_dict().keys()
    assert not torch.equal(pre.core.in_proj.weight, scratch.core.in_proj.weight)
    assert [len(list(b.parameters())) for b in pre.blocks()] == [len(list(b.parameters())) for b in scratch.blocks()]


def test_gradients_reach_the_encoder_and_fracasts_head(series):
    """Fine-tunable: a loss on the features trains both of Fracast's blocks."""
    bb = create_backbone("fracast")
    bb.adapt_to(TransferDataset("s", "sequence", series[None, :, :1], np.zeros(1, int), ["a"]))
    bb.train()
    bb(bb.collate([series[:, :1]])).square().mean().backward()
    for block in bb.blocks():
        grads = [p.grad for p in block.parameters() if p.requires_grad]
        assert grads and any(g is not None and bool(g.abs().sum() > 0) for g in grads)


def test_lags_plus_starts_pretrained_as_its_encoder_does():
    """A fit without --strategy probes ``lags+fracast`` (pretrained) and trains
    ``lags+sequence:cnn`` (random init) end to end."""
    from transferkit.backbones import starts_pretrained

    assert starts_pretrained("fracast") and starts_pretrained("lags+fracast")
    assert not starts_pretrained("lags+sequence:cnn") and not starts_pretrained("sequence:cnn")



def test_lags_plus_fracast_probe_can_forecast_fracasts_zero_shot_per_channel(tmp_path):
    """The "pretrained forecast" prior: ``lags+fracast`` declares channel 0's (the target's)
    forecast columns; with a huge alpha and all of the correction kept, the head the task
    solves forecasts Fracast-0's zero-shot forecast from the same context, in the task's
    scaled units -- not the covariate channel's."""
    import pandas as pd
    from fracast import FracastModel
    from torch import nn

    from transferkit.data import load_splits
    from transferkit.tasks._forecast_metrics import split_targets
    from transferkit.tasks._forecast_ridge import fit_forecast_ridge
    from transferkit.tasks.forecasting import ForecastingTask, fracast_forecasts

    rng = np.random.default_rng(1)
    t = np.arange(36)
    value = 50 + 0.8 * t + 6 * np.sin(2 * np.pi * t / 6) + rng.normal(0, 1, 36)
    cov = 1000 - 3 * t + rng.normal(0, 20, 36)  # another level, trend and noise
    path = tmp_path / "two.csv"
    pd.DataFrame({"id": "a", "time": t, "value": value, "cov": cov}).to_csv(path, index=False)
    splits = load_splits(str(path), targets="windows", horizon=4, context=16, season=6, origins=1, stride=4)
    bb = create_backbone("lags+fracast")
    bb.adapt_to(splits.train)
    bb.eval()
    train_y = np.asarray(splits.train.y)[:4]  # four windows are enough for a huge alpha
    with torch.inference_mode():
        x_tr, x_val, x_te = (bb(bb.collate(items)).double().numpy() for items in
                             ([splits.train.input(i) for i in range(4)], [splits.val.input(0)],
                              [splits.test.input(0)]))
    cols, why = ForecastingTask.forecast_columns(bb, x_tr.shape[1], 4)
    assert why is None and cols.tolist() == [0, 1, 2, 3]  # channel 0 leads: the target's forecast
    assert bb.forecast_columns()[1, :4].tolist() == [112, 113, 114, 115]  # the covariate's
    w, b, info = fit_forecast_ridge(x_tr, train_y, None, alphas=(1e14,), forecast=cols,
                                    priors=("pretrained forecast",), fractions=(1.0,))
    head = x_te @ w.T + b  # (1, 4) scaled corrections of the anchor
    _, ex = split_targets(splits.test.y)
    raw = np.asarray(splits.test.x, dtype=np.float64) * ex["std"][:, None, None] + ex["mean"][:, None, None]
    model = FracastModel.from_pretrained(weights="fp32")  # the backbone's weights
    fc = model.forecast_batch(raw[:, :, 0].astype(np.float32), horizon=4)[:, :, 4]  # the target's
    want = (fc - ex["mean"][:, None]) / ex["std"][:, None] - ex["anchor"]
    np.testing.assert_allclose(head, want, atol=1e-4)
    assert not np.allclose(x_te[:, bb.forecast_columns()[1, :4]] - ex["anchor"], head, atol=0.1)
    # the task's own zero-shot baseline (the package's 8-bit weights): the same up to quantisation
    zero_shot = fracast_forecasts(splits.test, 4, None)
    assert np.abs(head - zero_shot).max() < 0.05 * max(1.0, float(np.abs(zero_shot).max()))
    # the task finds the columns itself, and offers the prior to the rolling-origin choice
    info = ForecastingTask().solve_head(nn.Linear(x_tr.shape[1], 12), x_tr, train_y, None,
                                        val=(x_val, np.asarray(splits.val.y)), backbone=bb)
    assert "pretrained forecast" in info["scores"] and info["priors_skipped"] == {}


def test_a_few_shot_full_fit_gets_fracasts_recipe_where_the_user_set_nothing():
    from transferkit.backbones.fracast import FracastBackbone
    from transferkit.jobs.fit import resolve_config, with_few_shot_recipe

    lines: list[str] = []

    def recipe(overrides=(), **kwargs):
        cfg = resolve_config(None, overrides, **{"data": "italy-power-demand", "backbone": "fracast", **kwargs})
        return with_few_shot_recipe(cfg, frozenset(cfg.given_keys_), lines.append)

    cfg = recipe(strategy="full", shots=10)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.train.patience) == (30, 8, 0.003, 10)
    assert cfg.strategy_params == {"backbone_lr_ratio": 1.0}
    assert FracastBackbone.few_shot_recipe["train.batch_size"] == 8
    assert "fracast's few-shot end-to-end recipe" in lines[-1]
    # what the user set is kept, by flag or by --set
    cfg = recipe(["strategy_params.backbone_lr_ratio=0.5", "train.lr=0.01"], strategy="full", shots=10,
                 batch_size=4)
    assert (cfg.train.batch_size, cfg.train.lr, cfg.strategy_params["backbone_lr_ratio"]) == (4, 0.01, 0.5)
    assert cfg.train.epochs == 30
    # not for a probe, for auto, or without --shots; a strategy without the ratio does not get it
    default = resolve_config(None, data="x").train
    for kwargs in ({"strategy": "linear-probe", "shots": 10}, {"strategy": "auto", "shots": 10},
                   {"strategy": "full"}):
        assert recipe(**kwargs).train == default
    assert "backbone_lr_ratio" not in recipe(strategy="lora", shots=10).strategy_params


def test_a_shorter_window_reads_the_last_w_steps_with_the_same_weights(series):
    from transferkit.backbones import from_description
    from transferkit.errors import ConfigError

    full, short = create_backbone("fracast"), create_backbone("fracast:32")
    assert (short.name, short.context_length, short.core.W) == ("fracast:32", 32, 32)
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), short.state_dict().values(), strict=True))
    data = TransferDataset("s", "sequence", series[None], np.zeros(1, int), ["a"])
    short.adapt_to(data)
    short.eval()
    with torch.inference_mode():
        whole = short(short.collate([series]))
        tail = short(short.collate([series[-32:]]))  # only the last 32 steps are read
        values, observed, _, _ = short.scaled_context(torch.from_numpy(series[None, :, 0]), torch.tensor([60]))
    assert torch.allclose(whole, tail, atol=1e-5)
    assert values.shape == observed.shape == (1, 1, 32)
    again = from_description(short.describe())  # a saved run rebuilds the same window
    assert (again.name, again.context_length, again.in_channels) == ("fracast:32", 32, 2)
    assert "last 32 values" in short.describe()["preprocessing"]
    for bad in ("fracast:300", "fracast:4096", "fracast:8", "fracast:abc"):
        with pytest.raises(ConfigError, match="power of two from 16 to 2048"):
            create_backbone(bad)


def test_fit_is_told_of_the_window_that_fits_short_series(series):
    bb = create_backbone("fracast")
    short = TransferDataset("s", "sequence", np.stack([series, series]), np.zeros(2, int), ["a"])
    tip = bb.advice(short)
    assert "60 steps" in tip and "--backbone fracast:64" in tip
    assert create_backbone("fracast:64").advice(short) is None  # a window was chosen already
    long = TransferDataset("l", "sequence", np.zeros((2, 600, 1), np.float32), np.zeros(2, int), ["a"])
    assert bb.advice(long) is None  # 1,024 steps would save too little to say so
