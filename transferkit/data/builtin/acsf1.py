"""UCR/UEA ACSF1 (aeon's bundled copy): Home appliance power consumption, length 1,460, 10 appliance types."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class ACSF1(UcrDataset):
    """ACSF1 from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "acsf1"
    description = "Home appliance power consumption, length 1,460, 10 appliance types; 100 train / 100 test."
    folder = "ACSF1"
    size = 200
    classes = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
    source = "UCR/UEA archive (ACSF1), as bundled in the aeon 1.6 wheel"
