"""Every registered alignment loss honours the shared contract."""

import dataclasses
import math

import pytest
import torch

from transferkit.alignment import ALIGNMENTS, AlignmentLoss, build_alignment
from transferkit.errors import ConfigError

NAMES = ALIGNMENTS.names()


def batch(b_s=6, b_t=9, d=5, k=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    f_s = torch.randn(b_s, d, generator=gen, requires_grad=True)
    f_t = (torch.randn(b_t, d, generator=gen) + 1.0).requires_grad_(True)
    head = torch.nn.Linear(d, k)
    return f_s, f_t, head(f_s), head(f_t), head


def test_the_six_methods_are_registered():
    assert set(NAMES) == {"cdan", "coral", "dann", "entropy", "mcc", "mmd"}


@pytest.mark.parametrize("name", NAMES)
def test_registration_config_and_docstring(name):
    entry = ALIGNMENTS.entry(name)
    cls = entry.obj
    assert issubclass(cls, AlignmentLoss) and cls.name == name
    assert dataclasses.is_dataclass(entry.config) and cls.config_class is entry.config
    assert isinstance(cls.needs_logits, bool)
    fields = {f.name: f for f in dataclasses.fields(entry.config)}
    assert "weight" in fields
    assert all(f.metadata.get("help") for f in fields.values())
    doc = cls.__doc__ or ""
    assert "http" in doc and "Shapes" in doc and "L = " in doc


@pytest.mark.parametrize("name", NAMES)
def test_finite_scalar_backward_and_unequal_batches(name):
    torch.manual_seed(0)
    loss = build_alignment(name, 5, 3)
    loss.set_progress(0.5)
    f_s, f_t, z_s, z_t, head = batch()
    value = loss(f_s, f_t, z_s, z_t)
    assert value.ndim == 0 and math.isfinite(value.item())
    value.backward()
    grads = [g for g in (f_s.grad, f_t.grad, head.weight.grad) if g is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_weight_scales_the_loss(name):
    f_s, f_t, z_s, z_t, _ = batch()
    torch.manual_seed(1)
    one = build_alignment(name, 5, 3, {"weight": 1.0}).eval()
    torch.manual_seed(1)
    two = build_alignment(name, 5, 3, {"weight": 2.5}).eval()
    for loss in (one, two):
        loss.set_progress(1.0)
    a, b = one(f_s, f_t, z_s, z_t), two(f_s, f_t, z_s, z_t)
    assert b.item() == pytest.approx(2.5 * a.item(), rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_give_documented_errors(name):
    with pytest.raises(ConfigError, match="weight"):
        build_alignment(name, 5, 3, {"weight": -1})
    with pytest.raises(ConfigError, match="Unknown configuration key"):
        build_alignment(name, 5, 3, {"wieght": 1})
    with pytest.raises(ConfigError, match="feature_dim"):
        build_alignment(name, 0, 3)
    loss = build_alignment(name, 5, 3)
    f_s, f_t, z_s, z_t, _ = batch()
    with pytest.raises(ConfigError, match=r"\(batch, 5\)"):
        loss(f_s[:, :4], f_t, z_s, z_t)
    if loss.needs_logits:
        with pytest.raises(ConfigError, match="logits"):
            loss(f_s, f_t)
    with pytest.raises(ConfigError, match="set_progress"):
        loss.set_progress(-0.1)


@pytest.mark.parametrize("name", NAMES)
def test_config_object_and_state_dict_round_trip(name):
    cfg = ALIGNMENTS.config(name)(weight=0.5)
    torch.manual_seed(2)
    loss = ALIGNMENTS.get(name)(5, 3, cfg)
    assert loss.weight == 0.5
    again = ALIGNMENTS.get(name)(5, 3, cfg)
    again.load_state_dict(loss.state_dict())
    loss.eval()
    again.eval()
    f_s, f_t, z_s, z_t, _ = batch()
    assert torch.allclose(loss(f_s, f_t, z_s, z_t), again(f_s, f_t, z_s, z_t))
    with pytest.raises(ConfigError, match="not both"):
        ALIGNMENTS.get(name)(5, 3, cfg, weight=1.0)


def test_unknown_method_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'coral'"):
        ALIGNMENTS.get("corall")
