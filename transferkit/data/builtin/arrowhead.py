"""UCR/UEA ArrowHead (aeon's bundled copy): Arrowhead outlines as 1-D series, length 251, 3 classes."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class ArrowHead(UcrDataset):
    """ArrowHead from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "arrowhead"
    description = "Arrowhead outlines as 1-D series, length 251, 3 classes; 36 train / 175 test."
    folder = "ArrowHead"
    size = 211
    classes = ['0', '1', '2']
    source = "UCR/UEA archive (ArrowHead), as bundled in the aeon 1.6 wheel"
