"""Image corruptions for covariate-shift benchmarks: Gaussian noise, blur, contrast.

The recipes follow ImageNet-C (Hendrycks & Dietterich, ICLR 2019,
https://arxiv.org/abs/1903.12261) and MNIST-C (Mu & Gilmer 2019,
https://arxiv.org/abs/1906.02337), with five severities each; the blur radii are scaled
down for 28-pixel images. Every function is pure and vectorised: uint8 images in,
new uint8 images out (the input array is never modified), and the result depends only
on the images, the severity and the seed.

>>> import numpy as np
>>> x = np.full((2, 28, 28), 128, dtype=np.uint8)
>>> corrupt(x, "contrast", severity=5).max() < 128 + 10
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from transferkit.errors import ConfigError
from transferkit.registry import did_you_mean

SEVERITIES = (1, 2, 3, 4, 5)
DEFAULT_SEVERITY = 3

# per severity 1..5; images on the [0, 1] scale
NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
BLUR_SIGMA = (0.5, 0.75, 1.0, 1.25, 1.6)
CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)


def _as_float(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float32) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def gaussian_noise(images: np.ndarray, severity: int = DEFAULT_SEVERITY, seed: int = 0) -> np.ndarray:
    """``x' = clip(x + n)``, ``n ~ N(0, c^2)`` per pixel, ``c`` in NOISE_STD (images in [0, 1]).

    Shapes: ``(N, H, W[, C])`` uint8 -> same shape, uint8.
    """
    rng = np.random.default_rng(seed)
    x = _as_float(images)
    return _to_uint8(x + rng.normal(0.0, NOISE_STD[severity - 1], size=x.shape).astype(np.float32))


def gaussian_blur(images: np.ndarray, severity: int = DEFAULT_SEVERITY, seed: int = 0) -> np.ndarray:
    """Gaussian blur over the spatial axes with sigma BLUR_SIGMA (in pixels); ``seed`` is unused.

    Shapes: ``(N, H, W[, C])`` uint8 -> same shape, uint8.
    """
    from scipy.ndimage import gaussian_filter

    x = _as_float(images)
    s = BLUR_SIGMA[severity - 1]
    sigma = (0.0, s, s) + (0.0,) * (x.ndim - 3)  # never blur across images or channels
    return _to_uint8(gaussian_filter(x, sigma=sigma, mode="nearest"))


def contrast(images: np.ndarray, severity: int = DEFAULT_SEVERITY, seed: int = 0) -> np.ndarray:
    """``x' = (x - mean(x)) * c + mean(x)`` per image, ``c`` in CONTRAST; ``seed`` is unused.

    Shapes: ``(N, H, W[, C])`` uint8 -> same shape, uint8.
    """
    x = _as_float(images)
    mean = x.reshape(len(x), -1).mean(axis=1).reshape((len(x),) + (1,) * (x.ndim - 1))
    return _to_uint8((x - mean) * CONTRAST[severity - 1] + mean)


CORRUPTIONS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "noise": gaussian_noise,
    "blur": gaussian_blur,
    "contrast": contrast,
}


def corrupt(images: np.ndarray, kind: str, severity: int = DEFAULT_SEVERITY, seed: int = 0) -> np.ndarray:
    """Apply the corruption ``kind`` (noise, blur, contrast) at ``severity`` 1-5.

    ``images`` is uint8 ``(N, H, W)`` or ``(N, H, W, C)``; returns a new uint8 array of
    the same shape. Deterministic: the same images, severity and seed give the same
    output.
    """
    if kind not in CORRUPTIONS:
        raise ConfigError(f"Unknown corruption {kind!r}.{did_you_mean(str(kind), list(CORRUPTIONS))} "
                          f"Available: {', '.join(CORRUPTIONS)}.")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ConfigError(f"The 'severity' parameter of corrupt must be an int in 1..5. "
                          f"Got {severity!r} instead.")
    arr = np.asarray(images)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4):
        raise ConfigError(f"corrupt expects uint8 images of shape (N, H, W) or (N, H, W, C). Got "
                          f"dtype {arr.dtype} and shape {arr.shape} instead.")
    return CORRUPTIONS[kind](arr, int(severity), int(seed))
