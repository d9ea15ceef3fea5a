"""Digit tags: a multi-label image set built from scikit-learn's handwritten digits.

Each 16x16 image is a 2x2 grid of slots; each slot is blank (probability 1/2) or holds a
random 8x8 digit from scikit-learn's ``digits``. The image's labels are the digits that
appear (0 to 4 of them; about 6 % of the images show no digit and have the empty set).
Faint background noise (grey levels 0-7) makes every image distinct, so no two splits
share an exact duplicate. The images depend only on the seed, so every run sees the same
data.
"""

from __future__ import annotations

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset, builtin, dataset
from transferkit.data.dataset import TransferDataset

#: images in the set
SIZE = 1500
#: probability that a slot of the 2x2 grid is blank
BLANK = 0.5


def compose_digit_tags(n: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``x`` uint8 ``(n, 16, 16)`` (2x2 grids of 8x8 digits, white on black) and ``y`` the
    multi-hot ``(n, 10)`` uint8 matrix of the digits each image shows."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    digits = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)  # (M, 8, 8)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 8, size=(n, 16, 16)).astype(np.uint8)  # faint noise: no two alike
    y = np.zeros((n, 10), dtype=np.uint8)
    for i in range(n):
        for slot in range(4):
            if rng.random() < BLANK:
                continue
            k = int(rng.integers(len(digits)))
            r, c = divmod(slot, 2)
            cell = x[i, 8 * r:8 * r + 8, 8 * c:8 * c + 8]
            np.maximum(cell, digits[k], out=cell)
            y[i, int(bunch.target[k])] = 1
    return x, y


@builtin
class DigitTags(BuiltinDataset):
    """Which digits appear in a 2x2 grid of handwritten digits (multi-label)."""

    name = "digit-tags"
    description = ("Multi-label: 16x16 grey images, a 2x2 grid of scikit-learn's handwritten digits "
                   "with blank slots; the labels are the digits that appear (0-4 per image).")
    modality = "image"
    task = "multilabel"
    size = SIZE
    classes = [str(d) for d in range(10)]
    source = "composed from scikit-learn's digits (sklearn.datasets.load_digits), seed 0"
    install_hint = "pip install scikit-learn"
    pip_args = ("scikit-learn",)

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        x, y = compose_digit_tags()
        return dataset(type(self), x, y, "digit-tags"), None
