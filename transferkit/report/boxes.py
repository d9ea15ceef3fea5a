"""Boxes drawn on images: ``predict --output-dir`` of a detection run, and the report's
test images with their true and predicted boxes."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import numpy as np

#: box colours by class position (tab10)
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
#: predicted boxes below this score are not drawn in the report
REPORT_SCORE = 0.3


def _rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    return np.ascontiguousarray(np.repeat(a[..., :1], 3, axis=2) if a.shape[2] < 3 else a[..., :3]).astype(np.uint8)


def draw(image: np.ndarray, boxes: list[dict[str, Any]], scale: int = 1) -> Any:
    """A PIL image of ``image`` (enlarged ``scale`` times) with ``boxes`` (``class``, optional
    ``score``, ``x1``-``y2`` in the image's pixels, optional ``colour``) outlined and labelled."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(_rgb(image))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    pen = ImageDraw.Draw(img)
    for b in boxes:
        colour = tuple(b.get("colour") or COLOURS[hash(str(b["class"])) % len(COLOURS)])
        xy = [b["x1"] * scale, b["y1"] * scale, b["x2"] * scale, b["y2"] * scale]
        pen.rectangle(xy, outline=colour, width=2)
        label = str(b["class"]) + (f" {b['score']:.2f}" if "score" in b else "")
        pen.text((xy[0] + 2, xy[1] + 1), label, fill=colour)
    return img


def draw_boxes(image: np.ndarray, boxes: list[dict[str, Any]]) -> bytes:
    """PNG bytes of ``image`` with ``boxes`` drawn (see :func:`draw`)."""
    buf = io.BytesIO()
    draw(image, boxes).save(buf, format="PNG")
    return buf.getvalue()


def _as_dicts(rows: np.ndarray, classes: list[str], h: int, w: int, scored: bool) -> list[dict[str, Any]]:
    out = []
    for r in np.asarray(rows, dtype=np.float64):
        if r[0] < 0 or (scored and r[1] < REPORT_SCORE):
            continue
        c = int(r[0])
        x1, y1, x2, y2 = r[2:6] if scored else r[1:5]
        out.append({"class": classes[c] if c < len(classes) else str(c), "x1": x1 * w, "y1": y1 * h,
                    "x2": x2 * w, "y2": y2 * h, "colour": COLOURS[c % len(COLOURS)],
                    **({"score": float(r[1])} if scored else {})})
    return out


def boxes_section(arrays: dict[str, np.ndarray], classes: list[str],
                  figure: Callable[[str | None, str, str], str]) -> str:
    """The report's section: each kept test image twice, true boxes (top) and predicted boxes
    with a score >= :data:`REPORT_SCORE` (bottom), as one PNG."""
    from PIL import Image

    images = arrays.get("images")
    true, pred = arrays["boxes_true"], arrays["boxes_pred"]
    if images is None or not len(images):
        return ""
    n = min(len(images), len(true), len(pred))
    h, w = images.shape[1:3]
    scale = max(1, 256 // max(h, w))
    tiles = [[draw(images[i], _as_dicts(true[i], classes, h, w, False), scale) for i in range(n)],
             [draw(images[i], _as_dicts(pred[i], classes, h, w, True), scale) for i in range(n)]]
    sheet = Image.new("RGB", (n * (w * scale + 4), 2 * (h * scale + 4)), (255, 255, 255))
    for row, line in enumerate(tiles):
        for col, tile in enumerate(line):
            sheet.paste(tile, (col * (w * scale + 4), row * (h * scale + 4)))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return "<h2>Test predictions</h2>" + figure(
        uri, "true and predicted boxes", f"The first {n} test images: true boxes (top row) and predicted "
        f"boxes with a score of at least {REPORT_SCORE} (bottom row), coloured by class.")


__all__ = ["boxes_section", "draw", "draw_boxes"]
