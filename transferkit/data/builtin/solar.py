"""Solar generation in Great Britain: 289 half-hourly values (6 days), from aeon's files."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._series import SeriesDataset


@builtin
class Solar(SeriesDataset):
    """Half-hourly GB solar generation (Sheffield Solar PV_Live), a daily season of 48."""

    name = "solar"
    description = ("Solar generation, 1 half-hourly series of 289 values (6 days, May 2021); defaults "
                   "H=24 (12 hours), L=96 (2 days), m=48, 2 test origins 12 hours apart.")
    size = 289
    source = "aeon 1.6 datasets/data/solar (Sheffield Solar PV_Live)"
    folder, file, columns, frequency = "solar", "solar.csv", ("solar_gen",), "half_hourly"
    horizon, context, season, origins = 24, 96, 48, 2
