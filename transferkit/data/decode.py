"""Decoding image files into ``uint8`` arrays (what a dataset's image items are)."""

from __future__ import annotations

import io
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: the largest image (width x height) decoded when loading data or predicting on files;
#: checked from the header, before any pixel is decoded (``data.max_megapixels``)
DEFAULT_MAX_PIXELS = 100_000_000
_UNCAPPED = threading.Lock()  # Pillow's own bomb limit is a module global; lifted under this lock


class PixelLimitError(DataError):
    """An image larger than the pixel limit; raised from its header, before decoding."""


def pixel_limit_message(name: str, width: int | None, height: int | None, pixels: int,
                        limit: int, fix: str) -> str:
    size = f"{width}×{height} = " if width and height else ""
    shown = name if "'" in name or "[" in name else f"'{name}'"  # serve passes "file 'x.png'"
    return (f"Image {shown} is {size}{pixels / 1e6:.1f} megapixels, over the limit of "
            f"{limit / 1e6:g} megapixels per image (decoded, it takes at least "
            f"{pixels * 3 / 2**30:.1f} GiB as RGB). It is not corrupt: downscale it, or {fix}.")


def is_image_file(path: Path) -> bool:
    """True for a visible file whose suffix is an image suffix (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def to_uint8(arr: np.ndarray, top: int | None = None) -> np.ndarray:
    """An image array as ``uint8``.

    ``top`` is the largest value of the format's bit depth (65535 for a 16-bit file): the
    values are scaled by ``255 / top`` whatever this image holds, so every image of a format
    decodes alike. Without it: booleans to 0/255, 16-bit ranges divided by 257, floats in
    [0, 1] scaled by 255, everything else clipped to [0, 255].
    """
    if top is not None:
        scaled = np.clip(arr.astype(np.float64), 0, top) * (255.0 / top)
        return np.rint(scaled).astype(np.uint8)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        top = int(arr.max()) if arr.size else 0
        if top <= 255 and int(arr.min()) >= 0:
            return arr.astype(np.uint8)
        return (np.clip(arr, 0, 65535) // 257).astype(np.uint8)  # 16-bit range
    arr = np.nan_to_num(arr.astype(np.float64))
    if arr.size and arr.max() <= 1.0:
        arr = arr * 255.0
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


# Metadata keys through which Pillow finds an orientation in PNG/GIF/BMP files.
_ORIENTATION_KEYS = ("exif", "Raw profile type exif", "xmp", "XML:com.adobe.xmp")


def _open_checked(data: bytes, name: str, max_pixels: int | None, fix: str) -> Any:
    """``Image.open`` (reads the header only) with the pixel limit checked on its size.

    Pillow's own decompression-bomb limit (about 89 MP warns, 179 MP refuses) is replaced
    by ``max_pixels`` (None: no limit), whose error says the image is large, not corrupt.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            pixels = int(found.group(1)) if found else 0
            if max_pixels is not None and pixels > max_pixels:
                raise PixelLimitError(pixel_limit_message(name, None, None, pixels, max_pixels, fix)) from None
            with _UNCAPPED:  # allowed by max_pixels: open with Pillow's limit lifted
                saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    img = Image.open(io.BytesIO(data))
                finally:
                    Image.MAX_IMAGE_PIXELS = saved
    width, height = img.size
    if max_pixels is not None and width * height > max_pixels:
        raise PixelLimitError(pixel_limit_message(name, width, height, width * height, max_pixels, fix))
    return img


def image_pixels(data: bytes, name: str = "<bytes>", max_pixels: int | None = None,
                 fix: str = "raise the limit") -> int:
    """Width x height of an encoded image, from its header alone (nothing is decoded).

    Raises :class:`PixelLimitError` over ``max_pixels`` and :class:`DataError` when the
    bytes are not an image.
    """
    try:
        img = _open_checked(data, name, max_pixels, fix)
    except DataError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for bad files
        raise DataError(f"Cannot read the image header of '{name}': {exc}.") from None
    return int(img.size[0] * img.size[1])


def _declared_top(img: object) -> int | None:
    """The largest value of an integer image's bit depth, from its mode and format (not
    from its pixels): 65535 for 16-bit modes, the TIFF's BitsPerSample/SampleFormat for a
    32-bit one; None for 8-bit and float modes."""
    mode = getattr(img, "mode", "")
    if mode.startswith("I;16"):
        return 65535
    if mode != "I":
        return None
    tags = getattr(img, "tag_v2", None)
    if getattr(img, "format", None) == "TIFF" and tags is not None:
        bits = tags.get(258, (16,))
        bits = int(bits[0] if isinstance(bits, tuple) else bits)
        fmt = tags.get(339, (1,))
        signed = int(fmt[0] if isinstance(fmt, tuple) else fmt) == 2
        return 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    return 65535  # PNG and PGM hold at most 16 bits per sample


def _may_be_rotated(img: object) -> bool:
    """False when a decoded PNG, GIF or BMP carries no EXIF/XMP block (no orientation to
    apply), which spares ``exif_transpose`` (about a quarter of a small PNG's decode)."""
    info = getattr(img, "info", {})
    return getattr(img, "format", None) not in ("PNG", "GIF", "BMP") or any(k in info for k in _ORIENTATION_KEYS)


def read_image(path: str | Path | bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               fix: str = "raise the limit: --max-megapixels N (data.max_megapixels)") -> np.ndarray:
    """Decode an image file (or its bytes) to ``uint8`` ``(H, W)`` grey or ``(H, W, 3)`` RGB.

    Palette, 1-bit, 16-bit and CMYK images are converted (a 16-bit image is scaled by its
    bit depth, 65535 -> 255, never by its own maximum); transparency is composited
    on white; EXIF orientation is applied; of a multi-frame file the first frame is kept.
    Raises :class:`DataError` naming the file when it cannot be decoded completely, and
    :class:`PixelLimitError` -- from the header, before decoding -- when it has more than
    ``max_pixels`` pixels (None: no limit; ``fix`` says how to raise the limit).

    >>> read_image("cat.png").shape  # doctest: +SKIP
    (64, 64, 3)
    """
    from PIL import Image, ImageOps

    name = "<bytes>" if isinstance(path, (bytes, bytearray)) else str(path)
    try:
        if isinstance(path, (bytes, bytearray)):
            data = bytes(path)
        else:
            with open(path, "rb") as fh:  # read-only; the file is never written
                data = fh.read()
        if not data:
            raise ValueError("the file is empty (0 bytes)")
        img = _open_checked(data, name, max_pixels, fix)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()  # decodes every byte: a truncated file fails here
        top = _declared_top(img)  # before exif_transpose, which drops the format and tags
        if _may_be_rotated(img):
            img = ImageOps.exif_transpose(img)
        mode = img.mode
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            mode = img.mode
        if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba).convert("L" if mode.startswith("L") else "RGB")
        elif mode == "1":
            img = img.convert("L")
        elif mode not in ("L", "RGB", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            img = img.convert("RGB")
        arr = np.asarray(img)
    except FileNotFoundError:
        raise DataError(f"Image file '{name}' does not exist.") from None
    except PixelLimitError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for bad files
        why = str(exc).replace(" <_io.BytesIO object", "").split(" at 0x")[0]  # no memory address
        raise DataError(f"Cannot decode image file '{name}': {why}. The file is corrupt, truncated "
                        "or not an image; replace or remove it, or pass --skip-bad "
                        "(skip_bad=True) to skip unreadable files.") from None
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return np.ascontiguousarray(to_uint8(arr, top if arr.dtype.kind in "iu" else None))


__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "PixelLimitError", "image_pixels", "is_image_file",
           "read_image", "to_uint8"]
