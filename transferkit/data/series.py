"""Series files -> a ``sequence`` dataset: ``.ts``, and CSV/Parquet in long or wide format.

- ``.ts`` (UCR/UEA archive format; see :mod:`transferkit.data.ts_format`);
- **long** CSV/Parquet: one row per value, columns ``id``, ``time``, ``value``, optionally
  ``channel``, and a label column (``label`` or ``--label-column``; constant per ``id``).
  Rows are sorted by ``time`` within a series; a channel missing at a time is a missing
  value; series may have different lengths;
- **wide** CSV/Parquet: one row per series, every column but the label named by its time
  step (``t0, t1, ...`` or ``0, 1, ...``); empty cells at the end of a row make that series
  shorter, empty cells inside it are missing values.

A dataset of equal-length series holds ``x`` as one float32 array ``(N, T, C)``; of
unequal lengths, a list of ``(T_i, C)`` arrays (a backbone pads each batch and masks the
padding). Missing values are NaN and follow ``data.impute`` like a table's cells.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels
from transferkit.errors import DataError

LONG_COLUMNS = ("id", "time", "value")
_STEP = re.compile(r"^t?(\d+)$", re.IGNORECASE)


def series_dataset(series: list[np.ndarray], labels: Any, name: str, where: str,
                   classes: list[str] | None = None, meta: dict[str, Any] | None = None
                   ) -> TransferDataset:
    """A ``sequence`` dataset of ``(T_i, C)`` series and their labels (class names)."""
    if not series:
        raise DataError(f"{where} holds no series.")
    items = [np.asarray(s, dtype=np.float32) for s in series]
    items = [a[:, None] if a.ndim == 1 else a for a in items]
    check_series(items, where)
    y, class_names = encode_labels(list(labels), where, classes)
    equal = len({a.shape for a in items}) == 1
    x: Any = np.stack(items) if equal else items
    return TransferDataset(name=name, modality="sequence", x=x, y=y, classes=class_names,
                           ids=[f"{name}[{i}]" for i in range(len(items))],
                           meta={"kind": "series", "where": where, **(meta or {})})


def check_series(items: list[np.ndarray], where: str) -> None:
    """DataError unless every item is a non-empty finite-or-NaN ``(T, C)`` with one C."""
    channels = None
    for i, a in enumerate(items):
        if a.ndim != 2 or a.shape[0] == 0:
            raise DataError(f"Series {i} of {where} has shape {a.shape}; a series is (T, C) with T >= 1.")
        if channels is None:
            channels = a.shape[1]
        if a.shape[1] != channels:
            raise DataError(f"Series {i} of {where} has {a.shape[1]} channel(s); the first has "
                            f"{channels}. Every series needs the same channels.")
        if np.isinf(a).any():
            raise DataError(f"Series {i} of {where} holds infinite values. Replace them or drop it.")
        if np.isnan(a).all():
            raise DataError(f"Series {i} of {where} holds only missing values. Drop it.")


def load_ts(path: str | Path) -> TransferDataset:
    """A labelled ``.ts`` file as a ``sequence`` dataset."""
    from transferkit.data.ts_format import read_ts

    path = Path(path)
    ts = read_ts(path)
    if ts.labels is None:
        raise DataError(f"'{path}' has no class labels ('@classLabel false'); training needs one per "
                        "series. Add them (the last ':' field of each line, declared by '@classLabel "
                        "true <classes>').")
    return series_dataset(ts.series, ts.labels, path.stem, f"'{path}'", ts.classes,
                          meta={"source": str(path), "kind": "ts"})


def frame_kind(frame: Any, label_column: str | None, labelled: bool = True) -> str | None:
    """``"long"``, ``"wide"`` or None (not a series frame; read it as a table).

    ``labelled=False`` (prediction inputs): a wide frame may lack the label column."""
    cols = [str(c) for c in frame.columns]
    if set(LONG_COLUMNS) <= {c.lower() for c in cols}:
        return "long"
    features = [c for c in cols if c != (label_column or "label")]
    if len(features) >= 3 and (len(features) == len(cols) - 1 or not labelled) \
            and all(_STEP.match(c) for c in features):
        steps = [int(_STEP.match(c).group(1)) for c in features]  # type: ignore[union-attr]
        if steps == list(range(steps[0], steps[0] + len(steps))):
            return "wide"
    return None


def _label_of(frame: Any, label_column: str | None, where: str, required: bool) -> Any:
    """The label column's key (None when absent and not ``required``)."""
    name = label_column or "label"
    lookup = {str(c).lower(): c for c in frame.columns}
    key = lookup.get(name.lower(), name) if label_column is None else name
    if key in frame.columns:
        return key
    if not required:
        return None
    raise DataError(f"{where} has no label column '{name}'. Columns: {list(map(str, frame.columns))}. "
                    "Name it with --label-column.")


def _long(frame: Any, label_column: str | None, where: str, labelled: bool
          ) -> tuple[list[str], list[np.ndarray], list[str] | None, list[str]]:
    """(ids, series, labels or None, channel names) of a long frame (see module doc)."""
    import pandas as pd

    lookup = {str(c).lower(): c for c in frame.columns}
    cid, ctime, cval = (lookup[k] for k in LONG_COLUMNS)
    cchan = lookup.get("channel")
    clabel = _label_of(frame, label_column, where, labelled)
    values = pd.to_numeric(frame[cval], errors="coerce")
    bad = values.isna() & frame[cval].notna() & (frame[cval].astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"Row {row + 2} of {where}: '{cval}' is {frame[cval].iloc[row]!r}, not a "
                        "number. Leave a missing value empty.")
    data = pd.DataFrame({"id": frame[cid].astype(str), "time": frame[ctime], "value": values,
                         "channel": frame[cchan].astype(str) if cchan is not None else "0"})
    dup = data.duplicated(["id", "time", "channel"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        chan = f" for channel {data['channel'].iloc[row]!r}" if cchan is not None else ""
        raise DataError(f"Row {row + 2} of {where} repeats series {data['id'].iloc[row]!r} at time "
                        f"{data['time'].iloc[row]!r}{chan}; each (id, time, channel) needs one value.")
    channels = sorted(data["channel"].unique(), key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
    ids, series, labels = [], [], []
    for sid, rows in data.groupby("id", sort=False).groups.items():  # in order of first appearance
        part = data.loc[rows]
        table = part.pivot(index="time", columns="channel", values="value").sort_index()
        series.append(table.reindex(columns=channels).to_numpy(dtype=np.float32))  # (T, C)
        ids.append(str(sid))
        if clabel is not None:
            labs = frame.loc[rows, clabel].dropna().astype(str).unique()
            if len(labs) != 1:
                raise DataError(f"Series {sid!r} of {where} has {len(labs)} different labels "
                                f"({list(labs)[:3]}); a series has one label (repeat it on each of its "
                                "rows).")
            labels.append(labs[0])
    return ids, series, (labels if clabel is not None else None), channels


def _wide(frame: Any, label_column: str | None, where: str, labelled: bool
          ) -> tuple[list[str], list[np.ndarray], list[str] | None]:
    """(ids, univariate series, labels or None) of a wide frame (one row per series)."""
    import pandas as pd

    clabel = _label_of(frame, label_column, where, labelled)
    feats = frame.drop(columns=[clabel] if clabel is not None else [])
    values = feats.apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    series = []
    for i, row in enumerate(values):
        seen = np.flatnonzero(~np.isnan(row))
        if not len(seen):
            raise DataError(f"Row {i + 2} of {where} holds no values; drop it.")
        series.append(row[: seen[-1] + 1, None])  # empty cells at the end: a shorter series
    labels = [str(v) for v in frame[clabel].tolist()] if clabel is not None else None
    return [str(i) for i in range(len(series))], series, labels


def read_series_frame(frame: Any, label_column: str | None, name: str, where: str
                      ) -> TransferDataset | None:
    """The labelled series a CSV/Parquet frame holds, or None when it is not in a series format."""
    kind = frame_kind(frame, label_column)
    if kind is None:
        return None
    if kind == "long":
        ids, series, labels, channels = _long(frame, label_column, where, True)
        meta: dict[str, Any] = {"channels": channels, "format": "long"}
    else:
        ids, series, labels = _wide(frame, label_column, where, True)
        meta = {"format": "wide"}
    ds = series_dataset(series, labels, name, where, meta=meta)
    ds.ids = [f"{name}[{i}]" for i in ids]
    return ds


def read_series_inputs(path: str | Path, label_column: str | None = None
                       ) -> tuple[list[str], list[np.ndarray]]:
    """(ids, series) of a file to predict on: ``.ts``, ``.npz`` (``x`` and optionally
    ``lengths``; ``y`` ignored) or a long/wide CSV/Parquet file (a label column is ignored)."""
    from transferkit.data.tables import TABLE_SUFFIXES, read_frame

    path = Path(path)
    where, suffix = f"'{path}'", path.suffix.lower()
    if not path.is_file():
        raise DataError(f"Input '{path}' does not exist.")
    if suffix == ".ts":
        from transferkit.data.ts_format import read_ts

        series = read_ts(path).series
        ids = [str(i) for i in range(len(series))]
    elif suffix == ".npz":
        ids, series = _npz_inputs(path)
    elif suffix in TABLE_SUFFIXES:
        frame = read_frame(path)
        kind = frame_kind(frame, label_column, labelled=False)
        if kind is None:
            raise DataError(f"{where} is not a series file: a long one has columns id, time, value "
                            "(and channel), a wide one columns t0, t1, ... (one row per series). Got "
                            f"columns {list(map(str, frame.columns))[:8]}.")
        ids, series = (_long(frame, label_column, where, False) if kind == "long"
                       else _wide(frame, label_column, where, False))[:2]
    else:
        raise DataError(f"Cannot read series from {where}: pass .ts, .npz, .csv or .parquet files.")
    items = [np.asarray(a, dtype=np.float32) for a in series]
    check_series(items, where)
    return [f"{path}:{i}" for i in ids], items


def _npz_inputs(path: Path) -> tuple[list[str], list[np.ndarray]]:
    from transferkit.data.arrays import check_lengths
    from transferkit.errors import UnsafeFileError

    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz:
                raise DataError(f"'{path}' has no array 'x' (the series, (N, T, C)). Arrays in the "
                                f"file: {list(npz.keys())}.")
            x, lengths = npz["x"], npz.get("lengths")
    except ValueError as exc:
        if "pickle" in str(exc):
            raise UnsafeFileError(f"'{path}' holds object arrays, which can only be read by unpickling "
                                  "(that can run arbitrary code). Save plain numeric arrays.") from None
        raise DataError(f"Cannot read '{path}' as an .npz file: {exc}") from None
    x = np.asarray(x, dtype=np.float32)
    x = x[None] if x.ndim == 2 else x
    if x.ndim != 3:
        raise DataError(f"'x' of '{path}' has shape {x.shape}; series are (N, T, C).")
    cut = check_lengths(lengths, x, f"'{path}'") if lengths is not None else [x.shape[1]] * len(x)
    return [str(i) for i in range(len(x))], [x[i, :n] for i, n in enumerate(cut)]


def collect_series(inputs: Any) -> tuple[list[str], list[np.ndarray]]:
    """(ids, series) of prediction inputs: series files, one ``(T, C)`` array, an ``(N, T, C)``
    array, or a list of ``(T_i, C)`` arrays (lengths may differ)."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if isinstance(inputs, np.ndarray) and inputs.dtype != object:
        arr = np.asarray(inputs, dtype=np.float32)
        arr = arr[None] if arr.ndim <= 2 else arr
        items = [a[:, None] if a.ndim == 1 else a for a in arr]
        check_series(items, "the input array")
        return [str(i) for i in range(len(items))], items
    ids: list[str] = []
    items: list[np.ndarray] = []
    for k, obj in enumerate(inputs):
        if isinstance(obj, (str, Path)):
            more_ids, more = read_series_inputs(obj)
            ids += more_ids
            items += more
            continue
        try:
            a = np.asarray(obj, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(f"Input {k} is not a series: pass a (T, C) array of numbers or a series "
                            f"file (.ts, .npz, .csv, .parquet). Got {type(obj).__name__}.") from None
        a = a[:, None] if a.ndim == 1 else a
        check_series([a], f"input {k}")
        ids.append(str(len(items)))
        items.append(a)
    if not items:
        raise DataError("No series to predict on. Pass series files or (T, C) arrays.")
    return ids, items
