"""Image decoding that must not depend on the image's own pixels (M5), pixel budgets
checked from the header before decoding (H4, large images), and odd image inputs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


def _encoded(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_images_are_scaled_by_their_bit_depth_not_their_maximum(fmt: str) -> None:
    from transferkit.data.decode import read_image

    base = np.full((6, 6), 32896, np.uint16)  # 32896 / 257 = 128 exactly
    for corner in (0, 200, 255, 256, 65535):  # one pixel decides nothing about the others
        img = base.copy()
        img[0, 0] = corner
        out = read_image(_encoded(img, fmt))
        assert out.dtype == np.uint8
        assert (out[1:, 1:] == 128).all(), (corner, out)
        assert out[0, 0] == round(corner / 257)
    dark = np.full((3, 3), 200, np.uint16)  # a dark 16-bit image stays dark
    assert read_image(_encoded(dark, fmt)).max() == 1


def test_32_bit_tiff_is_scaled_by_its_declared_range() -> None:
    from transferkit.data.decode import read_image

    img = np.full((4, 4), 2 ** 30, np.int32)
    img[0, 0] = 2 ** 31 - 1
    out = read_image(_encoded(img, "TIFF"))
    assert out[1, 1] == 128 and out[0, 0] == 255
