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


def frame_kind(frame: Any, label_column: str | None) -> str | None:
    """``"long"``, ``"wide"`` or None (not a series frame; read it as a table)."""
    cols = [str(c) for c in frame.columns]
    lower = {c.lower() for c in cols}
    if set(LONG_COLUMNS) <= lower:
        return "long"
    features = [c for c in cols if c != (label_column or "label")]
    if len(features) >= 3 and len(features) == len(cols) - 1 and all(_STEP.match(c) for c in features):
        steps = [int(_STEP.match(c).group(1)) for c in features]  # type: ignore[union-attr]
        if steps == list(range(steps[0], steps[0] + len(steps))):
            return "wide"
    return None


def _label_of(frame: Any, label_column: str | None, where: str, lookup: dict[str, str]) -> str:
    name = label_column or "label"
    key = lookup.get(name.lower(), name) if label_column is None else name
    if key not in frame.columns:
        raise DataError(f"{where} has no label column '{name}'. Columns: {list(map(str, frame.columns))}. "
                        "Name it with --label-column.")
    return key


def long_frame(frame: Any, label_column: str | None, name: str, where: str) -> TransferDataset:
    """Series from a long frame (``id, time, value[, channel]`` + label; see module doc)."""
    import pandas as pd

    lookup = {str(c).lower(): c for c in frame.columns}
    cid, ctime, cval = (lookup[k] for k in LONG_COLUMNS)
    cchan = lookup.get("channel")
    clabel = _label_of(frame, label_column, where, lookup)
    values = pd.to_numeric(frame[cval], errors="coerce")
    bad = values.isna() & frame[cval].notna() & (frame[cval].astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"Row {row + 2} of {where}: '{cval}' is {frame[cval].iloc[row]!r}, not a "
                        "number. Leave a missing value empty.")
    data = pd.DataFrame({"id": frame[cid].astype(str), "time": frame[ctime], "value": values,
                         "channel": frame[cchan].astype(str) if cchan is not None else "0",
                         "label": frame[clabel]})
    dup = data.duplicated(["id", "time", "channel"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"Row {row + 2} of {where} repeats series {data['id'].iloc[row]!r} at time "
                        f"{data['time'].iloc[row]!r}{' for channel ' + repr(data['channel'].iloc[row]) if cchan else ''}; "
                        "each (id, time, channel) needs one value.")
    channels = sorted(data["channel"].unique(), key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
    series, labels, order = [], [], []
    for sid, part in data.groupby("id", sort=False):  # in order of first appearance
        labs = part["label"].dropna().astype(str).unique()
        if len(labs) != 1:
            raise DataError(f"Series {sid!r} of {where} has {len(labs)} different labels "
                            f"({list(labs)[:3]}); a series has one label (repeat it on each of its rows).")
        table = part.pivot(index="time", columns="channel", values="value").sort_index()
        series.append(table.reindex(columns=channels).to_numpy(dtype=np.float32))  # (T, C)
        labels.append(labs[0])
        order.append(sid)
    ds = series_dataset(series, labels, name, where, meta={"channels": channels, "format": "long"})
    ds.ids = [f"{name}[{s}]" for s in order]
    return ds


def wide_frame(frame: Any, label_column: str | None, name: str, where: str) -> TransferDataset:
    """Univariate series from a wide frame (one row per series; see module doc)."""
    import pandas as pd

    lookup = {str(c).lower(): c for c in frame.columns}
    clabel = _label_of(frame, label_column, where, lookup)
    feats = frame.drop(columns=[clabel]).apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    series = []
    for i, row in enumerate(feats):
        seen = np.flatnonzero(~np.isnan(row))
        if not len(seen):
            raise DataError(f"Row {i + 2} of {where} holds no values; drop it.")
        series.append(row[: seen[-1] + 1, None])  # empty cells at the end: a shorter series
    return series_dataset(series, frame[clabel].tolist(), name, where, meta={"format": "wide"})


def read_series_frame(frame: Any, label_column: str | None, name: str, where: str
                      ) -> TransferDataset | None:
    """The series a CSV/Parquet frame holds, or None when it is not in a series format."""
    kind = frame_kind(frame, label_column)
    if kind == "long":
        return long_frame(frame, label_column, name, where)
    if kind == "wide":
        return wide_frame(frame, label_column, name, where)
    return None


def series_items(ds: TransferDataset) -> list[np.ndarray]:
    """The ``(T_i, C)`` arrays of a sequence dataset (equal lengths or not)."""
    return [np.asarray(ds.x[i]) for i in range(len(ds))]
