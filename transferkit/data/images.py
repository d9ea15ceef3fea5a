"""Image files: decoding one file, and image folders ``root/<class>/<image>``.

An image folder is indexed, not loaded: its items are decoded when a batch needs them.
Every file is checked -- decoded completely, in parallel, the result cached by path, size
and timestamps -- before the dataset is returned, so a corrupt, truncated or empty file is
found before training starts: it raises a :class:`DataError` naming the file, or with
``skip_bad=True`` it is skipped and listed in ``dataset.skipped``. Files are opened
read-only and never modified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.data.decode import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    PixelLimitError,
    is_image_file,
    read_image,
    to_uint8,
)
from transferkit.data.file_check import check_images
from transferkit.data.labels import encode_labels
from transferkit.data.lazy import LazyImages
from transferkit.errors import DataError


def load_image_folder(root: str | Path, skip_bad: bool = False,
                      max_pixels: int | None = DEFAULT_MAX_PIXELS, revalidate: bool = False,
                      cache_dir: str | Path | None = None) -> TransferDataset:
    """Load ``root/<class>/**/<image>`` (class = first-level folder name).

    The folder is indexed, not loaded: ``x`` is a :class:`LazyImages` that decodes an
    item when it is read (sizes and modes may differ between files); ``ids`` are the paths
    relative to ``root``. Every file is checked first (see :mod:`transferkit.data.file_check`;
    cached, ``revalidate=True`` checks again): an image over ``max_pixels`` (width x height,
    read from its header) or one that cannot be decoded is an error naming it, or skipped
    with ``skip_bad``. The checks are cached under ``cache_dir`` (see
    :func:`~transferkit.data.file_check.check_cache_dir` for the default).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"Image folder '{root}' does not exist or is not a directory.")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, str]] = []
    for d in class_dirs:
        files.extend((f, d.name) for f in sorted(d.rglob("*")) if f.is_file() and is_image_file(f))
    if not files:
        loose = [f.name for f in root.iterdir() if f.is_file()][:5]
        raise DataError(
            f"Image folder '{root}' contains no images in class folders. Expected the layout "
            f"{root}/<class name>/<image>{{{','.join(IMAGE_SUFFIXES)}}}; found "
            f"{len(class_dirs)} subfolder(s)" + (f" and loose files such as {loose}" if loose else "")
            + ". Put each class's images in a folder named after the class."
        )
    resolved = [str(f.resolve()) for f, _ in files]  # read later, whatever the working folder is then
    checks = check_images(resolved, max_pixels, revalidate=revalidate, stop_at_error=not skip_bad,
                          cache_dir=cache_dir)
    paths: list[str] = []
    digests: list[str] = []
    labels: list[str] = []
    ids: list[str] = []
    skipped: list[dict[str, str]] = []
    for (f, label), check in zip(files, checks, strict=False):
        if check.error is not None:
            message = check.error.replace(check.path, str(f))  # the path as the user gave it
            if not skip_bad:
                raise PixelLimitError(message) if check.over_limit else DataError(message)
            skipped.append({"file": str(f), "error": message.split(". The file is")[0]})
            continue
        paths.append(check.path)
        digests.append(str(check.digest))
        labels.append(label)
        ids.append(str(f.relative_to(root)))
    if not paths:
        raise DataError(f"None of the {len(files)} image files in '{root}' could be decoded "
                        f"(first: {skipped[0]['file']}).")
    y, classes = encode_labels(labels, f"image folder '{root}'")
    return TransferDataset(name=root.name, modality="image", x=LazyImages(paths, digests, max_pixels), y=y,
                           classes=classes,
                           ids=ids, skipped=skipped, meta={"source": str(root), "kind": "image-folder"})


def native_size(data: Any, sample: int = 256) -> tuple[int, int]:
    """The (median) native ``(H, W)`` of an image dataset's inputs (a sample of up to ``sample``)."""
    x = data.x
    if isinstance(x, np.ndarray) and x.dtype != object and x.ndim in (3, 4):
        return int(x.shape[1]), int(x.shape[2])
    if len(data) == 0:
        raise DataError(f"Dataset '{data.name}' ({data.split}) is empty; it has no image size.")
    if "native_size" not in data.meta:  # files are decoded once per dataset, not per question
        idx = np.linspace(0, len(data) - 1, min(sample, len(data))).astype(np.int64)
        sizes = np.array([np.asarray(data.input(int(i))).shape[:2] for i in idx])
        h, w = np.median(sizes, axis=0)
        data.meta["native_size"] = (int(h), int(w))
    return data.meta["native_size"]



__all__ = ["IMAGE_SUFFIXES", "is_image_file", "load_image_folder", "native_size", "read_image", "to_uint8"]
