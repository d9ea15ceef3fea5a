"""UCR/UEA JapaneseVowels (aeon's bundled copy): Speakers of a Japanese vowel, 12 LPC channels, unequal lengths 7-29, 9 speakers."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._ucr import UcrDataset


@builtin
class JapaneseVowels(UcrDataset):
    """JapaneseVowels from the UCR/UEA archive; its TRAIN file is split into train/val, TEST is the test split."""

    name = "japanese-vowels"
    description = "Speakers of a Japanese vowel, 12 LPC channels, unequal lengths 7-29, 9 speakers; 270 train / 370 test."
    folder = "JapaneseVowels"
    size = 640
    classes = ['1', '2', '3', '4', '5', '6', '7', '8', '9']
    source = "UCR/UEA archive (JapaneseVowels), as bundled in the aeon 1.6 wheel"
