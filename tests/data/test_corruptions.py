"""Corruptions: deterministic, really change the images, never touch the input."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.data.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from transferkit.errors import ConfigError


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((6, 28, 28), dtype=np.uint8)
    x[:, 6:22, 8:20] = rng.integers(150, 255, size=(6, 16, 12))  # a bright object on black
    return x


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_deterministic_and_changes_images(images: np.ndarray, kind: str) -> None:
    before = images.copy()
    a = corrupt(images, kind, severity=3, seed=7)
    b = corrupt(images, kind, severity=3, seed=7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(images, before)  # input untouched
    assert a.shape == images.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - images.astype(int)).mean() > 2.0


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_severity_is_monotone(images: np.ndarray, kind: str) -> None:
    dist = [np.abs(corrupt(images, kind, s, seed=0).astype(float) - images).mean() for s in SEVERITIES]
    assert all(d2 > d1 for d1, d2 in zip(dist, dist[1:], strict=False)), dist


def test_noise_depends_on_seed(images: np.ndarray) -> None:
    assert not np.array_equal(corrupt(images, "noise", seed=0), corrupt(images, "noise", seed=1))


def test_each_kind_does_what_it_says(images: np.ndarray) -> None:
    blurred = corrupt(images, "blur", severity=5).astype(float)
    # blur lowers the total variation (edges get soft) while keeping the mean brightness
    tv = lambda x: np.abs(np.diff(x.astype(float), axis=2)).mean()  # noqa: E731
    assert tv(blurred) < 0.7 * tv(images)
    assert abs(blurred.mean() - images.mean()) < 2.0
    low = corrupt(images, "contrast", severity=5).astype(float)
    assert low.std() < 0.1 * images.astype(float).std()
    noisy = corrupt(images, "noise", severity=5).astype(float)
    assert (noisy[:, :3, :3] > 0).mean() > 0.3  # the black background is no longer black


def test_rgb_images_and_errors(images: np.ndarray) -> None:
    rgb = np.repeat(images[..., None], 3, axis=3)
    out = corrupt(rgb, "blur", severity=2)
    assert out.shape == rgb.shape
    np.testing.assert_array_equal(out[..., 0], out[..., 2])  # channels are not mixed
    with pytest.raises(ConfigError, match="Did you mean 'blur'"):
        corrupt(images, "blurr")
    with pytest.raises(ConfigError, match="severity"):
        corrupt(images, "noise", severity=6)
    with pytest.raises(ConfigError, match="uint8"):
        corrupt(images.astype(np.float32), "noise")


def test_registered_datasets() -> None:
    from transferkit.data import DATASETS, load_splits

    for kind in CORRUPTIONS:
        assert f"fashion-mnist-{kind}" in DATASETS.names()
    cls = DATASETS.get("fashion-mnist-contrast")
    if not cls.available():
        pytest.skip(f"Fashion-MNIST is not installed here: {cls.install_hint}")
    clean = load_splits("fashion-mnist", max_test=20)
    low = load_splits("fashion-mnist-contrast", domain="severity-5", max_test=20)
    np.testing.assert_array_equal(clean.test.y, low.test.y)  # same images, same labels
    per_image_std = lambda x: x.reshape(len(x), -1).astype(float).std(axis=1).mean()  # noqa: E731
    assert per_image_std(low.test.x) < 0.1 * per_image_std(clean.test.x)
    assert low.test.meta["domain"] == "severity-5"
