"""Printed digits rendered from the fonts matplotlib ships: a synthetic source for digits.

Each image is one digit in a random font (DejaVu Sans/Serif/Mono and STIX, in regular,
bold and italic weights), height, rotation, offset and stroke width, white on black like
scikit-learn's ``digits``; rendered at 4x and downsampled for anti-aliasing. The images
depend only on the seed (and the font files), so a run is reproducible.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset, builtin, dataset
from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError

FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
)
DEFAULT_PER_CLASS = 200
DEFAULT_SIZE = 28
_SCALE = 4


def font_dir() -> Path | None:
    """matplotlib's bundled TrueType folder, found without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    return folder if folder.is_dir() else None


def font_files() -> list[Path]:
    folder = font_dir()
    return [folder / f for f in FONT_FILES if (folder / f).is_file()] if folder else []


@lru_cache(maxsize=256)
def _font(path: str, px: int):  # noqa: ANN202 - PIL's FreeTypeFont
    from PIL import ImageFont

    return ImageFont.truetype(path, px)


def render_printed_digits(n_per_class: int = DEFAULT_PER_CLASS, size: int = DEFAULT_SIZE,
                          seed: int = 0, angles: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n_per_class`` images of each digit 0-9.

    Returns ``x`` uint8 ``(10 * n_per_class, size, size)`` and ``y`` int64 (the digit),
    interleaved 0, 1, ..., 9, 0, 1, .... Deterministic for a given ``seed``. ``angles``, when
    given, receives each image's rotation in degrees (counter-clockwise, -15 to 15).
    """
    from PIL import Image, ImageDraw

    if n_per_class < 1 or size < 8:
        raise DataError(f"render_printed_digits needs n_per_class >= 1 and size >= 8. "
                        f"Got n_per_class={n_per_class}, size={size}.")
    fonts = font_files()
    if not fonts:
        raise DataError("printed-digits renders with the fonts matplotlib ships, and matplotlib is not "
                        f"installed. Install it: {PrintedDigits.install_hint}.")
    rng = np.random.default_rng(seed)
    big = size * _SCALE
    x = np.zeros((10 * n_per_class, size, size), dtype=np.uint8)
    y = np.tile(np.arange(10, dtype=np.int64), n_per_class)
    for i, digit in enumerate(y):
        font_path = str(fonts[rng.integers(len(fonts))])
        px = int(big * rng.uniform(0.5, 0.9))
        stroke = int(rng.integers(0, 1 + big // 28))  # 0..~1 px at the final size
        angle = float(rng.uniform(-15.0, 15.0))
        if angles is not None:
            angles.append(angle)
        height = rng.uniform(0.55, 0.85)  # digit height as a fraction of the image
        dx, dy = rng.uniform(-0.1, 0.1, size=2)  # offset as a fraction of the image
        canvas = Image.new("L", (2 * big, 2 * big), 0)
        ImageDraw.Draw(canvas).text((big, big), str(digit), fill=255, font=_font(font_path, px),
                                    anchor="mm", stroke_width=stroke, stroke_fill=255)
        box = canvas.getbbox()
        if box is None:  # a font without this glyph: leave the image black rather than fail
            continue
        # rotate only the glyph's crop: rotating the whole canvas costs 10x more
        glyph = canvas.crop(box).rotate(angle, resample=Image.BILINEAR, expand=True)
        glyph = glyph.crop(glyph.getbbox() or (0, 0, glyph.width, glyph.height))
        h = max(1, round(height * size))
        w = max(1, min(size, round(glyph.width * h / glyph.height)))
        glyph = glyph.resize((w, h), Image.LANCZOS)
        left = int(np.clip(round((size - w) / 2 + dx * size), 0, size - w))
        top = int(np.clip(round((size - h) / 2 + dy * size), 0, size - h))
        x[i, top:top + h, left:left + w] = np.asarray(glyph)
    return x, y


@builtin
class PrintedDigits(BuiltinDataset):
    """Digits 0-9 printed in matplotlib's fonts (synthetic source domain for ``digits``)."""

    name = "printed-digits"
    description = ("Printed digits rendered from matplotlib's fonts (random font, size, rotation, "
                   "offset, stroke), 28x28 grey; synthetic source for 'digits'.")
    modality = "image"
    size = 10 * DEFAULT_PER_CLASS
    classes = [str(d) for d in range(10)]
    source = "rendered on the fly from matplotlib's DejaVu/STIX fonts"
    install_hint = "pip install matplotlib (or pip install 'transferkit[data]')"

    @classmethod
    def available(cls) -> bool:
        return bool(font_files())

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        x, y = render_printed_digits()
        meta = {"n_per_class": DEFAULT_PER_CLASS, "image_size": DEFAULT_SIZE, "render_seed": 0}
        return dataset(type(self), x, y, "printed", meta=meta), None
