"""M1 competition, yearly: 181 short series (Monash forecasting archive .tsf), from aeon's files."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._series import SeriesDataset


@builtin
class M1Yearly(SeriesDataset):
    """The 181 yearly series of the M1 competition (Makridakis et al. 1982), 15 to 58 values."""

    name = "m1-yearly"
    description = ("M1 yearly, 181 series of 15-58 values (Monash archive); defaults H=6 (the file's), "
                   "L=12 (shorter contexts are padded with their first value), m=1, 1 test origin: the "
                   "last 6 values of each series.")
    size = 181
    source = "aeon 1.6 datasets/data/m1_yearly_dataset (Monash forecasting archive)"
    licence = "CC BY 4.0 (Monash forecasting archive)"
    folder, file, frequency = "m1_yearly_dataset", "m1_yearly_dataset.tsf", "yearly"
    horizon, context, season, origins = 6, 12, 1, 1
