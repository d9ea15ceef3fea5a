"""--augment: timm's training transform on stages that read raw images; evaluation unaugmented."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferkit.backbones import create_backbone
from transferkit.config import TrainConfig
from transferkit.errors import ConfigError
from transferkit.pipeline.collate import augmented_collate, augments, make_collate, target_tensor


@pytest.fixture(scope="module")
def backbone():
    return create_backbone("efficientnet_lite0", image_size=32)


def test_augmented_batches_have_the_eval_shape_and_differ_between_draws(backbone):
    rng = np.random.default_rng(0)
    items = [(rng.integers(0, 255, (20, 24), dtype=np.uint8), 1),
             (rng.integers(0, 255, (30, 30, 3), dtype=np.uint8), 0)]
    plain_x, plain_y = make_collate(backbone)(items)
    torch.manual_seed(0)
    collate = augmented_collate(backbone, "strong", target_tensor)
    x1, y1 = collate(items)
    x2, _ = collate(items)
    assert x1.shape == plain_x.shape == (2, 3, 32, 32) and torch.equal(y1, plain_y)
    assert not torch.allclose(x1, x2)  # a new random transform each time
    assert abs(float(x1.mean())) < 3  # normalised like the eval preprocessing


def test_augmentation_applies_to_image_backbones_only(backbone):
    assert augments(backbone, "light") and not augments(backbone, "none")
    assert not augments(create_backbone("tabular"), "light")
    with pytest.raises(ConfigError, match="augment"):
        TrainConfig(augment="medium")


def test_fit_with_augmentation_trains_on_augmented_raw_images(tmp_path, monkeypatch):
    import transferkit as tk
    from transferkit.pipeline import collate as module

    made = []
    real = module.augmented_collate
    monkeypatch.setattr("transferkit.pipeline.stages.augmented_collate",
                        lambda *a, **k: made.append(a[1]) or real(*a, **k))
    run = tk.fit(data="digits", backbone="efficientnet_lite0", shots=2, image_size=32, max_test=20,
                 max_val=10, strategy="full", epochs=1, augment="light", out=str(tmp_path / "full"), log=None)
    assert made == ["light"] and 0 <= run.summary["metrics"]["test"]["accuracy"] <= 1
