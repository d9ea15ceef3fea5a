"""Shared fixtures: tiny synthetic datasets of each modality and a tiny image folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# every fit records itself in the runs index: keep the tests' runs out of ./runs
os.environ.setdefault("TRANSFERKIT_RUNS_INDEX",
                      os.path.join(tempfile.mkdtemp(prefix="transferkit-tests-"), "index.sqlite"))


def write_image_folder(root: Path, per_class: int = 4, classes: tuple[str, ...] = ("cat", "dog"),
                       size: int = 12, seed: int = 0) -> Path:
    """``root/<class>/<i>.png`` with random RGB images; class k is brighter than class k-1."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 100, size=(size, size, 3)) + 100 * k
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder with classes 'cat' and 'dog', 4 PNG images (12x12 RGB) each."""
    return write_image_folder(tmp_path / "images")


@pytest.fixture
def tiny_images():
    """60 grey 8x8 images, 3 classes, separable by brightness."""
    from transferkit.data import TransferDataset

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = np.clip(rng.normal(60 + 60 * y[:, None, None], 10, size=(60, 8, 8)), 0, 255).astype(np.uint8)
    return TransferDataset(name="tiny-images", modality="image", x=x, y=y, classes=["a", "b", "c"])


@pytest.fixture
def tiny_texts():
    """40 short texts, 2 classes."""
    from transferkit.data import TransferDataset

    good = [f"great tasty snack number {i}, loved it" for i in range(20)]
    bad = [f"stale and bland batch {i}, would not buy" for i in range(20)]
    return TransferDataset(name="tiny-texts", modality="text", x=good + bad,
                           y=np.repeat([0, 1], 20), classes=["great", "other"])


@pytest.fixture
def tiny_table():
    """50 rows: two numeric columns and one categorical; 2 classes."""
    import pandas as pd

    from transferkit.data import TransferDataset
    from transferkit.data.tables import infer_schema

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 25)
    frame = pd.DataFrame({"a": rng.normal(y * 2.0, 1.0), "b": rng.normal(size=50),
                          "color": np.where(rng.random(50) < 0.5, "red", "blue")})
    return TransferDataset(name="tiny-table", modality="table", x=frame, y=y, classes=["no", "yes"],
                           schema=infer_schema(frame))


def write_shifted_table(path: Path, shift: float, seed: int, n: int = 120) -> str:
    """A two-class CSV (columns a, b, label) whose column b is shifted by ``shift``: a source
    and a target domain for adaptation tests."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pd.DataFrame({"a": y + rng.normal(0, 0.5, n), "b": y + rng.normal(0, 0.5, n) + shift,
                  "label": np.where(y == 0, "no", "yes")}).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def shifted_table():
    """``shifted_table(path, shift, seed) -> str``: see :func:`write_shifted_table`."""
    return write_shifted_table



def _trainer_threads(monkeypatch, call) -> list[int]:
    """The intra-op thread count each ``Trainer.fit`` ran on during ``call()``, with torch set
    to 2 threads around it; checks that the caller's 2 threads come back afterwards."""
    import torch

    from transferkit.train import Trainer

    seen: list[int] = []
    original = Trainer.fit

    def spy(self):
        seen.append(torch.get_num_threads())
        return original(self)

    monkeypatch.setattr(Trainer, "fit", spy)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        call()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    return seen


@pytest.fixture
def trainer_threads(monkeypatch):
    """``trainer_threads(call) -> list[int]``: see :func:`_trainer_threads`."""
    return lambda call: _trainer_threads(monkeypatch, call)
