from __future__ import annotations

import pytest
import torch

from transferkit.errors import ConfigError
from transferkit.mapping import MAPPINGS


@pytest.mark.parametrize("norm", ["layernorm", "batchnorm", "none"])
def test_residual_mlp_starts_at_identity(norm: str) -> None:
    phi = MAPPINGS.create("mlp", in_dim=32, norm=norm)
    phi.eval()
    x = torch.randn(8, 32)
    assert torch.equal(phi(x), x)
    assert phi.hidden == 16  # max(16, 32 // 4)


def test_bottleneck_without_residual_when_dims_differ() -> None:
    phi = MAPPINGS.create("mlp", in_dim=32, out_dim=10, hidden=8)
    assert not phi.residual
    assert phi.down.out_features == 8
    assert phi(torch.randn(4, 32)).shape == (4, 10)


def test_bad_dropout() -> None:
    with pytest.raises(ConfigError, match="'dropout'"):
        MAPPINGS.create("mlp", in_dim=4, dropout=1.5)
