"""Series to forecast: Monash ``.tsf`` files, long and wide CSV/Parquet tables, and the
forecasting files aeon ships -> a :class:`SeriesSet`.

- ``.tsf`` (Monash forecasting archive): ``@attribute NAME TYPE`` lines, ``@frequency``,
  ``@horizon``, ``@missing``, ``@equallength``, then ``@data`` rows
  ``attr1:attr2:...:v1,v2,...`` with ``?`` for a missing value. The first string
  attribute names the series, a ``date`` attribute is its start.
- long table: one row per observation, columns ``id, time, value`` (accepted names:
  :data:`ID_NAMES`, :data:`TIME_NAMES`, :data:`VALUE_NAMES`); other numeric columns are
  covariate channels. Rows are sorted by time within each series.
- wide table: one row per series, the first column its name (when it is not numeric),
  the other cells its values in order; an empty cell at the end of a row is a shorter
  series, one inside it a missing value.

A cell that is not a number is an error naming the file, row and column; a missing
value is NaN, filled per window or refused by the forecasting windows (``--impute``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import DataError

ID_NAMES = ("id", "series", "series_id", "unique_id", "item_id", "series_name")
TIME_NAMES = ("time", "timestamp", "date", "ds", "datetime")
VALUE_NAMES = ("value", "y", "target")
#: the seasonal period of a Monash frequency (1: no season is used)
SEASON_OF_FREQUENCY = {"yearly": 1, "quarterly": 4, "monthly": 12, "weekly": 1, "daily": 7,
                       "hourly": 24, "half_hourly": 48, "10_minutes": 144, "minutely": 60,
                       "4_seconds": 1}
AEON_HINT = "pip install --no-deps aeon==1.6.0"
SERIES_SUFFIXES = (".tsf", ".csv", ".tsv", ".parquet")


@dataclass
class SeriesSet:
    """Series of one dataset: ``values[i]`` is ``(T_i, C)`` float64 (channel 0 is the target
    forecast, the others covariates), NaN where a value is missing. ``horizon``, ``context``,
    ``season``, ``origins`` and ``stride`` are the file's or built-in's defaults (None: not stated)."""

    name: str
    ids: list[str]
    values: list[np.ndarray]
    channels: list[str] = field(default_factory=lambda: ["value"])
    frequency: str | None = None
    horizon: int | None = None
    context: int | None = None
    season: int | None = None
    origins: int | None = None
    stride: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        self.values = [np.asarray(v, dtype=np.float64).reshape(len(v), -1) for v in self.values]
        if len(self.ids) != len(self.values):
            raise DataError(f"'{self.name}' names {len(self.ids)} series but holds {len(self.values)}.")
        if not self.values:
            raise DataError(f"'{self.name}' holds no series.")

    def __len__(self) -> int:
        return len(self.values)


def aeon_data_dir() -> Path:
    """aeon's bundled data folder, found without importing aeon (which needs numba)."""
    spec = importlib.util.find_spec("aeon")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        folder = Path(loc) / "datasets" / "data"
        if folder.is_dir():
            return folder
    raise DataError(f"aeon's bundled series are not installed on this machine. Install them: {AEON_HINT}.")


def aeon_file(folder: str, file: str) -> Path:
    """The path of one of aeon's bundled files; a clear error when it is missing."""
    path = aeon_data_dir() / folder / file
    if not path.is_file():
        raise DataError(f"aeon's file {folder}/{file} is missing from {path.parent}. Install it: "
                        f"{AEON_HINT}.")
    return path


def _number(text: str, where: str) -> float:
    text = text.strip()
    if text in ("?", "", "NaN", "nan", "NA"):
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where} holds {text!r}, which is not a number. Fix the value, or write "
                        "'?' for a missing one.") from None
    if not np.isfinite(value):
        raise DataError(f"{where} holds {text!r}, which is not a finite number.")
    return value


def read_tsf(path: str | Path) -> SeriesSet:
    """A Monash ``.tsf`` file (see the module doc) as a :class:`SeriesSet`.

    >>> s = read_tsf("m1.tsf")  # doctest: +SKIP
    >>> s.frequency, s.horizon, len(s)  # doctest: +SKIP
    ('yearly', 6, 181)
    """
    path = Path(path)
    attributes: list[tuple[str, str]] = []
    header: dict[str, str] = {}
    ids: list[str] = []
    values: list[np.ndarray] = []
    in_data = False
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"Cannot read '{path}': {exc}") from None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataError(f"Line {number} of '{path}' is neither a comment, a @-header nor data "
                                f"(before @data): {line[:60]!r}.")
            key, _, rest = line[1:].partition(" ")
            key = key.lower()
            if key == "attribute":
                name, _, kind = rest.strip().partition(" ")
                attributes.append((name, kind.strip().lower()))
            elif key == "data":
                in_data = True
            else:
                header[key] = rest.strip()
            continue
        parts = line.split(":", len(attributes))
        if len(parts) != len(attributes) + 1:
            raise DataError(f"Line {number} of '{path}' has {len(parts)} ':'-separated fields; the "
                            f"header declares {len(attributes)} attribute(s) and then the values.")
        names = [p for p, (_, kind) in zip(parts, attributes, strict=False) if kind == "string"]
        ids.append(names[0] if names else f"series{len(ids)}")
        where = f"Line {number} of '{path}' (series {ids[-1]!r})"
        row = [_number(v, f"{where}, value {j}") for j, v in enumerate(parts[-1].split(","))]
        values.append(np.asarray(row, dtype=np.float64))
    if not in_data:
        raise DataError(f"'{path}' has no @data line: a .tsf file lists its series after @data.")
    horizon = header.get("horizon")
    frequency = header.get("frequency")
    return SeriesSet(name=path.stem, ids=ids, values=values, frequency=frequency,
                     horizon=int(horizon) if horizon and horizon.isdigit() else None,
                     season=SEASON_OF_FREQUENCY.get((frequency or "").lower()), source=str(path))


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _numeric(frame: Any, column: str, where: str) -> np.ndarray:
    """A column as float64; a non-empty cell that is not a number names its row."""
    import pandas as pd

    cells = frame[column]
    numbers = pd.to_numeric(cells, errors="coerce")
    bad = numbers.isna().to_numpy() & cells.notna().to_numpy() & (cells.astype(str).str.strip() != "").to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"Row {row} of {where}, column '{column}', holds {cells.iloc[row]!r}, which is not "
                        f"a number ({int(bad.sum())} such row(s)). Fix the value, or leave the cell empty "
                        "for a missing one.")
    values = numbers.to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        row = int(np.flatnonzero(np.isinf(values))[0])
        raise DataError(f"Row {row} of {where}, column '{column}', is infinite. Fix the value.")
    return values


def read_series_table(path: str | Path, frame: Any = None) -> SeriesSet:
    """A long (``id, time, value``) or wide (one row per series) CSV/TSV/Parquet file."""
    from transferkit.data.grouping import parse_times
    from transferkit.data.tables import read_frame

    path = Path(path)
    frame = read_frame(path) if frame is None else frame
    where = f"'{path}'"
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    id_col, time_col = _pick(columns, ID_NAMES), _pick(columns, TIME_NAMES)
    value_col = _pick(columns, VALUE_NAMES)
    if time_col is not None and value_col is not None:  # long format
        rest = [c for c in columns if c not in (id_col, time_col, value_col)]
        channels = [value_col, *rest]
        times = parse_times(frame[time_col], time_col, where)
        data = np.column_stack([_numeric(frame, c, where) for c in channels])  # (rows, C)
        keys = frame[id_col].astype(str).to_numpy() if id_col is not None else np.full(len(frame), path.stem)
        ids, values = [], []
        for key in dict.fromkeys(keys):
            rows = np.flatnonzero(keys == key)
            order = rows[np.argsort(times[rows], kind="stable")]
            if len(np.unique(times[order])) != len(order):
                raise DataError(f"Series {key!r} of {where} has two rows with the same time in column "
                                f"'{time_col}'. Keep one row per series and time.")
            ids.append(str(key))
            values.append(data[order])
        return SeriesSet(name=path.stem, ids=ids, values=values, channels=channels, source=str(path))
    if time_col is not None or value_col is not None:
        raise DataError(f"{where} looks like a long table but lacks a "
                        f"{'value' if value_col is None else 'time'} column: a long table needs "
                        f"columns id (optional), time ({', '.join(TIME_NAMES)}) and value "
                        f"({', '.join(VALUE_NAMES)}); a wide table has one row per series.")
    return _wide(frame, path)


def _wide(frame: Any, path: Path) -> SeriesSet:
    import pandas as pd

    where = f"'{path}'"
    columns = list(frame.columns)
    first = frame[columns[0]]
    named = pd.to_numeric(first, errors="coerce").isna().any() or _pick(columns[:1], ID_NAMES) is not None
    ids = first.astype(str).tolist() if named else [f"series{i}" for i in range(len(frame))]
    cells = columns[1:] if named else columns
    if not cells:
        raise DataError(f"{where} has no value columns: a wide table has one row per series, its "
                        "name in the first column and its values in the others.")
    data = np.column_stack([_numeric(frame, c, where) for c in cells])  # (series, T)
    values = []
    for i, row in enumerate(data):
        seen = np.flatnonzero(np.isfinite(row))
        if not len(seen):
            raise DataError(f"Row {i} of {where} (series {ids[i]!r}) holds no values.")
        values.append(row[: seen[-1] + 1])  # empty cells at the end: a shorter series
    return SeriesSet(name=path.stem, ids=ids, values=values, source=str(path))


def read_series_file(path: str | Path) -> SeriesSet:
    """A ``.tsf`` file or a long/wide table, chosen by the suffix."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"Data path '{path}' does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".tsf":
        return read_tsf(path)
    if suffix in SERIES_SUFFIXES:
        return read_series_table(path)
    raise DataError(f"Cannot read series from '{path}': forecasting reads {', '.join(SERIES_SUFFIXES)} "
                    "files (a Monash .tsf file, or a long id,time,value / wide one-row-per-series table).")


__all__ = ["AEON_HINT", "SEASON_OF_FREQUENCY", "SeriesSet", "aeon_data_dir", "aeon_file", "read_series_file",
           "read_series_table", "read_tsf"]
