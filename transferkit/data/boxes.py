"""Detection data: an image folder with boxes, as COCO JSON or YOLO text files.

Layouts::

    root/                                  root/
      images/<file>.png|jpg|...              images/<stem>.png|jpg|...
      annotations.json  (COCO)               labels/<stem>.txt     (YOLO)
                                             classes.txt | data.yaml

- **COCO**: one JSON file (``annotations.json``, or the only ``*.json`` in ``root``) with
  ``images`` (``id``, ``file_name`` relative to ``images/``, ``width``, ``height``),
  ``annotations`` (``image_id``, ``category_id``, ``bbox`` = ``[x, y, width, height]`` in
  pixels; ``iscrowd: 1`` regions are left out) and ``categories`` (``id``, ``name``).
  Classes are the categories in increasing ``id`` order.
- **YOLO**: one ``labels/<stem>.txt`` per image, a line ``class cx cy w h`` per box with
  the centre and size as fractions of the image's width and height; the class names are
  the lines of ``classes.txt`` or the ``names`` of ``data.yaml`` (a list or ``{index: name}``).
  An image without a label file has no objects.

A box outside the image (by more than :data:`EDGE_TOLERANCE` pixels; within it, it is
clipped), with a width or height <= 0, or with an unknown category / class index is an
error naming the file and the box; with ``skip_bad`` the image is skipped and listed
(skipping only the box would teach the model that the object is background).

The dataset stores ``y`` as float32 ``(N, M, 5)`` rows ``[class, x1, y1, x2, y2]`` with the
corners as fractions of the image's width and height (so a box keeps its place when the
image is resized), padded with rows of class ``-1`` to the most boxes of an image;
``meta["boxes"]`` is True. :func:`box_rows` gives one image's real rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.data.decode import DEFAULT_MAX_PIXELS, is_image_file, read_image
from transferkit.errors import DataError

#: pixels a box may reach past the image's edge before it is an error (it is clipped)
EDGE_TOLERANCE = 1.0
CLASS_FILES = ("classes.txt", "data.yaml", "data.yml")


def box_rows(y: np.ndarray) -> np.ndarray:
    """One image's real box rows ``(m, 5)`` (the padding, class -1, left out)."""
    y = np.asarray(y, dtype=np.float32).reshape(-1, 5)
    return y[y[:, 0] >= 0]


def pad_boxes(rows: list[np.ndarray]) -> np.ndarray:
    """Per-image ``(m_i, 5)`` rows -> ``(N, M, 5)`` float32 padded with class -1 (M >= 1)."""
    m = max([len(r) for r in rows] + [1])
    out = np.zeros((len(rows), m, 5), dtype=np.float32)
    out[:, :, 0] = -1
    for i, r in enumerate(rows):
        if len(r):
            out[i, :len(r)] = r
    return out


def coco_json(root: Path) -> Path | None:
    """The COCO annotation file of ``root``: annotations.json, else the only *.json there."""
    if (root / "annotations.json").is_file():
        return root / "annotations.json"
    found = sorted(root.glob("*.json"))
    return found[0] if len(found) == 1 else None


def is_detection_folder(path: Path) -> bool:
    """True for ``images/`` with a COCO JSON file, or with ``labels/`` and a class file (YOLO)."""
    if not (path.is_dir() and (path / "images").is_dir()):
        return False
    yolo = (path / "labels").is_dir() and any((path / f).is_file() for f in CLASS_FILES)
    return yolo or coco_json(path) is not None


def check_box(box: tuple[float, float, float, float], w: int, h: int, where: str) -> np.ndarray:
    """Pixel corners ``(x1, y1, x2, y2)`` checked against a ``w`` x ``h`` image and clipped
    (within :data:`EDGE_TOLERANCE`); returns them as fractions of the image's sides."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(np.isfinite([x1, y1, x2, y2])):
        raise DataError(f"{where}: the box {list(box)} has a non-finite coordinate. Fix or remove it.")
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise DataError(f"{where}: the box (x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}) has a width or "
                        "height <= 0. Fix or remove it (or pass --skip-bad to skip the image).")
    t = EDGE_TOLERANCE
    if x1 < -t or y1 < -t or x2 > w + t or y2 > h + t:
        raise DataError(f"{where}: the box (x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}) lies outside the "
                        f"{w}x{h} image. Fix the box (or pass --skip-bad to skip the image).")
    return np.array([max(0.0, x1) / w, max(0.0, y1) / h, min(float(w), x2) / w, min(float(h), y2) / h],
                    dtype=np.float32)


def _coco(root: Path, file: Path) -> tuple[list[str], list[tuple[Path, list[Any]]], dict[int, Any]]:
    """(class names, [(image path, its annotations)], {image index: (width, height)})."""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"COCO file '{file}' cannot be read as JSON ({exc}).") from None
    if not isinstance(doc, dict) or not all(k in doc for k in ("images", "annotations", "categories")):
        raise DataError(f"COCO file '{file}' needs the keys 'images', 'annotations' and 'categories'.")
    cats = sorted(doc["categories"], key=lambda c: int(c["id"]))
    if not cats:
        raise DataError(f"COCO file '{file}' lists no categories.")
    per_image: dict[Any, list[Any]] = {im["id"]: [] for im in doc["images"]}
    for a in doc["annotations"]:
        if a.get("image_id") not in per_image:
            raise DataError(f"COCO file '{file}': annotation {a.get('id')} names the image id "
                            f"{a.get('image_id')!r}, which 'images' does not list.")
        if not a.get("iscrowd"):
            per_image[a["image_id"]].append(a)
    items, sizes = [], {}
    for i, im in enumerate(doc["images"]):
        items.append((root / "images" / str(im["file_name"]), per_image[im["id"]]))
        sizes[i] = (im.get("width"), im.get("height"))
    return [str(c["name"]) for c in cats], items, {"ids": [int(c["id"]) for c in cats], **sizes}


def _yolo_classes(root: Path) -> list[str]:
    if (root / "classes.txt").is_file():
        names = [s.strip() for s in (root / "classes.txt").read_text(encoding="utf-8").splitlines()]
        return [s for s in names if s]
    import yaml

    file = next(root / f for f in CLASS_FILES[1:] if (root / f).is_file())
    names = (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names, key=int)]
    if not isinstance(names, list) or not names:
        raise DataError(f"'{file}' needs 'names': a list of class names or {{index: name}}.")
    return [str(n) for n in names]


def _yolo_rows(file: Path, w: int, h: int, k: int) -> np.ndarray:
    rows = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"'{file}' line {n}"
        try:
            c, cx, cy, bw, bh = int(parts[0]), *(float(v) for v in parts[1:5])
        except (ValueError, TypeError):
            raise DataError(f"{where} is {line.strip()!r}; expected 'class cx cy w h'.") from None
        if len(parts) != 5:
            raise DataError(f"{where} has {len(parts)} fields; expected 'class cx cy w h' (5).")
        if not 0 <= c < k:
            raise DataError(f"{where}: the box's class {c} is not one of the {k} classes (0-{k - 1}) of "
                            "the class file. Fix the index or add the class.")
        box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
        rows.append(np.concatenate([[c], check_box(box, w, h, where)]))
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


def _coco_rows(anns: list[Any], w: int, h: int, ids: list[int], where: str) -> np.ndarray:
    rows = []
    for a in anns:
        cat = a.get("category_id")
        if cat not in ids:
            raise DataError(f"{where}: annotation {a.get('id')} has the category id {cat!r}, which "
                            f"'categories' does not list (known: {ids}). Fix it or add the category.")
        x, y, bw, bh = (float(v) for v in a["bbox"])
        rows.append(np.concatenate([[ids.index(cat)], check_box((x, y, x + bw, y + bh), w, h,
                                                                  f"{where} (annotation {a.get('id')})")]))
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


def load_detection_folder(root: str | Path, skip_bad: bool = False,
                          max_pixels: int | None = DEFAULT_MAX_PIXELS) -> TransferDataset:
    """Load a COCO or YOLO folder (see the module) into a dataset of boxes. Bad images or
    boxes raise, or with ``skip_bad`` the image is skipped and listed."""
    root = Path(root)
    coco = coco_json(root) if not (root / "labels").is_dir() else None
    if coco is not None:
        classes, items, info = _coco(root, coco)
        ids = info["ids"]
    else:
        classes = _yolo_classes(root)
        files = sorted(f for f in (root / "images").rglob("*") if f.is_file() and is_image_file(f))
        items = [(f, root / "labels" / f.relative_to(root / "images").with_suffix(".txt")) for f in files]
        info, ids = {}, []
    if not items:
        raise DataError(f"Detection folder '{root}' has no images.")
    xs, rows, names, skipped = [], [], [], []
    for i, (f, ann) in enumerate(items):
        try:
            if not f.is_file():
                raise DataError(f"'{coco}' lists the image '{f}', which does not exist.")
            x = read_image(f, max_pixels)
            h, w = x.shape[:2]
            if coco is not None:
                dw, dh = info.get(i, (None, None))
                if (dw, dh) != (None, None) and (int(dw), int(dh)) != (w, h):
                    raise DataError(f"'{coco}' says the image '{f}' is {dw}x{dh}; the file is {w}x{h}.")
                r = _coco_rows(ann, w, h, ids, f"'{coco}', image '{f.name}'")
            else:
                r = _yolo_rows(ann, w, h, len(classes)) if ann.is_file() else np.zeros((0, 5), np.float32)
        except DataError as exc:
            if not skip_bad:
                raise
            skipped.append({"file": str(f), "error": str(exc)})
            continue
        xs.append(x if x.ndim == 3 else np.repeat(x[..., None], 3, axis=2))
        rows.append(r)
        names.append(f.relative_to(root / "images").as_posix())
    if not xs:
        raise DataError(f"None of the {len(items)} images in '{root}' could be read with its boxes "
                        f"(first: {skipped[0]['error']}).")
    x_all: Any = np.stack(xs) if len({a.shape for a in xs}) == 1 else xs
    return TransferDataset(name=root.name, modality="image", x=x_all, y=pad_boxes(rows), classes=classes,
                           ids=names, skipped=skipped,
                           meta={"source": str(root), "kind": "coco" if coco is not None else "yolo",
                                 "boxes": True})


def as_boxes(ds: TransferDataset) -> TransferDataset:
    """A dataset whose meta carries ``object_boxes`` (the ``scenes`` built-in) as a dataset of
    boxes (classes ``object_classes``); a dataset of boxes as it is."""
    if ds.boxes:
        return ds
    if "object_boxes" not in ds.meta:
        raise DataError(f"'{ds.name}' has no boxes.")
    meta = {k: v for k, v in ds.meta.items() if k not in ("object_boxes", "object_classes")}
    return TransferDataset(name=ds.name, modality=ds.modality, x=ds.x, y=ds.meta["object_boxes"],
                           classes=list(ds.meta["object_classes"]), domain=ds.domain, split=ds.split,
                           ids=ds.ids, skipped=list(ds.skipped), meta={**meta, "boxes": True})


__all__ = ["EDGE_TOLERANCE", "as_boxes", "box_rows", "check_box", "is_detection_folder",
           "load_detection_folder", "pad_boxes"]
