"""US consumption change: 187 quarterly values with four covariates, from aeon's files."""

from __future__ import annotations

from transferkit.data.builtin._base import builtin
from transferkit.data.builtin._series import SeriesDataset


@builtin
class Uschange(SeriesDataset):
    """Quarterly % changes of US consumption (Hyndman & Athanasopoulos, fpp2); the target is
    Consumption, and Income, Production, Savings and Unemployment are covariate channels of
    the context (their past values only: the forecast does not assume their future)."""

    name = "uschange"
    description = ("US change, 1 quarterly series of 187 values (1970-2016): forecast Consumption, with "
                   "Income, Production, Savings and Unemployment as past-only covariate channels; "
                   "defaults H=8, L=24, m=4, 3 test origins a year apart.")
    size = 187
    source = "aeon 1.6 datasets/data/Uschange (Hyndman & Athanasopoulos, fpp2)"
    folder, file, frequency = "Uschange", "Uschange.csv", "quarterly"
    columns = ("Consumption", "Income", "Production", "Savings", "Unemployment")
    horizon, context, season, origins = 8, 24, 4, 3
