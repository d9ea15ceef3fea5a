from __future__ import annotations

import pytest
import torch

from transferkit.errors import ConfigError, DataError
from transferkit.mapping import INPUT_ADAPTERS


def test_grey_to_rgb_replicates_and_resizes() -> None:
    adapter = INPUT_ADAPTERS.create("image", in_channels=1, out_channels=3, size=32)
    x = torch.rand(2, 1, 28, 28)
    out = adapter(x)
    assert out.shape == (2, 3, 32, 32)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    assert adapter(x[:, 0]).shape == (2, 3, 32, 32)  # (B, H, W) grey input


def test_rgb_to_grey_averages_without_resize() -> None:
    adapter = INPUT_ADAPTERS.create("image", in_channels=3, out_channels=1)
    x = torch.rand(2, 3, 10, 12)
    assert torch.allclose(adapter(x), x.mean(dim=1, keepdim=True), atol=1e-6)


def test_other_channel_counts_and_rectangular_size() -> None:
    adapter = INPUT_ADAPTERS.create("image", in_channels=4, out_channels=3, size=(20, 30), mode="nearest")
    x = torch.rand(1, 4, 10, 15)
    out = adapter(x)
    assert out.shape == (1, 3, 20, 30)
    assert torch.allclose(out[:, :, ::2, ::2], x[:, :3], atol=1e-6)  # RGBA -> RGB drops alpha


def test_errors() -> None:
    adapter = INPUT_ADAPTERS.create("image", in_channels=1)
    with pytest.raises(DataError, match=r"\(B, 1, H, W\)"):
        adapter(torch.rand(2, 3, 8, 8))
    with pytest.raises(ConfigError, match="'size'"):
        INPUT_ADAPTERS.create("image", in_channels=1, size="big")
    with pytest.raises(ConfigError, match="'mode'"):
        INPUT_ADAPTERS.create("image", in_channels=1, mode="lanczos")
