"""Fashion-MNIST: 70,000 28x28 grey images of 10 clothing classes (60k train, 10k test)."""

from __future__ import annotations

from pathlib import Path

from transferkit.data.builtin._base import BuiltinDataset, builtin, dataset
from transferkit.data.dataset import TransferDataset
from transferkit.data.idx import read_idx

ROOT = Path("/usr/share/datasets/fashion-mnist")


@builtin
class FashionMNIST(BuiltinDataset):
    """Zalando's Fashion-MNIST (Xiao et al. 2017, https://arxiv.org/abs/1708.07747)."""

    name = "fashion-mnist"
    description = "Fashion-MNIST: 28x28 grey photos of clothing, 10 classes; official 10k test set."
    modality = "image"
    size = 70000
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
    source = f"Debian package dataset-fashion-mnist ({ROOT})"
    install_hint = "sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu; run apt-get update first)"
    # each unseen class but the bag has a visual relative among the seen ones
    zero_shot_unseen = ("Pullover", "Dress", "Sandal", "Shirt", "Bag")
    # no class_words: zero-shot reads the published names (lower-cased, '/' as 'or'); the words
    # an earlier version used here were chosen after looking at test images, a leak

    @staticmethod
    def _file(prefix: str, kind: str) -> Path:
        return ROOT / f"{prefix}-{kind}-ubyte.gz"

    @classmethod
    def available(cls) -> bool:
        return all(cls._file(p, k).is_file() for p in ("train", "t10k")
                   for k in ("images-idx3", "labels-idx1"))

    def _part(self, prefix: str) -> TransferDataset:
        x = read_idx(self._file(prefix, "images-idx3"))
        y = read_idx(self._file(prefix, "labels-idx1")).astype("int64")
        return dataset(type(self), x, y, prefix)

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        return self._part("train"), self._part("t10k")
