"""The built-in scenes: deterministic canvases whose masks are exact by construction."""

from __future__ import annotations

import numpy as np

from transferkit.data.builtin.scenes import CLASSES, render_scenes


def test_scenes_are_deterministic_per_seed():
    x1, y1 = render_scenes(6, "textured", 5)
    x2, y2 = render_scenes(6, "textured", 5)
    x3, _ = render_scenes(6, "textured", 6)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert x1.shape == (6, 128, 128, 3) and y1.shape == (6, 128, 128)


def test_plain_masks_are_exact():
    x, y = render_scenes(20, "plain", 3)
    assert y.min() >= 0 and y.max() < len(CLASSES)
    for img, mask in zip(x, y, strict=True):
        assert (mask > 0).any()  # at least one object
        background = img[mask == 0]
        # every background pixel has the canvas colour; every object pixel was painted over it
        assert (background == background[0]).all()
        assert not (img[mask > 0] == background[0]).all(axis=1).any()
