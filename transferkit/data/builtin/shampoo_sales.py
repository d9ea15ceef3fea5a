"""Shampoo sales: 36 monthly values over three years, from aeon's files."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._series import SeriesDataset


@builtin
class ShampooSales(SeriesDataset):
    """Monthly shampoo sales (Makridakis, Wheelwright & Hyndman 1998): short, trending."""

    name = "shampoo-sales"
    description = ("Shampoo sales, 1 monthly series of 36 values; defaults H=6, L=12, m=12, 1 test "
                   "origin (the last 6 months; validation the 6 before).")
    size = 36
    source = "aeon 1.6 datasets/data/ShampooSales (Makridakis et al. 1998)"
    folder, file, columns, frequency = "ShampooSales", "ShampooSales.csv", ("Sales",), "monthly"
    horizon, context, season, origins = 6, 12, 12, 1
