"""Image preprocessing of the timm backbones: resize, centre-crop and normalise in NumPy.

timm's eval transform (shorter side to ``size / crop_pct``, centre crop, mean/std) as two
matrix products per image that reproduce ``torch.nn.functional.interpolate`` exactly.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from transferkit.errors import DataError


def images_to_tensor(items: Sequence[Any] | np.ndarray, size: int, mean: Sequence[float],
                     std: Sequence[float], crop_pct: float = 1.0, interpolation: str = "bicubic",
                     channels_last: bool = True) -> torch.Tensor:
    """Raw images -> normalised float tensor ``(B, 3, size, size)``.

    ``items`` are uint8 arrays ``(H, W)`` grey, ``(H, W, 1|3|4)``, or one array
    ``(B, H, W[, C])``. The shorter side is resized to ``floor(size / crop_pct)`` and the
    centre ``size x size`` is cropped (timm's eval transform); grey is replicated to 3
    channels. Same-sized images are resized as one batch.

    Resizing is separable, so it is done as two matrix products per image,
    ``Y = A_h X A_w^T`` with ``A_h (size, H)`` and ``A_w (size, W)`` holding exactly the
    weights of :func:`torch.nn.functional.interpolate` (crop and ``1/255`` folded in), then
    normalised straight into the output layout: a few single-threaded NumPy passes that
    overlap well with a forward pass running in another thread.
    """
    if isinstance(items, np.ndarray) and items.dtype != object and items.ndim in (3, 4):
        groups: list[tuple[Any, np.ndarray]] = [(slice(None), items)]
        total = len(items)
    else:
        arrays = [np.asarray(a) for a in items]
        if not arrays:
            raise DataError("Cannot collate an empty list of images.")
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, a in enumerate(arrays):
            if a.ndim not in (2, 3):
                raise DataError(f"Image {i} of the batch has shape {a.shape}; expected (H, W) grey or "
                                "(H, W, C) colour.")
            by_shape.setdefault(a.shape, []).append(i)
        total = len(arrays)
        groups = [(slice(None) if len(idx) == total else np.asarray(idx), np.stack([arrays[i] for i in idx]))
                  for idx in by_shape.values()]
    scale = [1.0 / float(v) for v in std]
    shift = [-float(m) / float(v) for m, v in zip(mean, std, strict=True)]
    shape = (total, size, size, 3) if channels_last else (total, 3, size, size)
    out = np.empty(shape, dtype=np.float32)
    for idx, batch in groups:
        y = _resize_batch(batch, size, crop_pct, interpolation)  # (b, 1|3, S, S) in [0, 1]
        whole = isinstance(idx, slice)
        for c in range(3):
            src = y[:, c if y.shape[1] == 3 else 0]
            if whole:
                dst = out[..., c] if channels_last else out[:, c]
                np.multiply(src, np.float32(scale[c]), out=dst)
                dst += np.float32(shift[c])
            elif channels_last:
                out[idx, :, :, c] = src * np.float32(scale[c]) + np.float32(shift[c])
            else:
                out[idx, c] = src * np.float32(scale[c]) + np.float32(shift[c])
    x = torch.from_numpy(out)
    return x.permute(0, 3, 1, 2) if channels_last else x  # NCHW view of channels_last memory


@functools.lru_cache(maxsize=128)
def _resize_matrix(n_in: int, n_out: int, start: int, length: int, mode: str, antialias: bool) -> np.ndarray:
    """``(length, n_in)`` float32: row ``i`` weights the input pixels of output pixel ``start + i``.

    Made by resizing unit impulses with ``F.interpolate`` (float64), so the weights are
    exactly torch's (align_corners=False; antialias as in PIL) for this axis.
    """
    # Impulses along the width axis: torch's antialiased kernels mis-handle a height-1 row
    # of impulses laid out along the height axis.
    eye = torch.eye(n_in, dtype=torch.float64).view(n_in, 1, 1, n_in)
    kwargs: dict[str, Any] = {}
    if mode in ("bilinear", "bicubic"):
        kwargs = {"align_corners": False, "antialias": antialias}
    y = F.interpolate(eye, size=(1, n_out), mode=mode, **kwargs)[:, 0, 0, :]  # (n_in, n_out)
    return np.ascontiguousarray(y[:, start:start + length].T.numpy(), dtype=np.float32)


_BLAS_LOCK = threading.Lock()
_BLAS_CONTROLLER: list[Any] = []
# OpenBLAS runs a product on several threads above m*n*k = 65536 * 4; on a busy machine
# (or beside a forward pass) that can be 100x slower than one thread for these shapes.
_OPENBLAS_THREADING_THRESHOLD = 65536 * 4


@contextlib.contextmanager
def _single_threaded_blas(mnk: int) -> Iterator[None]:
    """Run NumPy's BLAS on one thread for products of ``mnk`` multiply-adds or more.

    The limit is process-wide while it lasts, so it is taken under a lock and restored.
    """
    if mnk < _OPENBLAS_THREADING_THRESHOLD:
        yield
        return
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        yield
        return
    with _BLAS_LOCK:
        if not _BLAS_CONTROLLER:
            _BLAS_CONTROLLER.append(ThreadpoolController())
        with _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas"):
            yield


def _resize_batch(batch: np.ndarray, size: int, crop_pct: float, interpolation: str) -> np.ndarray:
    """uint8 ``(B, H, W[, C])`` -> float32 ``(B, 1|3, size, size)`` in [0, 1], resized and cropped."""
    x = np.asarray(batch)
    if x.ndim == 3:  # (B, H, W) grey
        x = x[:, None]
    else:  # (B, H, W, C)
        c = x.shape[-1]
        if c == 4:
            x = x[..., :3]
        elif c == 2:
            x = x[..., :1]
        elif c not in (1, 3):
            raise DataError(f"Images with {c} channels are not supported; expected 1 (grey), 3 (RGB) "
                            "or 4 (RGBA).")
        x = x.transpose(0, 3, 1, 2)
    h, w = x.shape[-2:]
    scale = math.floor(size / crop_pct) if crop_pct < 1.0 else size
    if h <= w:
        nh, nw = scale, max(scale, int(scale * w / h))
    else:
        nh, nw = max(scale, int(scale * h / w)), scale
    top, left = (nh - size) // 2, (nw - size) // 2
    if (nh, nw) == (h, w):
        y = np.ascontiguousarray(x[:, :, top:top + size, left:left + size], dtype=np.float32)
        y *= np.float32(1.0 / 255.0)
        return y
    mode = interpolation if interpolation in ("bilinear", "bicubic", "nearest", "area") else "bilinear"
    antialias = nh < h or nw < w
    a_h = _resize_matrix(h, nh, top, size, mode, antialias) * np.float32(1.0 / 255.0)  # (S, H)
    a_w = _resize_matrix(w, nw, left, size, mode, antialias)  # (S, W)
    xf = np.ascontiguousarray(x, dtype=np.float32)  # (B, C, H, W)
    with _single_threaded_blas(size * max(h, w) * size):
        y = np.matmul(np.matmul(a_h, xf), a_w.T)  # (B, C, S, S)
    if mode == "bicubic":
        np.clip(y, 0.0, 1.0, out=y)  # as PIL's uint8 output is
    return y
