"""UCR/UEA GunPoint (aeon's bundled copy): Gun-draw vs point hand motion (x coordinate), 1 channel, length 150, 2 classes."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class GunPoint(UcrDataset):
    """GunPoint from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "gunpoint"
    description = "Gun-draw vs point hand motion (x coordinate), 1 channel, length 150, 2 classes; 50 train / 150 test series."
    folder = "GunPoint"
    size = 200
    classes = ['1', '2']
    source = "UCR/UEA archive (GunPoint), as bundled in the aeon 1.6 wheel"
