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
