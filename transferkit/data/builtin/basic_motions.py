"""UCR/UEA BasicMotions (aeon's bundled copy): Smartwatch accelerometer + gyroscope (6 channels), length 100: standing, running, walking, badminton."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class BasicMotions(UcrDataset):
    """BasicMotions from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "basic-motions"
    description = "Smartwatch accelerometer + gyroscope (6 channels), length 100: standing, running, walking, badminton; 40 train / 40 test."
    folder = "BasicMotions"
    size = 80
    classes = ['Standing', 'Running', 'Walking', 'Badminton']
    source = "UCR/UEA archive (BasicMotions), as bundled in the aeon 1.6 wheel"
