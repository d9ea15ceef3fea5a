"""The ``multimodal`` job: classify rows whose columns are images, texts, numbers and categories.

Reads a CSV/Parquet table (or generates the built-in ``digit-rows``), splits its rows
(stratified, seeded), encodes every column with its own encoder and reports test accuracy
of each column alone, of feature-level fusion (``concat``) and of late fusion, overall and
on the rows that miss each column (see :mod:`transferkit.multimodal`).

>>> multimodal(data="digit-rows")["fusion"]["concat"]["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError, DataError
from transferkit.options import Options, configure, option


@dataclass
class MultimodalConfig(Options):
    """Settings of ``transferkit multimodal``."""

    data: str | None = option(None, "A CSV/Parquet table (image paths relative to its folder), or "
                              "the generated built-in 'digit-rows'.", flag="--data")
    label_column: str = option("label", "The column of class labels.", flag="--label-column")
    columns: str | None = option(None, "kind=column pairs, kind one of image, text, number, category "
                                 "(e.g. image=photo,text=title); default: every other column, "
                                 "its kind detected.", flag="--columns")
    image_backbone: str = option("efficientnet_lite0", "The image columns' backbone.", flag="--image-backbone")
    text_backbone: str = option("minilm", "The text columns' backbone.", flag="--text-backbone")
    val_fraction: float = option(0.1, "Rows held out to choose the heads' L2 strength.", ge=0, lt=1)
    test_fraction: float = option(0.3, "Rows held out for the test metrics.", gt=0, lt=1)
    seed: int = option(0, "Seed of the split (and of the generated table).", flag="--seed")
    cache_dir: str | None = option(None, "Feature cache folder (None: the default).")
    out: str | None = option(None, "Write the results here as multimodal.json.", flag="--out")


def multimodal(config: MultimodalConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
               log: Callable[[str], None] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Encode, fuse and evaluate (see the module docstring); returns (and with ``out`` writes)
    the results."""
    from transferkit.data.splits import stratified_split
    from transferkit.multimodal import concat_fusion, encode_columns, late_fusion, parse_columns

    t0 = time.perf_counter()
    cfg = configure(MultimodalConfig, config, overrides, **kwargs)
    log = log or (lambda _m: None)
    path, frame = _read(cfg)
    if cfg.label_column not in frame.columns:
        raise ConfigError(f"The 'label_column' parameter names {cfg.label_column!r}, which '{path}' does "
                          f"not have. Columns: {', '.join(map(str, frame.columns))}.")
    frame = frame[frame[cfg.label_column].notna()].reset_index(drop=True)
    labels = frame[cfg.label_column].astype(str).to_numpy()
    classes = sorted(set(labels))
    y = np.array([classes.index(v) for v in labels])
    kinds = parse_columns(cfg.columns, frame, cfg.label_column)
    train, val, test = stratified_split(y, cfg.val_fraction, cfg.test_fraction, cfg.seed, classes)
    log(f"[bold]multimodal[/bold] {path}: {len(train)} train / {len(val)} val / {len(test)} test rows, "
        + ", ".join(f"{c} ({k})" for c, k in kinds.items()))
    cols = encode_columns(frame, kinds, train, path.parent, cfg.cache_dir, cfg.image_backbone,
                          cfg.text_backbone)
    late, own = late_fusion(cols, y, train, val, len(classes), cfg.seed)
    probs = {"concat": concat_fusion(cols, y, train, val, len(classes), cfg.seed), "late": late}
    result = {"command": "multimodal", "data": str(path), "classes": classes,
              "columns": {c.column: {"kind": c.kind, "encoder": c.encoder, "dim": int(c.x.shape[1]),
                                     "missing": float(1 - c.present.mean()),
                                     "alone_on_present_test_rows": _scores(y[test][c.present[test]],
                                                                           own[c.column][test][c.present[test]])
                                     if c.column in own else None} for c in cols},
              "fusion": {name: {**_scores(y[test], p[test]),
                                "missing": {c.column: _scores(y[test][~c.present[test]], p[test][~c.present[test]])
                                            for c in cols}} for name, p in probs.items()},
              "labels_used": {"train": int(len(train)), "val": int(len(val))},
              "timings": {"total_s": round(time.perf_counter() - t0, 3)}}
    for name in probs:
        log(f"  {name:<6} test accuracy {result['fusion'][name]['accuracy']:.4f}, balanced "
            f"{result['fusion'][name]['balanced_accuracy']:.4f}")
    if cfg.out:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out) / "multimodal.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def _scores(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score

    if not len(y):
        return {"accuracy": float("nan"), "balanced_accuracy": float("nan"), "n": 0}
    pred = probs.argmax(axis=1)
    return {"accuracy": float((pred == y).mean()), "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "n": int(len(y))}


def _read(cfg: MultimodalConfig) -> tuple[Path, Any]:
    import pandas as pd

    from transferkit.features.cache import default_cache_dir
    from transferkit.multimodal.synthetic import GENERATED, digit_rows

    if not cfg.data:
        raise ConfigError("The 'data' parameter of multimodal is required: a CSV/Parquet table or "
                          f"a generated built-in ({', '.join(GENERATED)}).")
    path = Path(str(cfg.data)).expanduser()
    if not path.exists() and str(cfg.data) in GENERATED:
        root = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
        path = digit_rows(root / "generated" / f"digit-rows-seed{cfg.seed}", seed=cfg.seed)
    if not path.is_file():
        raise DataError(f"The table '{cfg.data}' does not exist. Pass a CSV/Parquet file or one of "
                        f"{', '.join(GENERATED)}.")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"'{path}' is neither CSV nor Parquet; multimodal reads tables of rows.")
    return path, (pd.read_parquet(path) if suffix != ".csv" else pd.read_csv(path))


__all__ = ["MultimodalConfig", "multimodal"]
