"""Scenes: printed digits pasted on 128x128 canvases, with exact masks (segmentation) and
boxes (detection).

Each canvas holds 1-4 objects: glyphs of the built-in ``printed-digits`` renderer (random
font, rotation, stroke; rendered at 64 px), each scaled to a height of 28-64 px and placed
at a random position so that its box overlaps every earlier object's box by at most
:data:`MAX_OVERLAP` (intersection over the smaller box; a placement is retried up to 50
times, else the object is left out). An object is painted in one colour that differs from
the background; the mask holds the object's class (digit + 1) wherever its glyph pixels
(grey >= 128) were painted, 0 (background) elsewhere, and a later object covers an
earlier one in the image and in the mask alike -- the masks are exact by construction.
An object's box is the tight box of its glyph's painted pixels (the whole glyph, also where
a later object covers part of it), ``[digit, x1, y1, x2, y2]`` as fractions of the canvas
(pixel edges: a glyph in columns 10-19 has x1 = 10/128, x2 = 20/128); ``--task detection``
reads them (classes: the 10 digits, no background).

Two domains share the generator and differ in the background:

- ``plain``: one random colour per canvas;
- ``textured``: a random 128x128 crop (random scale 1-2x) of scikit-image's ``brick``,
  ``grass`` or ``gravel`` photograph, tinted with a random colour.

Generator parameters (fixed, so the data never changes): :data:`POOL` images per domain
for train/val (val: ``data.val_fraction`` of them, split by ``data.split_seed``) and
:data:`TEST` more as the fixed test split; seeds :data:`SEEDS` per domain (test images use
``seed + 1``). The images are generated on the fly, deterministically (about 2 s per
domain), and kept in memory for the process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset, builtin, dataset, has_module
from transferkit.data.builtin.printed_digits import font_files, render_printed_digits
from transferkit.data.dataset import TransferDataset
from transferkit.data.splits import concat

SIZE = 128
POOL = 300
TEST = 100
MAX_OBJECTS = 4
MIN_HEIGHT, MAX_HEIGHT = 28, 64
MAX_OVERLAP = 0.25
GLYPH_SIZE = 64
SEEDS = {"plain": 1000, "textured": 2000}
TEXTURES = ("brick", "grass", "gravel")
CLASSES = ["background", *(f"digit {d}" for d in range(10))]


@lru_cache(maxsize=2)
def _glyphs(seed: int, n_per_class: int = 30) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Cropped glyph masks (bool) and their digits, rendered by ``printed-digits``."""
    x, y = render_printed_digits(n_per_class=n_per_class, size=GLYPH_SIZE, seed=seed)
    crops = []
    for img in x:
        on = img >= 128
        rows, cols = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
        crops.append(on[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if len(rows) else on[:1, :1])
    return tuple(crops), y


@lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, ...]:
    from skimage import data as skdata

    out = []
    for name in TEXTURES:
        img = np.asarray(getattr(skdata, name)())
        out.append(img if img.ndim == 2 else img[..., :3].mean(axis=2).astype(np.uint8))
    return tuple(out)


def _resize_nearest(a: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = np.minimum((np.arange(h) + 0.5) * a.shape[0] / h, a.shape[0] - 1).astype(np.int64)
    cols = np.minimum((np.arange(w) + 0.5) * a.shape[1] / w, a.shape[1] - 1).astype(np.int64)
    return a[rows][:, cols]


def _background(domain: str, rng: np.random.Generator) -> np.ndarray:
    if domain == "plain":
        return np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (SIZE, SIZE, 3)).copy()
    tex = _textures()[int(rng.integers(len(TEXTURES)))]
    side = int(SIZE * rng.uniform(1.0, 2.0))
    top, left = rng.integers(0, tex.shape[0] - side + 1), rng.integers(0, tex.shape[1] - side + 1)
    grey = _resize_nearest(tex[top:top + side, left:left + side], SIZE, SIZE).astype(np.float32) / 255.0
    tint = rng.uniform(0.3, 1.0, 3).astype(np.float32)
    return np.clip(grey[..., None] * tint * 255.0, 0, 255).astype(np.uint8)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection of boxes (top, left, h, w) over the smaller box's area."""
    ih = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iw = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, ih) * max(0, iw) / min(a[2] * a[3], b[2] * b[3])


def render_scenes(n: int, domain: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` canvases ``(n, 128, 128, 3)`` uint8 and their masks ``(n, 128, 128)`` int16
    (0 background, 1-10 the digits 0-9) for ``domain``; deterministic for ``seed``."""
    x, y, _ = render_scene_objects(n, domain, seed)
    return x, y


def render_scene_objects(n: int, domain: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`render_scenes` and each canvas's boxes ``(n, 4, 5)`` float32: rows
    ``[digit, x1, y1, x2, y2]`` (fractions of the canvas), padded with digit -1."""
    glyphs, digits = _glyphs(seed % 997)
    rng = np.random.default_rng(seed)
    x = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    y = np.zeros((n, SIZE, SIZE), dtype=np.int16)
    objects = np.zeros((n, MAX_OBJECTS, 5), dtype=np.float32)
    objects[:, :, 0] = -1
    for i in range(n):
        canvas = _background(domain, rng)
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
            g = int(rng.integers(len(glyphs)))
            h = int(rng.integers(MIN_HEIGHT, MAX_HEIGHT + 1))
            w = max(4, min(SIZE, round(glyphs[g].shape[1] * h / glyphs[g].shape[0])))
            for _try in range(50):
                box = (int(rng.integers(0, SIZE - h + 1)), int(rng.integers(0, SIZE - w + 1)), h, w)
                if all(_overlap(box, b) <= MAX_OVERLAP for b in boxes):
                    break
            else:
                continue
            boxes.append(box)
            on = _resize_nearest(glyphs[g], h, w)  # (h, w) bool: the glyph's pixels
            mean = canvas[box[0]:box[0] + h, box[1]:box[1] + w].reshape(-1, 3).mean(0)
            colour = np.where(mean > 127, rng.integers(0, 70, 3), rng.integers(186, 256, 3))
            region = canvas[box[0]:box[0] + h, box[1]:box[1] + w]
            region[on] = colour.astype(np.uint8)
            y[i, box[0]:box[0] + h, box[1]:box[1] + w][on] = int(digits[g]) + 1
            rows, cols = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
            objects[i, len(boxes) - 1] = (int(digits[g]), (box[1] + cols[0]) / SIZE, (box[0] + rows[0]) / SIZE,
                                          (box[1] + cols[-1] + 1) / SIZE, (box[0] + rows[-1] + 1) / SIZE)
        x[i] = canvas
    return x, y, objects


@builtin
class Scenes(BuiltinDataset):
    """Printed digits on plain or textured 128x128 canvases, with exact masks and boxes."""

    name = "scenes"
    description = ("Scenes of 1-4 printed digits on 128x128 canvases with exact masks (11 classes: "
                   "background + 10 digits) and boxes (--task detection: the 10 digits); domains "
                   "plain and textured (brick/grass/gravel).")
    modality = "image"
    task = "segmentation"
    size = 2 * (POOL + TEST)
    classes = CLASSES
    domains = ("plain", "textured")
    source = ("generated on the fly by transferkit: glyphs from matplotlib's DejaVu/STIX fonts, "
              "textures from scikit-image's brick, grass and gravel photographs")
    licence = ("generated: transferkit; fonts: Bitstream Vera, SIL OFL; "
               "textures: CC0 (scikit-image data)")
    install_hint = "pip install matplotlib scikit-image"
    pip_args = ("matplotlib", "scikit-image")

    @classmethod
    def available(cls) -> bool:
        return bool(font_files()) and has_module("skimage")

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        """One domain's pool and test part; without a domain, both domains' together."""
        self.check_domain(domain)
        if domain is None:
            (pool_p, test_p), (pool_t, test_t) = self._domain("plain"), self._domain("textured")
            pool, test = concat(pool_p, pool_t, self.name), concat(test_p, test_t, self.name)
            for part, a, b in ((pool, pool_p, pool_t), (test, test_p, test_t)):
                part.meta["domain"] = "plain+textured"
                part.meta["object_boxes"] = np.concatenate([a.meta["object_boxes"], b.meta["object_boxes"]])
            return pool, test
        return self._domain(domain)

    def _domain(self, domain: str) -> tuple[TransferDataset, TransferDataset]:
        seed = SEEDS[domain]
        x, y, boxes = render_scene_objects(POOL, domain, seed)
        xt, yt, boxes_t = render_scene_objects(TEST, domain, seed + 1)
        meta = {"domain": domain, "image_size": SIZE, "pool": POOL, "test": TEST, "seed": seed,
                "object_classes": CLASSES[1:]}  # --task detection: the digits, no background
        pool = dataset(type(self), x, y, f"scenes-{domain}", meta={**meta, "object_boxes": boxes})
        test = dataset(type(self), xt, yt, f"scenes-{domain}-test", meta={**meta, "object_boxes": boxes_t})
        return pool, test
