"""Sequence encoders: padding, lengths, both kinds."""

import numpy as np
import pytest
import torch

from transferkit.backbones.sequence import SequenceBackbone
from transferkit.errors import ConfigError, DataError, NotFittedError


@pytest.mark.parametrize("kind", ["cnn", "lstm", "resnet"])
def test_padding_does_not_change_features(kind):
    rng = np.random.default_rng(0)
    bb = SequenceBackbone(kind, hidden=8)
    bb.adapt_to([rng.normal(size=(20, 2)).astype(np.float32) for _ in range(4)])
    bb.eval()
    short, long = rng.normal(size=(7, 2)), rng.normal(size=(15, 2))
    with torch.inference_mode():
        alone = bb(bb.collate([short]))
        batch = bb(bb.collate([short, long]))
    assert batch.shape == (2, bb.feature_dim) and torch.allclose(alone[0], batch[0], atol=1e-5)


def test_resnet_is_wang_et_al_three_residual_blocks_and_reloads():
    from transferkit.backbones import from_description

    bb = SequenceBackbone.from_spec("resnet:8")
    bb.adapt_to([np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32) for _ in range(3)])
    widths = [[c[1].out_channels for c in block.convs] for block in bb.convs]
    assert widths == [[8] * 3, [16] * 3, [16] * 3] and bb.feature_dim == 16  # h, 2h, 2h
    assert [c[1].kernel_size[0] for c in bb.convs[0].convs] == [8, 5, 3]
    again = from_description(bb.describe())
    again.load_state_dict(bb.state_dict())
    bb.eval(), again.eval()
    x = bb.collate([np.ones((12, 3), dtype=np.float32)])
    with torch.inference_mode():
        assert torch.allclose(bb(x), again(x))


def test_errors():
    with pytest.raises(ConfigError, match="cnn, lstm"):
        SequenceBackbone("gru")
    with pytest.raises(NotFittedError, match="adapt_to"):
        SequenceBackbone().collate([np.zeros((3, 1))])


def _pretrained(tmp_path, channels=6):
    """A sequence encoder that has seen 6-channel data, saved and reloaded as from a run."""
    from transferkit.backbones import from_description

    rng = np.random.default_rng(0)
    bb = SequenceBackbone("cnn", hidden=8)
    bb.adapt_to([rng.normal(size=(20, channels)).astype(np.float32) for _ in range(4)])
    again = from_description(bb.describe())
    again.load_state_dict(bb.state_dict())
    return again


def test_other_channel_count_keeps_the_pretrained_weights_behind_an_adapter(tmp_path):
    from transferkit.backbones import from_description

    bb = _pretrained(tmp_path)
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    rng = np.random.default_rng(1)
    bb.adapt_to([rng.normal(size=(30, 1)).astype(np.float32) for _ in range(5)])
    after = bb.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # encoder and its statistics kept
    said = bb.describe_adapter()
    assert "1 target channel(s) -> 6 channel(s) of the pretrained encoder" in said
    assert "matched by name (0)" in said and "mean of the target channels" in said
    assert bb.blocks()[0] is bb.adapter  # trains with the model (full / partial from the bottom)
    feats = bb(bb.collate([rng.normal(size=(30, 1))]))
    assert feats.shape == (1, 8) and torch.isfinite(feats).all()
    rebuilt = from_description(bb.describe())  # a fitted run rebuilds the adapter too
    rebuilt.load_state_dict(bb.state_dict())
    bb.eval(), rebuilt.eval()
    x = bb.collate([rng.normal(size=(30, 1))])
    assert torch.allclose(bb(x), rebuilt(x))
    with pytest.raises(DataError, match=r"channel adapter maps 1 channel\(s\) onto the pretrained "
                                        r"encoder's 6.*refit it on data with 3"):
        bb.collate([np.zeros((30, 3))])


def test_per_series_normalisation_makes_features_scale_free():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(25, 2)).astype(np.float32)
    for norm, same in ((True, True), (False, False)):
        bb = SequenceBackbone("cnn", hidden=8, instance_norm=norm)
        bb.adapt_to([series, 2 * series])
        bb.eval()
        with torch.inference_mode():
            f = bb(bb.collate([series, 1000 * series + 5]))
        assert torch.allclose(f[0], f[1], atol=1e-4) == same
    assert SequenceBackbone.from_spec("cnn:16:global").instance_norm is False
    assert SequenceBackbone.from_description({"kind": "cnn"}).instance_norm is False  # old runs
