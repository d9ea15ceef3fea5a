"""Masked-value reconstruction: the hidden spans and the loss on hand-made tensors."""

from __future__ import annotations

import numpy as np
import torch

from transferkit.backbones.sequence import SequenceBackbone
from transferkit.train.masked import MaskedValueObjective, hidden_spans


def test_hidden_spans_cover_the_ratio_inside_the_valid_steps() -> None:
    mask = torch.zeros(64, 200)
    mask[:, :150] = 1
    hide = hidden_spans(mask, 0.3, 5, torch.Generator().manual_seed(0))
    assert not hide[:, 150:].any()  # never the padding
    assert 0.2 < hide[:, :150].float().mean() < 0.35
    runs = torch.diff(hide[:, :150].int(), dim=1)
    assert (runs == 1).sum() < hide.sum() / 3  # spans, not scattered single steps


def test_the_loss_is_the_mse_of_the_hidden_values_only() -> None:
    bb = SequenceBackbone("cnn", hidden=4, instance_norm=False)
    bb.adapt_to([np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)])
    obj = MaskedValueObjective(bb, ratio=0.5, span=2)
    with torch.no_grad():
        obj.decoder.weight.zero_()
        obj.decoder.bias.fill_(1.0)  # predicts 1 everywhere
    inputs = bb.collate([np.zeros((20, 2), dtype=np.float32)])
    bb.mean.zero_()
    bb.std.fill_(1.0)
    loss, logs = obj(bb, (inputs, torch.zeros(1)), 0)
    assert float(loss.detach()) == 1.0 and logs["masked_mse"] == 1.0  # (1 - 0)^2 on every hidden value
