import math

import numpy as np
import pytest
import torch

from transferkit.alignment import GradientReversal, build_alignment, grl_coefficient, reverse_gradient
from transferkit.errors import ConfigError


def numpy_mlp(net: torch.nn.Sequential, x: np.ndarray) -> np.ndarray:
    h = x
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            h = h @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()
        elif isinstance(layer, torch.nn.ReLU):
            h = np.maximum(h, 0)
    return h[:, 0]


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize("coeff", [0.0, 0.3, 1.0, 2.5])
def test_gradient_reversal_flips_gradients_by_exactly_minus_lambda(coeff):
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 3, dtype=torch.float64)
    y = reverse_gradient(x, coeff)
    assert torch.equal(y, x)
    (y * upstream).sum().backward()
    assert torch.equal(x.grad, -coeff * upstream)
    x.grad = None
    (GradientReversal(coeff)(x) * upstream).sum().backward()
    assert torch.equal(x.grad, -coeff * upstream)


def test_lambda_schedule_values():
    assert grl_coefficient(0.0) == 0.0
    assert grl_coefficient(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1, rel=1e-12)
    assert grl_coefficient(0.5) == pytest.approx(0.9866142981514305, rel=1e-12)
    assert grl_coefficient(1.0, max_lambda=0.5) == pytest.approx(0.5 * (2 / (1 + math.exp(-10)) - 1))
    assert grl_coefficient(0.1, alpha=1.0) == pytest.approx(2 / (1 + math.exp(-0.1)) - 1)
    values = [grl_coefficient(p / 10) for p in range(11)]
    assert values == sorted(values) and values[-1] < 1.0


def test_dann_set_progress_drives_the_coefficient():
    loss = build_alignment("dann", 4, 2, {"max_lambda": 0.7})
    assert loss.coefficient == 0.0
    loss.set_progress(0.25)
    assert loss.coefficient == pytest.approx(0.7 * (2 / (1 + math.exp(-2.5)) - 1))
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        loss.set_progress(1.5)
    constant = build_alignment("dann", 4, 2, {"schedule": "constant", "max_lambda": 0.3})
    assert constant.coefficient == 0.3


def test_dann_loss_matches_hand_computation_and_reverses_feature_gradients():
    torch.manual_seed(0)
    loss = build_alignment("dann", 3, 2, {"hidden_dim": 5, "dropout": 0.0}).double()
    loss.set_progress(0.3)
    lam = 2 / (1 + math.exp(-3)) - 1
    xs, xt = np.random.default_rng(4).normal(size=(4, 3)), np.random.default_rng(5).normal(size=(3, 3))
    d_s, d_t = numpy_mlp(loss.discriminator.net, xs), numpy_mlp(loss.discriminator.net, xt)
    expected = 0.5 * (sum(-math.log(sigmoid(v)) for v in d_s) / 4
                      + sum(-math.log(1 - sigmoid(v)) for v in d_t) / 3)
    f_s = torch.tensor(xs, requires_grad=True)
    f_t = torch.tensor(xt, requires_grad=True)
    value = loss(f_s, f_t)
    assert value.item() == pytest.approx(expected, rel=1e-9)
    value.backward()
    disc_grads = [p.grad.clone() for p in loss.discriminator.parameters()]

    # the same loss without reversal: discriminator gradients equal, feature gradients * -lambda
    loss.zero_grad()
    g_s = torch.tensor(xs, requires_grad=True)
    g_t = torch.tensor(xt, requires_grad=True)
    d = loss.discriminator(torch.cat([g_s, g_t]))
    plain = 0.5 * (torch.nn.functional.softplus(-d[:4]).mean() + torch.nn.functional.softplus(d[4:]).mean())
    plain.backward()
    for reversed_grad, p in zip(disc_grads, loss.discriminator.parameters(), strict=True):
        assert torch.allclose(reversed_grad, p.grad, atol=1e-12)
    assert torch.allclose(f_s.grad, -lam * g_s.grad, atol=1e-12)
    assert torch.allclose(f_t.grad, -lam * g_t.grad, atol=1e-12)


def test_dann_discriminator_is_a_trainable_submodule():
    loss = build_alignment("dann", 6, 3, {"hidden_dim": 8})
    names = [n for n, _ in loss.named_parameters()]
    assert names and all(n.startswith("discriminator.") for n in names)
    assert all(p.requires_grad for p in loss.parameters())
