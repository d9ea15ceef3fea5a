"""Sequence encoders: padding, lengths, both kinds."""

import numpy as np
import pytest
import torch

from transferkit.backbones.sequence import SequenceBackbone
from transferkit.errors import ConfigError, NotFittedError


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_padding_does_not_change_features(kind):
    rng = np.random.default_rng(0)
    bb = SequenceBackbone(kind, hidden=8)
    bb.adapt_to([rng.normal(size=(20, 2)).astype(np.float32) for _ in range(4)])
    bb.eval()
    short, long = rng.normal(size=(7, 2)), rng.normal(size=(15, 2))
    with torch.inference_mode():
        alone = bb(bb.collate([short]))
        batch = bb(bb.collate([short, long]))
    assert batch.shape == (2, 8) and torch.allclose(alone[0], batch[0], atol=1e-5)


def test_errors():
    with pytest.raises(ConfigError, match="cnn, lstm"):
        SequenceBackbone("gru")
    with pytest.raises(NotFittedError, match="adapt_to"):
        SequenceBackbone().collate([np.zeros((3, 1))])
