"""Fashion-MNIST under corruption (noise, blur, contrast): a covariate-shift target domain.

``fashion-mnist-noise``, ``fashion-mnist-blur`` and ``fashion-mnist-contrast`` are the
official Fashion-MNIST images (same split, same labels) passed through
:func:`transferkit.data.corruptions.corrupt`. The domain picks the severity
(``severity-1`` .. ``severity-5``; default severity 3). The corruption is seeded (the
train part with seed 0, the test part with seed 1), so every run sees the same images.
"""

from __future__ import annotations

from typing import ClassVar

from transferkit.data.builtin._base import BuiltinDataset, builtin, dataset
from transferkit.data.builtin.fashion_mnist import FashionMNIST
from transferkit.data.corruptions import DEFAULT_SEVERITY, SEVERITIES, corrupt
from transferkit.data.dataset import TransferDataset

TRAIN_SEED, TEST_SEED = 0, 1


class _CorruptedFashionMNIST(BuiltinDataset):
    kind: ClassVar[str]
    modality = "image"
    size = FashionMNIST.size
    classes = list(FashionMNIST.classes)
    domains = tuple(f"severity-{s}" for s in SEVERITIES)
    source = f"{FashionMNIST.source}, corrupted on the fly (transferkit.data.corruptions)"
    install_hint = FashionMNIST.install_hint

    @classmethod
    def available(cls) -> bool:
        return FashionMNIST.available()

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        severity = int(domain.rsplit("-", 1)[1]) if domain else DEFAULT_SEVERITY
        clean_train, clean_test = FashionMNIST().parts()
        out = []
        for part, prefix, seed in ((clean_train, "train", TRAIN_SEED), (clean_test, "t10k", TEST_SEED)):
            assert part is not None  # Fashion-MNIST always has its official test part
            x = corrupt(part.x, self.kind, severity=severity, seed=seed)
            meta = {"corruption": self.kind, "severity": severity, "corruption_seed": seed}
            out.append(dataset(type(self), x, part.y, f"{prefix}-{self.kind}", meta=meta))
        return out[0], out[1]


@builtin
class FashionMNISTNoise(_CorruptedFashionMNIST):
    """Fashion-MNIST with additive Gaussian pixel noise."""

    name = "fashion-mnist-noise"
    kind = "noise"
    description = ("Fashion-MNIST with Gaussian pixel noise (domains severity-1..5, default 3); "
                   "covariate-shift target for fashion-mnist.")


@builtin
class FashionMNISTBlur(_CorruptedFashionMNIST):
    """Fashion-MNIST blurred with a Gaussian kernel."""

    name = "fashion-mnist-blur"
    kind = "blur"
    description = ("Fashion-MNIST with Gaussian blur (domains severity-1..5, default 3); "
                   "covariate-shift target for fashion-mnist.")


@builtin
class FashionMNISTContrast(_CorruptedFashionMNIST):
    """Fashion-MNIST with its contrast reduced."""

    name = "fashion-mnist-contrast"
    kind = "contrast"
    description = ("Fashion-MNIST with reduced contrast (domains severity-1..5, default 3); "
                   "covariate-shift target for fashion-mnist.")
