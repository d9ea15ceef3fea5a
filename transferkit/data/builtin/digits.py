"""scikit-learn's handwritten digits (UCI optdigits): 1,797 8x8 grey images."""

from __future__ import annotations

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset, builtin, dataset
from transferkit.data.dataset import TransferDataset


@builtin
class Digits(BuiltinDataset):
    """UCI optical recognition of handwritten digits, as shipped by scikit-learn."""

    name = "digits"
    description = "Handwritten digits (UCI optdigits), 8x8 grey, white ink on black, 10 classes."
    modality = "image"
    size = 1797
    classes = [str(d) for d in range(10)]
    source = "scikit-learn (sklearn.datasets.load_digits)"
    install_hint = "pip install scikit-learn"
    pip_args = ("scikit-learn",)
    # a negative control for zero-shot: a number word says nothing about the digit's shape
    zero_shot_unseen = ("5", "6", "7", "8", "9")
    class_words = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
                   "6": "six", "7": "seven", "8": "eight", "9": "nine"}

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        from sklearn.datasets import load_digits

        self.check_domain(domain)
        bunch = load_digits()
        # 0..16 ink counts -> 0..255 grey, like any other uint8 image
        x = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)  # (N, 8, 8)
        return dataset(type(self), x, bunch.target.astype(np.int64), "digits"), None
