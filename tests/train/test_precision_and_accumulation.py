"""--grad-accum (a batch computed in slices, one optimizer step) and --mixed-precision."""

from __future__ import annotations

import pytest
import torch
from tiny_models import blobs, tiny_model

from transferkit.config import TrainConfig
from transferkit.errors import ConfigError
from transferkit.strategies import create_strategy
from transferkit.train import Trainer
from transferkit.train.batches import split_batch


def test_split_batch_cuts_every_tensor_along_its_rows():
    x, y, w = torch.arange(10.0).reshape(5, 2), torch.arange(5), torch.ones(5)
    parts = split_batch((x, y, w), 2)
    assert [share for _, share in parts] == [0.6, 0.4]
    assert torch.equal(torch.cat([p[0] for p, _ in parts]), x) and parts[1][0][1].tolist() == [3, 4]
    # a paired batch: slice i of the source goes with slice i of the target
    (s0, t0), _ = split_batch(((x, y), (torch.zeros(4, 2), torch.zeros(4))), 2)[0]
    assert len(s0[0]) == 3 and len(t0[0]) == 2
    # text batches are dicts of tensors; a scalar stays whole
    enc = {"input_ids": torch.ones(4, 7), "attention_mask": torch.ones(4, 7), "scale": torch.tensor(2.0)}
    part, share = split_batch(enc, 4)[3]
    assert part["input_ids"].shape == (1, 7) and part["scale"].item() == 2.0 and share == 0.25
    # never more slices than rows; one slice is the batch itself
    assert len(split_batch(torch.zeros(3, 2), 8)) == 3
    assert split_batch(y, 1) == [(y, 1.0)]


def _train(grad_accum: int) -> torch.nn.Module:
    model = tiny_model(seed=0, dropout=0.0)
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05, patience=None, grad_accum=grad_accum)
    (stage,) = create_strategy("linear-probe").stages(model, config)
    Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=64), log=None).fit()
    return model


def test_accumulated_slices_make_the_same_update_as_the_whole_batch():
    whole, sliced = _train(1), _train(4)
    for (name, a), b in zip(whole.state_dict().items(), sliced.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name


def test_fp16_on_a_cpu_is_an_error_naming_the_device_and_bf16_is_the_alias():
    model = tiny_model(seed=0)
    config = TrainConfig(mixed_precision="fp16", device="cpu")
    (stage,) = create_strategy("full").stages(model, config)
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU.*trains on cpu.*bf16"):
        Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=32), log=None)
    assert TrainConfig(bf16=True).mixed_precision == "bf16" and TrainConfig(mixed_precision="bf16").bf16
    with pytest.raises(ConfigError, match="--bf16 and --mixed-precision fp16 disagree"):
        TrainConfig(bf16=True, mixed_precision="fp16")
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")


def test_bf16_mixed_precision_trains_on_the_cpu():
    model = tiny_model(seed=0)
    config = TrainConfig(epochs=2, batch_size=16, lr=0.02, patience=None, mixed_precision="bf16")
    (stage,) = create_strategy("full").stages(model, config)
    result = Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(n=100),
                     val_data=blobs(n=48, seed=1), log=None).fit()
    assert result.history[-1]["val_accuracy"] > 0.5
