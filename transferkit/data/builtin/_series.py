"""The base of the built-in forecasting datasets: series read from files aeon ships (found
without importing aeon), with their default horizon H, context L, season m and origins."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset
from transferkit.data.dataset import TransferDataset
from transferkit.data.series_files import AEON_HINT, SeriesSet, aeon_data_dir, aeon_file, read_tsf
from transferkit.errors import ConfigError, DataError

AEON_LICENCE = "BSD-3-Clause (aeon)"


class SeriesDataset(BuiltinDataset):
    """A built-in set of series to forecast. Subclasses name aeon's ``folder``/``file``,
    the ``columns`` to read (the first is the target; a CSV's others are covariate
    channels) and the defaults of a fit on them."""

    modality = "sequence"
    task = "forecasting"
    classes: ClassVar[list[str]] = []
    install_hint = AEON_HINT
    pip_args = ("--no-deps", "aeon==1.6.0")
    licence = AEON_LICENCE
    folder: ClassVar[str]
    file: ClassVar[str]
    columns: ClassVar[tuple[str, ...]] = ()
    frequency: ClassVar[str | None] = None
    horizon: ClassVar[int]
    context: ClassVar[int]
    season: ClassVar[int]
    origins: ClassVar[int] = 3
    stride: ClassVar[int | None] = None

    @classmethod
    def available(cls) -> bool:
        try:
            return (aeon_data_dir() / cls.folder / cls.file).is_file()
        except DataError:
            return False

    def series(self) -> SeriesSet:
        """The dataset's series with its defaults (H, L, m, origins)."""
        path = aeon_file(self.folder, self.file)
        if path.suffix == ".tsf":
            found = read_tsf(path)
            ids, values, channels = found.ids, found.values, found.channels
        else:
            ids, values, channels = [self.name], [self._csv(path)], list(self.columns)
        out = SeriesSet(name=self.name, ids=ids, values=values, channels=channels,
                        frequency=self.frequency, horizon=self.horizon, context=self.context,
                        season=self.season, source=str(path))
        out.origins, out.stride = self.origins, self.stride
        return out

    def _csv(self, path: Any) -> np.ndarray:
        import pandas as pd

        frame = pd.read_csv(path)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(f"aeon's file '{path}' lacks the column(s) {missing}; reinstall it: {AEON_HINT}.")
        return frame[list(self.columns)].to_numpy(dtype=np.float64)  # (T, C)

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        raise ConfigError(f"'{self.name}' is a set of series to forecast: fit it with --task forecasting "
                          f"(e.g. transferkit fit --data {self.name} --task forecasting --backbone "
                          "sequence:cnn).")

    @classmethod
    def info(cls) -> dict[str, Any]:
        return {**super().info(), "defaults": {"horizon": cls.horizon, "context": cls.context,
                                               "season": cls.season, "origins": cls.origins,
                                               "stride": cls.stride or cls.horizon}}
