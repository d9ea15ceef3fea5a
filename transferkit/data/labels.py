"""Label values (ints, strings) -> integer codes and class names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transferkit.errors import DataError


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _label_text(value: Any) -> str:
    """A label as a class name: ``3``, ``3.0`` and ``"3"`` all become ``"3"``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return str(value).strip()


def encode_labels(values: Sequence[Any] | np.ndarray, where: str = "the labels",
                  classes: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Map label values to ``int64`` codes.

    ``classes`` are the sorted unique label strings (numerically sorted when every label
    is a number, so ``"10"`` follows ``"9"``), unless given. Empty or missing labels
    raise :class:`DataError` naming the row.

    >>> encode_labels(["dog", "cat", "dog"])
    (array([1, 0, 1]), ['cat', 'dog'])
    """
    texts: list[str] = []
    for i, value in enumerate(values):
        missing = value is None or (isinstance(value, float) and np.isnan(value))
        text = "" if missing else _label_text(value)
        if not text:
            raise DataError(f"Row {i} of {where} has an empty or missing label. Every example "
                            "needs a label: fill it in or drop the row.")
        texts.append(text)
    if classes is None:
        unique = set(texts)
        if all(_is_number(t) for t in unique):
            classes = sorted(unique, key=lambda t: (float(t), t))
        else:
            classes = sorted(unique)
    lookup = {c: k for k, c in enumerate(classes)}
    unknown = sorted(set(texts) - set(lookup))
    if unknown:
        raise DataError(f"{where} holds labels {unknown[:5]} that are not among the classes "
                        f"{list(classes)}.")
    y = np.fromiter((lookup[t] for t in texts), dtype=np.int64, count=len(texts))
    return y, list(classes)
