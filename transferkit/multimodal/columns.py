"""Columns of a multimodal table: which kind each is, and its features with a presence mask.

``--columns image=photo,text=caption,number=weight,category=colour`` names them; without it
each column is detected: numbers -> number; strings ending in an image file extension ->
image; at most ``MAX_CATEGORIES`` distinct strings -> category; other strings -> text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from transferkit.errors import ConfigError, DataError

KINDS = ("image", "text", "number", "category")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: string columns with at most this many distinct values are categories
MAX_CATEGORIES = 20


@dataclass
class ColumnFeatures:
    """One column's features ``x`` (N, D) (zeros where missing) and ``present`` (N,) bools."""

    column: str
    kind: str
    x: np.ndarray
    present: np.ndarray
    encoder: str
    #: what encodes new rows the same way: a number column's mean and std, a category
    #: column's categories (from the training rows)
    stats: dict[str, Any] | None = None


def parse_columns(spec: str | None, frame: pd.DataFrame, label: str) -> dict[str, str]:
    """``{column: kind}`` from ``kind=column,...`` (or detected, see the module docstring)."""
    if spec:
        out: dict[str, str] = {}
        for part in str(spec).split(","):
            kind, _, column = part.strip().partition("=")
            if kind not in KINDS or not column:
                raise ConfigError(f"The 'columns' parameter takes kind=column pairs with kind one of "
                                  f"{', '.join(KINDS)} (e.g. image=photo,text=title). Got {part!r}.")
            if column not in frame.columns:
                raise ConfigError(f"The 'columns' parameter names the column {column!r}, which the table "
                                  f"does not have. Columns: {', '.join(map(str, frame.columns))}.")
            out[column] = kind
        return out
    return {str(c): detect_kind(frame[c]) for c in frame.columns if c != label}


def detect_kind(values: pd.Series) -> str:
    """The kind of one column, from its non-missing values."""
    seen = values.dropna()
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    text = seen.astype(str)
    if len(text) and text.str.lower().str.endswith(IMAGE_SUFFIXES).all():
        return "image"
    return "category" if text.nunique() <= MAX_CATEGORIES else "text"


def encode_columns(frame: pd.DataFrame, kinds: dict[str, str], train_rows: np.ndarray, root: Path,
                   cache_dir: str | None = None, image_backbone: str = "efficientnet_lite0",
                   text_backbone: str = "minilm", stats: dict[str, dict[str, Any]] | None = None,
                   backbones: dict[Any, Any] | None = None, use_cache: bool = True) -> list[ColumnFeatures]:
    """Every column's features; statistics (means, categories, an image column's input
    resolution) come from ``train_rows`` only, or from ``stats`` (``{column:
    ColumnFeatures.stats}``, a saved run's) when given. An image cell is a path (relative to
    ``root``) or a decoded image array; images and texts are extracted once per column (the
    feature cache keys them by content; ``use_cache=False`` leaves it alone). ``backbones``,
    a dict kept between calls, holds the created backbones (a server creates each once)."""
    out = []
    for column, kind in kinds.items():
        if column not in frame.columns:  # a table to predict may lack a column: all missing
            frame = frame.assign(**{column: None})
        values = frame[column]
        known = (stats or {}).get(column)
        present = _present(values)
        if kind in ("image", "text"):
            name = image_backbone if kind == "image" else text_backbone
            x, known = _backbone_features(values, present, kind, name, root, cache_dir, known,
                                          backbones if backbones is not None else {}, use_cache)
        elif kind == "number":
            known = known or _number_stats(values, present, train_rows, column)
            x, name = _numbers(values, present, known, column), "standardised"
        else:
            known = known or {"categories": sorted(set(values.astype(str).to_numpy()[train_rows][
                present[train_rows]]))}
            x, name = _categories(values, present, known["categories"]), "one-hot"
        out.append(ColumnFeatures(column, kind, x, present, name, known))
    return out


def _present(values: pd.Series) -> np.ndarray:
    """Which cells hold a value: not None/NaN and not a blank string (an image array counts)."""
    def has(v: Any) -> bool:
        if isinstance(v, np.ndarray):
            return v.size > 0
        if isinstance(v, str):
            return bool(v.strip())
        try:
            return not bool(pd.isna(v))
        except (TypeError, ValueError):  # a list or dict: a value (its column's reader judges it)
            return True

    return np.fromiter((has(v) for v in values.to_numpy()), dtype=bool, count=len(values))


def _backbone_features(values: pd.Series, present: np.ndarray, kind: str, name: str, root: Path,
                       cache_dir: str | None, known: dict[str, Any] | None, backbones: dict[Any, Any],
                       use_cache: bool) -> tuple[np.ndarray, dict[str, Any] | None]:
    """The column's features, and its stats: an image column's input resolution (chosen from
    the training images, then reused, so that new images are read at the same size)."""
    from transferkit.backbones import create_backbone
    from transferkit.data.dataset import TransferDataset
    from transferkit.features import extract_features
    from transferkit.pipeline.build import data_resolution

    rows = np.flatnonzero(present)
    cells = values.to_numpy()[rows]
    items: Any = [str(v) for v in cells] if kind == "text" else list(cells)
    if kind == "image":
        items = [v if isinstance(v, np.ndarray) else str(v if Path(str(v)).is_absolute() else root / str(v))
                 for v in items]
        missing = [p for p in items if isinstance(p, str) and not Path(p).is_file()]
        if missing:
            raise DataError(f"The image column '{values.name}' names {len(missing)} file(s) that do not "
                            f"exist, e.g. '{missing[0]}'. Fix the paths (relative to '{root}').")
    data = TransferDataset(f"column-{values.name}", kind, items, np.zeros(len(rows), np.int64), ["-"])
    if kind == "image":
        size = (known or {}).get("image_size", data_resolution(data)) if (known or len(rows)) else None
        known = {"image_size": size}
    key = (name, (known or {}).get("image_size"))
    if key not in backbones:
        backbone = create_backbone(name, image_size=key[1] if kind == "image" else None)
        if kind == "image":
            from transferkit.pipeline.build import apply_pool_stages

            apply_pool_stages(backbone, None, "linear-probe")
        backbones[key] = backbone
    if not len(rows):  # every cell missing: zeros of the backbone's width
        return np.zeros((len(values), int(backbones[key].feature_dim)), dtype=np.float32), known
    feats = extract_features(backbones[key], data, cache_dir=cache_dir, progress=False, use_cache=use_cache)
    x = np.zeros((len(values), feats.shape[1]), dtype=np.float32)
    x[rows] = feats
    return x, known


def _as_numbers(values: pd.Series, present: np.ndarray, column: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = present & ~np.isfinite(numbers)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"The number column '{column}' holds {values.iloc[row]!r} in row {row + 1}, which "
                        "is not a number. Fix the cell, or name the column as category= or text=.")
    return numbers


def _number_stats(values: pd.Series, present: np.ndarray, train_rows: np.ndarray, column: str
                  ) -> dict[str, float]:
    fit = _as_numbers(values, present, column)[train_rows][present[train_rows]]
    mean, std = (float(fit.mean()), float(fit.std()) or 1.0) if len(fit) else (0.0, 1.0)
    return {"mean": mean, "std": std}


def _numbers(values: pd.Series, present: np.ndarray, stats: dict[str, float], column: str) -> np.ndarray:
    numbers = _as_numbers(values, present, column)
    return np.where(present, (numbers - stats["mean"]) / stats["std"], 0.0)[:, None].astype(np.float32)


def _categories(values: pd.Series, present: np.ndarray, known: list[str]) -> np.ndarray:
    text = values.astype(str).to_numpy()  # categories not among the training rows': all zeros
    index = {c: i for i, c in enumerate(known)}
    x = np.zeros((len(values), max(1, len(known))), dtype=np.float32)
    for row in np.flatnonzero(present):
        if text[row] in index:
            x[row, index[text[row]]] = 1.0
    return x


__all__ = ["IMAGE_SUFFIXES", "KINDS", "MAX_CATEGORIES", "ColumnFeatures", "detect_kind", "encode_columns",
           "parse_columns"]
