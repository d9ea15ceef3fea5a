from __future__ import annotations

import torch

from transferkit.mapping import MAPPINGS


def test_square_linear_starts_at_identity() -> None:
    x = torch.randn(6, 10)
    assert torch.equal(MAPPINGS.create("linear", in_dim=10)(x), x)
    assert torch.equal(MAPPINGS.create("matrix", in_dim=10, bias=False)(x), x)


def test_rectangular_linear_starts_norm_preserving() -> None:
    phi = MAPPINGS.create("linear", in_dim=10, out_dim=4)
    w = phi.linear.weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(4), atol=1e-5)


def test_random_init_is_not_identity() -> None:
    phi = MAPPINGS.create("linear", in_dim=10, init="random")
    assert not torch.allclose(phi.linear.weight, torch.eye(10))
