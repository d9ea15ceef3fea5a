"""Printed digits' rotation angle: the same rendered images as ``printed-digits``, with the
angle each glyph was rotated by as a regression target (image backbones on numbers)."""

from __future__ import annotations

from transferkit.data.builtin._base import BuiltinDataset, builtin, dataset
from transferkit.data.builtin.printed_digits import (
    DEFAULT_PER_CLASS,
    DEFAULT_SIZE,
    PrintedDigits,
    font_files,
    render_printed_digits,
)
from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels


@builtin
class PrintedDigitsAngle(BuiltinDataset):
    """The rotation angle of printed digits (degrees, -15 to 15), a regression target."""

    name = "printed-digits-angle"
    description = ("Printed digits (as printed-digits) labelled with each glyph's rotation angle in "
                   "degrees (-15 to 15, counter-clockwise), a regression target for image backbones.")
    modality = "image"
    task = "regression"
    size = 10 * DEFAULT_PER_CLASS
    classes: list[str] = []
    source = PrintedDigits.source
    install_hint = PrintedDigits.install_hint

    @classmethod
    def available(cls) -> bool:
        return bool(font_files())

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        angles: list[float] = []
        x, _ = render_printed_digits(angles=angles)
        # labels as values, like any file: the task (inferred: regression) reads them as numbers
        y, classes = encode_labels([round(a, 4) for a in angles], f"dataset '{self.name}'")
        meta = {"n_per_class": DEFAULT_PER_CLASS, "image_size": DEFAULT_SIZE, "render_seed": 0,
                "label_column": "angle"}
        ds = dataset(type(self), x, y, "printed", meta=meta)
        ds.classes = classes
        return ds, None
