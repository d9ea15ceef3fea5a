"""Airline passengers (Box & Jenkins): 144 monthly totals, 1949-1960, from aeon's files."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._series import SeriesDataset


@builtin
class Airline(SeriesDataset):
    """International airline passengers, monthly, with trend and a yearly season."""

    name = "airline"
    description = ("Airline passengers, 1 monthly series of 144 values (1949-1960) to forecast; defaults "
                   "H=12, L=24, m=12, 3 test origins 6 months apart.")
    size = 144
    source = "aeon 1.6 datasets/data/Airline (Box & Jenkins 1976)"
    folder, file, columns, frequency = "Airline", "Airline.csv", ("Passengers",), "monthly"
    horizon, context, season, origins = 12, 24, 12, 3
    stride = 6
