"""A reader for the UCR/UEA archive's ``.ts`` files (sktime/aeon's text format for series).

A ``.ts`` file is a header of ``@key value`` lines, then ``@data`` and one series per
line: the channels separated by ``:``, the values of a channel by ``,``, and -- when
``@classLabel true ...`` -- the class label as the last ``:`` field::

    @problemName Tiny
    @univariate false
    @dimensions 2
    @equalLength false
    @classLabel true a b
    @data
    1.0,2.0,3.0:0.5,?,0.1:a
    4.0,5.0:0.2,0.3:b

``?`` (or ``NaN``) is a missing value; series may have different lengths (every channel
of one series has the same length). Lines starting with ``#`` are comments. Files with
``@timeStamps true`` (values written as ``(time,value)`` pairs) are refused with a
message: re-export them without time stamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferkit.errors import DataError

MISSING = ("?", "nan", "NaN", "")


@dataclass
class TsFile:
    """The series of a ``.ts`` file: ``series[i]`` is float32 ``(T_i, C)``; ``labels[i]`` its
    class (None without class labels); ``classes`` the header's declared class list."""

    series: list[np.ndarray]
    labels: list[str] | None
    classes: list[str] | None
    header: dict[str, str] = field(default_factory=dict)


def _values(text: str, path: Path, line_no: int, channel: int) -> np.ndarray:
    out = np.empty(text.count(",") + 1, dtype=np.float32)
    for j, token in enumerate(text.split(",")):
        token = token.strip()
        if token in MISSING:
            out[j] = np.nan
            continue
        try:
            out[j] = float(token)
        except ValueError:
            raise DataError(f"'{path}' line {line_no}: value {j} of channel {channel} is {token!r}, "
                            "not a number. A .ts data line holds comma-separated numbers per channel "
                            "('?' for a missing value), channels separated by ':' and the class label "
                            "last. Fix or remove that line.") from None
    if np.isinf(out).any():
        raise DataError(f"'{path}' line {line_no}: channel {channel} holds an infinite value. Replace "
                        "it (or mark it missing with '?').")
    return out


def _header(path: Path, lines: list[str]) -> tuple[dict[str, str], int]:
    header: dict[str, str] = {}
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise DataError(f"'{path}' line {i + 1}: expected a header line ('@key value') or "
                            f"'@data' before the series, got {line[:60]!r}.")
        key, _, value = line[1:].partition(" ")
        if key.lower() == "data":
            return header, i + 1
        header[key.lower()] = value.strip()
    raise DataError(f"'{path}' has no '@data' line, so it holds no series. A .ts file is a header "
                    "of '@key value' lines, then '@data', then one series per line.")


def read_ts(path: str | Path) -> TsFile:
    """Read a ``.ts`` file (see the module docstring); DataError names the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"'{path}' is not UTF-8 text (byte {exc.start}); a .ts file is plain text.") from None
    except OSError as exc:
        raise DataError(f"Cannot read '{path}': {exc}") from None
    lines = text.splitlines()
    header, start = _header(path, lines)
    if header.get("timestamps", "false").lower() == "true":
        raise DataError(f"'{path}' declares '@timeStamps true' ((time, value) pairs), which this "
                        "reader does not take. Re-export the series without time stamps.")
    label_decl = header.get("classlabel", "false").split()
    has_labels = bool(label_decl) and label_decl[0].lower() == "true"
    classes = label_decl[1:] if has_labels and len(label_decl) > 1 else None
    dims = header.get("dimensions")
    series: list[np.ndarray] = []
    labels: list[str] = []
    n_channels: int | None = int(dims) if dims and dims.isdigit() else None
    for i in range(start, len(lines)):
        line = lines[i].strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if has_labels:
            if len(fields) < 2:
                raise DataError(f"'{path}' line {i + 1}: expected channels and a class label separated "
                                f"by ':', got {line[:60]!r}. The header declares class labels "
                                "('@classLabel true').")
            labels.append(fields.pop().strip())
        chans = [_values(f, path, i + 1, c) for c, f in enumerate(fields)]
        if n_channels is None:
            n_channels = len(chans)
        if len(chans) != n_channels:
            raise DataError(f"'{path}' line {i + 1} has {len(chans)} channel(s); the file's series have "
                            f"{n_channels}. Every series needs the same channels (':'-separated).")
        lengths = {len(c) for c in chans}
        if len(lengths) > 1:
            raise DataError(f"'{path}' line {i + 1}: its channels have different lengths "
                            f"{[len(c) for c in chans]}; the channels of one series must have the "
                            "same length (pad a short channel with '?').")
        series.append(np.stack(chans, axis=1))  # (T, C)
    if not series:
        raise DataError(f"'{path}' holds no series after '@data'.")
    if classes is not None:
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            raise DataError(f"'{path}' has labels {unknown[:5]} that its header's '@classLabel true "
                            f"{' '.join(classes)}' does not declare. Add them to the header or fix the "
                            "lines.")
    return TsFile(series, labels if has_labels else None, classes, header)
