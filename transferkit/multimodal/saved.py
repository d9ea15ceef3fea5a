"""A multimodal run on disk, and predicting with it.

A multimodal run directory holds, besides ``config.yaml``, ``summary.json`` and the report
that every run has (:class:`~transferkit.pipeline.run.Run`):

* ``multimodal.json``: the classes, the label column, and per column its kind, encoder and
  the training statistics that encode new rows the same way (a number's mean and std, a
  category's values); the backbones by name; the weights' sha256;
* ``multimodal.safetensors``: the feature-level head (``concat.weight``, ``concat.bias``),
  one late-fusion head per column (``late.<column>.weight`` / ``.bias``) and the training
  class frequencies (``prior``, a row with no column at all).

:func:`load` reads both and predicts rows of a table -- a cell left empty, or a column
the table lacks, is a missing modality (masked, as in training), never a dropped row.
``transferkit predict RUN table.csv`` reads a multimodal run through it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError, RunDirError

#: the files of a multimodal run
MANIFEST = "multimodal.json"
WEIGHTS = "multimodal.safetensors"


def save(run_dir: Path, columns: list[Any], heads: dict[str, Any], prior: np.ndarray,
         classes: list[str], info: dict[str, Any]) -> None:
    """Write ``multimodal.safetensors`` and ``multimodal.json`` into ``run_dir``."""
    from safetensors.numpy import save as save_arrays

    from transferkit.rundir import atomic_write_bytes, write_json

    arrays = {"concat.weight": heads["concat"][0], "concat.bias": heads["concat"][1],
              "prior": np.asarray(prior, dtype=np.float64)}
    for column, (w, b) in heads["late"].items():
        arrays[f"late.{column}.weight"], arrays[f"late.{column}.bias"] = w, b
    data = save_arrays({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()})
    atomic_write_bytes(run_dir / WEIGHTS, data)
    write_json(run_dir / MANIFEST, {
        "task": "multimodal-classification", "classes": classes, **info,
        "columns": [{"column": c.column, "kind": c.kind, "encoder": c.encoder, "stats": c.stats}
                    for c in columns],
        "weights_sha256": hashlib.sha256(data).hexdigest()})


class MultimodalPredictor:
    """A saved multimodal run: ``predict_proba(table, fusion)`` and ``predict(table)``."""

    def __init__(self, run_dir: str | Path) -> None:
        from safetensors.numpy import load as load_arrays

        self.run_dir = Path(run_dir)
        path = self.run_dir / MANIFEST
        if not path.is_file():
            raise RunDirError(f"'{self.run_dir}' is not a multimodal run: it has no {MANIFEST}. "
                              "Write one with transferkit multimodal --out DIR.")
        self.manifest = json.loads(path.read_text(encoding="utf-8"))
        data = (self.run_dir / WEIGHTS).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.manifest.get("weights_sha256"):
            raise RunDirError(f"'{self.run_dir / WEIGHTS}' does not match the checksum in {MANIFEST}: "
                              "the file was edited or corrupted. Re-run transferkit multimodal.")
        self.arrays = load_arrays(data)
        self.classes: list[str] = list(self.manifest["classes"])

    def _columns(self, frame: Any, root: Path, cache_dir: str | None) -> list[Any]:
        from transferkit.multimodal.columns import encode_columns

        cols = self.manifest["columns"]
        kinds = {c["column"]: c["kind"] for c in cols}
        return encode_columns(frame, kinds, np.arange(0), root, cache_dir,
                              self.manifest["image_backbone"], self.manifest["text_backbone"],
                              stats={c["column"]: c["stats"] for c in cols if c["stats"]})

    def predict_proba(self, table: Any, fusion: str = "concat", cache_dir: str | None = None) -> np.ndarray:
        """``(N, K)`` class probabilities of a table's rows (a DataFrame, or a CSV/Parquet path
        whose image paths are relative to its folder)."""
        from transferkit.multimodal.fusion import FUSIONS, concat_probs, late_probs

        if fusion not in FUSIONS:
            raise ConfigError(f"The 'fusion' parameter must be one of {', '.join(FUSIONS)}. Got {fusion!r}.")
        frame, root = _frame(table)
        cols = self._columns(frame, root, cache_dir)
        if fusion == "concat":
            return concat_probs(cols, (self.arrays["concat.weight"], self.arrays["concat.bias"]))
        heads = {c.column: (self.arrays[f"late.{c.column}.weight"], self.arrays[f"late.{c.column}.bias"])
                 for c in cols if f"late.{c.column}.weight" in self.arrays}
        return late_probs(cols, heads, self.arrays["prior"])[0]

    def predict(self, table: Any, fusion: str = "concat") -> list[str]:
        return [self.classes[i] for i in self.predict_proba(table, fusion).argmax(axis=1)]

    def prediction_rows(self, table: Any, fusion: str = "concat") -> list[dict[str, Any]]:
        """One dict per row as ``transferkit predict`` writes it: row, class, probabilities."""
        probs = self.predict_proba(table, fusion)
        return [{"input": f"row {i + 1}", "class": self.classes[int(p.argmax())],
                 **{f"p_{c}": round(float(v), 6) for c, v in zip(self.classes, p, strict=True)}}
                for i, p in enumerate(probs)]


def _frame(table: Any) -> tuple[Any, Path]:
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True), Path.cwd()
    path = Path(str(table))
    if not path.is_file() or path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"A multimodal run predicts the rows of a CSV/Parquet table. Got '{table}'.")
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    return frame, path.parent


def load(run_dir: str | Path) -> MultimodalPredictor:
    """A saved multimodal run, ready to predict (see the module docstring)."""
    return MultimodalPredictor(run_dir)


def is_multimodal_run(run_dir: str | Path) -> bool:
    return (Path(str(run_dir)) / MANIFEST).is_file()


def multimodal_rows(run_dir: str | Path, inputs: list[str]) -> list[dict[str, Any]]:
    """``transferkit predict`` on a multimodal run: the rows of each CSV/Parquet table given
    (feature-level fusion), each row named ``<table> row <n>``."""
    predictor = load(run_dir)
    out = []
    for table in inputs:
        for row in predictor.prediction_rows(table):
            out.append({**row, "input": f"{table} {row['input']}"})
    return out


__all__ = ["MANIFEST", "WEIGHTS", "MultimodalPredictor", "is_multimodal_run", "load", "multimodal_rows",
           "save"]
