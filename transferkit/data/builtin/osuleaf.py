"""UCR/UEA OSULeaf (aeon's bundled copy): Leaf outlines as 1-D series, length 427, 6 species."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class OSULeaf(UcrDataset):
    """OSULeaf from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "osuleaf"
    description = "Leaf outlines as 1-D series, length 427, 6 species; 200 train / 242 test."
    folder = "OSULeaf"
    size = 442
    classes = ['1', '2', '3', '4', '5', '6']
    source = "UCR/UEA archive (OSULeaf), as bundled in the aeon 1.6 wheel"
