"""The ``multimodal`` job: classify rows whose columns are images, texts, numbers and categories.

Reads a CSV/Parquet table (or generates the built-in ``digit-rows``), splits its rows
(stratified, seeded), encodes every column with its own encoder and reports test accuracy
of each column alone, of feature-level fusion (``concat``) and of late fusion, overall and
on the rows that miss each column (see :mod:`transferkit.multimodal`). It writes a run
directory (:class:`~transferkit.pipeline.run.Run`: config, summary, report, runs index) with
the fused heads (:mod:`transferkit.multimodal.saved`), which ``transferkit predict`` reads.

It is its own command, not ``fit --data``: ``fit``'s model is one backbone, a mapping and a
head, and a row here needs one backbone per column.

>>> multimodal(data="digit-rows").summary["multimodal"]["fusion"]["concat"]["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
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
                                 "(e.g. image=photo,text=title); default: a generated table's "
                                 "declared kinds, else every other column with its kind detected.",
                                 flag="--columns")
    image_backbone: str = option("efficientnet_lite0", "The image columns' backbone.", flag="--image-backbone")
    text_backbone: str = option("minilm", "The text columns' backbone.", flag="--text-backbone")
    val_fraction: float = option(0.1, "Rows held out to choose the heads' L2 strength.", ge=0, lt=1)
    test_fraction: float = option(0.3, "Rows held out for the test metrics.", gt=0, lt=1)
    seed: int = option(0, "Seed of the split (and of the generated table).", flag="--seed")
    cache_dir: str | None = option(None, "Feature cache folder (None: the default).")
    out: str | None = option(None, "Run directory (default runs/<name>).", flag="--out")
    name: str | None = option(None, "Run name (default derived from the table and time).", flag="--name")


def multimodal(config: MultimodalConfig | str | Path | None = None, *, overrides: Sequence[str] = (),
               log: Callable[[str], None] | None = None, overwrite: bool = False, **kwargs: Any) -> Any:
    """Encode, fuse, evaluate and write a run (see the module docstring); returns its
    :class:`~transferkit.pipeline.run.RunResult` (``summary["multimodal"]``: the results)."""
    from transferkit.pipeline.run import Run, default_run_name

    t0 = time.perf_counter()
    cfg = configure(MultimodalConfig, config, overrides, **kwargs)
    log = log or (lambda _m: None)
    run = Run("multimodal", out=cfg.out, name=cfg.name, overwrite=overwrite,
              default_name=default_run_name(Path(str(cfg.data or "table")).stem, "multimodal"))
    run.check()
    rows = table_splits(cfg)
    with run:
        run.write_config(cfg)
        run.fingerprints["table"] = hashlib.sha256(rows.path.read_bytes()).hexdigest()
        run.fingerprints["splits"] = {name: rows.fingerprint(name) for name in ("train", "val", "test")}
        return _fit(cfg, run, rows, log, t0)


@dataclass
class TableSplits:
    """A multimodal table read and split as ``transferkit multimodal`` splits it: the rows
    with a label, their class positions ``y``, the column kinds and the (train, val, test)
    row indices. ``evaluate`` rebuilds the same object from a run's config.yaml."""

    path: Path
    frame: Any
    y: np.ndarray
    classes: list[str]
    kinds: dict[str, str]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def rows(self, split: str) -> np.ndarray:
        """The row indices of ``split`` (train, val, test, or all)."""
        return np.arange(len(self.y)) if split == "all" else getattr(self, split)

    def fingerprint(self, split: str) -> str:
        """sha256 of the split's cells (pandas' row hashes, image paths as written) and class
        positions, in order: what a run records and ``evaluate`` checks."""
        import pandas as pd

        rows = self.rows(split)
        h = hashlib.sha256(",".join(map(str, self.frame.columns)).encode())
        h.update(pd.util.hash_pandas_object(self.frame.iloc[rows], index=False).to_numpy().tobytes())
        h.update(np.ascontiguousarray(self.y[rows], dtype=np.int64).tobytes())
        return h.hexdigest()


def table_splits(cfg: MultimodalConfig) -> TableSplits:
    """The table of ``cfg.data`` (a generated built-in is written first), its labelled rows,
    column kinds and the seeded stratified split (see :class:`TableSplits`)."""
    from transferkit.data.splits import stratified_split
    from transferkit.multimodal import parse_columns
    from transferkit.multimodal.synthetic import COLUMNS

    path, frame = _read(cfg)
    if cfg.label_column not in frame.columns:
        raise ConfigError(f"The 'label_column' parameter names {cfg.label_column!r}, which '{path}' does "
                          f"not have. Columns: {', '.join(map(str, frame.columns))}.")
    frame = frame[frame[cfg.label_column].notna()].reset_index(drop=True)
    labels = frame[cfg.label_column].astype(str).to_numpy()
    classes = sorted(set(labels))
    y = np.array([classes.index(v) for v in labels])
    kinds = parse_columns(cfg.columns or COLUMNS.get(str(cfg.data)), frame, cfg.label_column)
    train, val, test = stratified_split(y, cfg.val_fraction, cfg.test_fraction, cfg.seed, classes)
    return TableSplits(path, frame, y, classes, kinds, train, val, test)


def _fit(cfg: MultimodalConfig, run: Any, rows: TableSplits, log: Callable[[str], None], t0: float) -> Any:
    from transferkit.multimodal import encode_columns
    from transferkit.multimodal.fusion import concat_probs, fit_concat, fit_late, late_probs
    from transferkit.multimodal.saved import save, save_test_outputs
    from transferkit.pipeline.run import RunResult, Summary

    path, frame, y, classes, kinds = rows.path, rows.frame, rows.y, rows.classes, rows.kinds
    train, val, test = rows.train, rows.val, rows.test
    log(f"[bold]multimodal[/bold] {path}: {len(train)} train / {len(val)} val / {len(test)} test rows, "
        + ", ".join(f"{c} ({k})" for c, k in kinds.items()))
    cols = encode_columns(frame, kinds, train, path.parent, cfg.cache_dir, cfg.image_backbone,
                          cfg.text_backbone)
    k = len(classes)
    prior = np.bincount(y[train], minlength=k) / max(1, len(train))
    heads = {"concat": fit_concat(cols, y, train, val, k, cfg.seed), "late": fit_late(cols, y, train, val, k, cfg.seed)}
    late, own = late_probs(cols, heads["late"], prior)
    probs = {"concat": concat_probs(cols, heads["concat"]), "late": late}
    section = _results(path, classes, cols, own, probs, prior, y, test)
    section["paired"] = _fusion_tests(classes, cols, own, probs, prior, y, val, test, cfg.seed)
    for name, paired in section["paired"].items():
        log(f"  {name}: {paired['sentence']}")
    save_test_outputs(run.dir, y[test], {name: p[test] for name, p in probs.items()})
    save(run.dir, cols, heads, prior, classes, {"label_column": cfg.label_column,
                                                 "image_backbone": cfg.image_backbone,
                                                 "text_backbone": cfg.text_backbone,
                                                 "fingerprints": dict(run.fingerprints)})
    for name in probs:
        log(f"  {name:<6} test accuracy {section['fusion'][name]['accuracy']:.4f}, balanced "
            f"{section['fusion'][name]['balanced_accuracy']:.4f}")
    summary = Summary(
        task="classification", command="multimodal",
        data={"data": str(path), "rows": {"train": int(len(train)), "val": int(len(val)), "test": int(len(test))}},
        backbone=_encoders(kinds, cfg), strategy="multimodal-fusion",
        choice="feature-level (concat) and late fusion, both fitted and saved",
        metrics={"test": section["fusion"]["concat"], "late": section["fusion"]["late"]},
        baselines={c: v["alone_all_test_rows"] for c, v in section["columns"].items()},
        transfer_gain=None, selection={"split": "val", "validator": "logistic L2 strength"},
        timings={"total_s": round(time.perf_counter() - t0, 3)},
        labels_used={"train": int(len(train)), "val": int(len(val))}, multimodal=section)
    data = run.finish(summary)
    log(f"run written to {run.dir}")
    return RunResult(run.dir, data, None)


def _encoders(kinds: dict[str, str], cfg: MultimodalConfig) -> str:
    """The encoders the columns use, e.g. ``efficientnet_lite0 (image) + numbers``: a backbone
    is named only when a column of its kind is read."""
    parts = {"image": f"{cfg.image_backbone} (image)", "text": f"{cfg.text_backbone} (text)",
             "number": "numbers (standardised)", "category": "categories (one-hot)"}
    return " + ".join(parts[k] for k in parts if k in kinds.values()) or "none"


def _results(path: Path, classes: list[str], cols: list[Any], own: dict[str, np.ndarray],
             probs: dict[str, np.ndarray], prior: np.ndarray, y: np.ndarray, test: np.ndarray
             ) -> dict[str, Any]:
    """summary.json's ``multimodal`` section: each column alone (on the test rows that have it,
    and on all test rows -- the training prior where it is missing) and each fusion."""
    columns = {}
    for c in cols:
        alone = own.get(c.column)
        everywhere = None if alone is None else _everywhere(c, alone, prior)
        columns[c.column] = {
            "kind": c.kind, "encoder": c.encoder, "dim": int(c.x.shape[1]), "missing": float(1 - c.present.mean()),
            "alone_on_present_test_rows": None if alone is None else _scores(
                y[test][c.present[test]], alone[test][c.present[test]]),
            "alone_all_test_rows": None if everywhere is None else _scores(y[test], everywhere[test])}
    return {"data": str(path), "classes": classes, "columns": columns,
            "fusion": {name: {**_scores(y[test], p[test]),
                              "missing": {c.column: _scores(y[test][~c.present[test]], p[test][~c.present[test]])
                                          for c in cols}} for name, p in probs.items()}}


def _everywhere(c: Any, alone: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """A column's own probabilities, and the training prior on the rows that miss it."""
    return np.where(c.present[:, None], np.nan_to_num(alone), prior)


def _fusion_tests(classes: list[str], cols: list[Any], own: dict[str, np.ndarray], probs: dict[str, np.ndarray],
                  prior: np.ndarray, y: np.ndarray, val: np.ndarray, test: np.ndarray,
                  seed: int) -> dict[str, Any]:
    """Each fusion against the best single column -- chosen by its accuracy on the validation
    rows, never the test rows -- by the classification task's paired test on the test rows
    (McNemar's exact test and a paired, class-stratified bootstrap CI of the difference)."""
    from transferkit.tasks import get_task

    alone = {c.column: _everywhere(c, own[c.column], prior) for c in cols if own.get(c.column) is not None}
    if not alone or not len(test):
        return {}
    rows = val if len(val) else test[:0]
    best = max(alone, key=lambda c: float((alone[c][rows].argmax(1) == y[rows]).mean()) if len(rows) else 0.0)
    task, out = get_task("classification"), {}
    for name, p in probs.items():
        test_ = task.compare(y[test], p[test], alone[best][test], {"classes": classes},
                             baseline=f"the best single column '{best}' (chosen on validation rows)",
                             seed=seed, wording={"what": f"{name} fusion", "better": "helped",
                                                 "subject": f"{name} fusion", "worse": "fusion hurt",
                                                 "advice": f"Use the column '{best}' alone."})
        if test_ is not None:
            out[name] = {**test_, "best_column": best}
    return out


def _scores(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score

    from transferkit.stats import LEVEL, N_BOOT, bootstrap_ci

    if not len(y):
        return {"accuracy": float("nan"), "balanced_accuracy": float("nan"), "n": 0}
    pred = probs.argmax(axis=1)
    ci = bootstrap_ci(lambda t, q: float((t == q).mean()), y, pred, strata=y)
    return {"accuracy": float((pred == y).mean()), "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "n": int(len(y)),
            "ci": {"level": LEVEL, "n_boot": N_BOOT, "seed": 0, "stratified": True, "accuracy": list(ci)}}


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


__all__ = ["MultimodalConfig", "TableSplits", "multimodal", "table_splits"]
