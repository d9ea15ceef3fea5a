"""UCR/UEA PickupGestureWiimoteZ (aeon's bundled copy): Wii remote z-acceleration of 10 gestures, unequal lengths 29-361."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class PickupGestureWiimoteZ(UcrDataset):
    """PickupGestureWiimoteZ from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "pickup-gesture-wiimote-z"
    description = "Wii remote z-acceleration of 10 gestures, unequal lengths 29-361; 50 train / 50 test."
    folder = "PickupGestureWiimoteZ"
    size = 100
    classes = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']
    source = "UCR/UEA archive (PickupGestureWiimoteZ), as bundled in the aeon 1.6 wheel"
