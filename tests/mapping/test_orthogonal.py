from __future__ import annotations

import pytest
import torch
from torch import nn

from transferkit.errors import DataError
from transferkit.mapping import MAPPINGS
from transferkit.mapping.orthogonal import OrthogonalMapping, procrustes

torch.set_num_threads(1)


def test_square_starts_at_identity() -> None:
    x = torch.randn(5, 6)
    assert torch.allclose(MAPPINGS.create("orthogonal", in_dim=6)(x), x, atol=1e-6)


@pytest.mark.parametrize(("d_in", "d_out"), [(6, 6), (8, 5), (5, 8)])
def test_stays_orthogonal_after_optimisation(d_in: int, d_out: int) -> None:
    torch.manual_seed(0)
    phi = MAPPINGS.create("orthogonal", in_dim=d_in, out_dim=d_out)
    target = torch.randn(d_out, d_in)
    opt = torch.optim.Adam(phi.parameters(), lr=0.1)
    start = phi.weight.detach().clone()
    for _ in range(25):
        loss = ((phi.weight - target) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = phi.weight.detach()
    assert not torch.allclose(w, start, atol=1e-3)
    small = w.T @ w if d_out >= d_in else w @ w.T
    assert torch.allclose(small, torch.eye(min(d_in, d_out)), atol=1e-4)


def test_procrustes_recovers_a_known_rotation() -> None:
    torch.manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(7, 7, dtype=torch.float64))
    x_s = torch.randn(50, 7, dtype=torch.float64)
    x_t = x_s @ q.T + 0.001 * torch.randn(50, 7, dtype=torch.float64)
    est = procrustes(x_s, x_t)
    assert torch.allclose(est.double(), q, atol=1e-3)
    phi = OrthogonalMapping.from_procrustes(x_s.numpy(), x_t.numpy())
    assert torch.allclose(phi(x_s.float()), x_t.float(), atol=1e-2)


def test_procrustes_with_bias_recovers_a_shift() -> None:
    torch.manual_seed(2)
    q, _ = torch.linalg.qr(torch.randn(4, 4))
    shift = torch.tensor([3.0, -1.0, 0.5, 2.0])
    x_s = torch.randn(40, 4)
    phi = OrthogonalMapping.from_procrustes(x_s, x_s @ q.T + shift, bias=True)
    assert torch.allclose(phi.linear.bias.detach(), shift, atol=1e-4)
    assert torch.allclose(phi.weight.detach(), q, atol=1e-4)


def test_procrustes_rectangular_and_bad_pairs() -> None:
    q = procrustes(torch.randn(30, 6), torch.randn(30, 3))
    assert q.shape == (3, 6)
    assert torch.allclose(q @ q.T, torch.eye(3), atol=1e-5)
    with pytest.raises(DataError, match="paired examples"):
        procrustes(torch.randn(30, 6), torch.randn(29, 6))


def test_orthogonal_trains_inside_a_model() -> None:
    phi = MAPPINGS.create("orthogonal", in_dim=4)
    model = nn.Sequential(phi, nn.Linear(4, 2))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) > 10
