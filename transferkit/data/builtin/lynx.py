"""Canadian lynx trappings: 114 yearly counts, 1821-1934, from aeon's files."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._series import SeriesDataset


@builtin
class Lynx(SeriesDataset):
    """Yearly lynx trappings; the population cycle is about 10 years, used as the season m."""

    name = "lynx"
    description = ("Lynx trappings, 1 yearly series of 114 values (1821-1934); defaults H=10, L=30, "
                   "m=10 (the ~10-year population cycle, not a calendar season), 2 test origins 5 "
                   "years apart.")
    size = 114
    source = "aeon 1.6 datasets/data/Lynx (Campbell & Walker 1977)"
    folder, file, columns, frequency = "Lynx", "Lynx.csv", ("0",), "yearly"
    horizon, context, season, origins = 10, 30, 10, 2
    stride = 5
