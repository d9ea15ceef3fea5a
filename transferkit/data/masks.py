"""Segmentation data: an image folder, a mask folder with the same file stems, a class map.

Layout::

    root/
      images/<stem>.png|jpg|...     the photos (decoded like any image)
      masks/<stem>.png              one class index per pixel
      classes.csv | classes.json | classes.yaml   the class map: index -> name

``classes.csv`` holds ``index,name`` rows (a header line ``index,name`` is optional);
``classes.json`` / ``classes.yaml`` a mapping ``{index: name}`` or a list of names (the
list position is the index). Indices need not be contiguous: they are stored as positions
in the class map, in increasing index order.

A mask is read as integers, never through the photo reader (which turns palettes into RGB
and rescales 16-bit samples): a palette ("P") PNG gives its palette indices, an 8-bit grey
("L") PNG its values, a 16-bit ("I;16", "I") PNG its values unscaled. Colour masks (RGB)
are refused: save the class index per pixel. A value that is not in the class map is an
error naming the file and the value; an image without a mask names its stem.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.data.decode import DEFAULT_MAX_PIXELS, is_image_file, read_image
from transferkit.errors import DataError

CLASS_MAP_FILES = ("classes.csv", "classes.json", "classes.yaml", "classes.yml")
#: PIL modes a mask may have: palette, 8-bit grey, 16-bit and 32-bit integer
MASK_MODES = ("P", "L", "I;16", "I;16L", "I;16B", "I")


def is_segmentation_folder(path: Path) -> bool:
    """True for a folder with ``images/``, ``masks/`` and a class-map file."""
    return (path.is_dir() and (path / "images").is_dir() and (path / "masks").is_dir()
            and any((path / f).is_file() for f in CLASS_MAP_FILES))


def read_class_map(path: str | Path) -> dict[int, str]:
    """``{mask value: class name}`` from a CSV, JSON or YAML class-map file (see the module)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    entries: list[tuple[Any, Any]]
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
        if rows and [c.strip().lower() for c in rows[0][:2]] == ["index", "name"]:
            rows = rows[1:]
        bad = [r for r in rows if len(r) < 2]
        if bad:
            raise DataError(f"Class map '{path}' has the row {bad[0]}; each row must be 'index,name'.")
        entries = [(r[0].strip(), r[1].strip()) for r in rows]
    else:
        if path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
        if isinstance(raw, list):
            entries = list(enumerate(raw))
        elif isinstance(raw, dict):
            entries = list(raw.items())
        else:
            raise DataError(f"Class map '{path}' must hold a mapping {{index: name}} or a list of names; "
                            f"got {type(raw).__name__}.")
    out: dict[int, str] = {}
    for index, name in entries:
        try:
            value = int(str(index))
        except ValueError:
            raise DataError(f"Class map '{path}' has the index {index!r} (for {name!r}); indices must be "
                            "integers >= 0 (the mask values).") from None
        if value < 0 or value in out:
            raise DataError(f"Class map '{path}' has the index {value} " + ("twice" if value in out else
                            "below 0") + "; each mask value needs one entry.")
        out[value] = str(name)
    if len(out) < 2:
        raise DataError(f"Class map '{path}' lists {len(out)} class(es); segmentation needs at least 2 "
                        "(e.g. background and one object class).")
    if len(set(out.values())) != len(out):
        raise DataError(f"Class map '{path}' gives two indices the same name; each class needs its own.")
    return dict(sorted(out.items()))


def read_mask(path: str | Path, values: dict[int, str] | None = None,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The class values of a mask file as an integer array ``(H, W)`` (int32), read by its PIL
    mode (palette indices, 8-bit or 16-bit values, unscaled). With ``values`` (the class map),
    a value outside it is an error naming the file and the value."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as img:
            if max_pixels is not None and img.width * img.height > max_pixels:
                raise DataError(f"Mask '{path}' is {img.width}x{img.height}, over the limit of "
                                f"{max_pixels / 1e6:g} megapixels; downscale it with nearest-neighbour "
                                "resampling.")
            mode = img.mode
            if mode not in MASK_MODES:
                raise DataError(f"Mask '{path}' has PIL mode {mode!r}; a mask holds one class index per "
                                f"pixel as a palette, 8-bit or 16-bit grey PNG (modes {', '.join(MASK_MODES)}). "
                                "Save the class indices, not colours.")
            arr = np.asarray(img).astype(np.int32)  # "P": the palette indices, never the colours
    except OSError as exc:
        raise DataError(f"Mask '{path}' cannot be decoded ({exc}). The file is corrupt or not an "
                        "image; replace it.") from None
    if arr.ndim != 2:
        raise DataError(f"Mask '{path}' has shape {arr.shape}; expected (H, W) class indices.")
    if values is not None:
        found = np.unique(arr)
        unknown = [int(v) for v in found if int(v) not in values]
        if unknown:
            raise DataError(f"Mask '{path}' holds the value {unknown[0]}" + (f" (and {unknown[1:6]})"
                            if len(unknown) > 1 else "") + f", which the class map does not list (known: "
                            f"{sorted(values)}). Add it to the class map, or fix the mask.")
    return arr


def _rgb(x: np.ndarray) -> np.ndarray:
    """A decoded image as (H, W, 3) uint8 (grey repeated, alpha dropped)."""
    if x.ndim == 2:
        x = x[..., None]
    return np.repeat(x[..., :1], 3, axis=2) if x.shape[2] < 3 else x[..., :3]


def load_segmentation_folder(root: str | Path, skip_bad: bool = False,
                             max_pixels: int | None = DEFAULT_MAX_PIXELS) -> TransferDataset:
    """Load ``root/images``, ``root/masks`` and the class map into a dataset whose ``y`` holds
    the masks ``(N, H, W)`` as class positions (int16). Every image and mask must share one
    size (a stack); a mismatch names the file. Bad files raise, or with ``skip_bad`` are
    skipped and listed."""
    root = Path(root)
    class_file = next(root / f for f in CLASS_MAP_FILES if (root / f).is_file())
    values = read_class_map(class_file)
    keys = np.array(list(values), dtype=np.int64)  # sorted mask values
    images = sorted(f for f in (root / "images").rglob("*") if f.is_file() and is_image_file(f))
    masks = {f.relative_to(root / "masks").with_suffix("").as_posix(): f
             for f in (root / "masks").rglob("*") if f.is_file() and is_image_file(f)}
    if not images:
        raise DataError(f"Segmentation folder '{root}' has no images in {root / 'images'}.")
    xs, ys, ids, skipped = [], [], [], []
    shape: tuple[int, int] | None = None
    for f in images:
        stem = f.relative_to(root / "images").with_suffix("").as_posix()
        try:
            if stem not in masks:
                raise DataError(f"Image '{f}' has no mask: expected {root / 'masks' / stem}.png (same "
                                "stem). Add the mask or remove the image.")
            x = read_image(f, max_pixels)
            m = read_mask(masks[stem], values, max_pixels)
            if x.shape[:2] != m.shape:
                raise DataError(f"Image '{f}' is {x.shape[1]}x{x.shape[0]} but its mask '{masks[stem]}' "
                                f"is {m.shape[1]}x{m.shape[0]}; they must match pixel for pixel.")
            if shape is not None and m.shape != shape:
                raise DataError(f"Image '{f}' is {m.shape[1]}x{m.shape[0]}, the first image "
                                f"{shape[1]}x{shape[0]}; a segmentation folder needs one size. Resize "
                                "images (bilinear) and masks (nearest) to a common size.")
        except DataError as exc:
            if not skip_bad:
                raise
            skipped.append({"file": str(f), "error": str(exc)})
            continue
        shape = m.shape
        xs.append(_rgb(x))
        ys.append(np.searchsorted(keys, m).astype(np.int16))  # mask value -> class position
        ids.append(stem)
    if not xs:
        raise DataError(f"None of the {len(images)} images in '{root}' could be read with its mask "
                        f"(first: {skipped[0]['error']}).")
    return TransferDataset(name=root.name, modality="image", x=np.stack(xs), y=np.stack(ys),
                           classes=list(values.values()), ids=ids, skipped=skipped,
                           meta={"source": str(root), "kind": "segmentation-folder",
                                 "mask_values": list(values)})


__all__ = ["CLASS_MAP_FILES", "is_segmentation_folder", "load_segmentation_folder", "read_class_map",
           "read_mask"]
