"""UCR/UEA ItalyPowerDemand (aeon's bundled copy): Italian daily electricity demand (24 hourly values): winter vs summer, 2 classes."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class ItalyPowerDemand(UcrDataset):
    """ItalyPowerDemand from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "italy-power-demand"
    description = "Italian daily electricity demand (24 hourly values): winter vs summer, 2 classes; 67 train / 1,029 test."
    folder = "ItalyPowerDemand"
    size = 1096
    classes = ['1', '2']
    source = "UCR/UEA archive (ItalyPowerDemand), as bundled in the aeon 1.6 wheel"
