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
:func:`transferkit.load` (``jobs.predict.load``), the one function that opens a run,
returns a :class:`MultimodalPredictor` for such a directory, so ``predict``, ``serve``
(JSON rows, image cells in base64) and ``evaluate`` (the run's own test split, rebuilt
from config.yaml and fingerprint-checked) read it like any other run; the differences live
in :class:`MultimodalTask`, the classification task plus the hooks that read tables.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ConfigError, DataError, RunDirError
from transferkit.tasks.classification import ClassificationTask

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


def run_view(manifest: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """A multimodal run's ``multimodal.json`` read as a run manifest: the classification of
    rows with several modalities that its summary.json says it is (what ``compare`` and the
    Hub's model card read in place of ``transferkit.json``)."""
    return {**manifest, "task": summary.get("task") or "classification", "modality": "multimodal"}


def outputs_key(fusion: str) -> str:
    """The key of a fusion's test probabilities in ``test_predictions.npz``: ``outputs`` for
    feature-level fusion (what ``predict`` and ``serve`` answer, and what ``compare`` reads
    of any classification run), ``outputs_<fusion>`` for the others."""
    return "outputs" if fusion == "concat" else f"outputs_{fusion}"


def save_test_outputs(run_dir: Path, y: np.ndarray, probs: dict[str, np.ndarray]) -> None:
    """``test_predictions.npz`` (plain arrays, no pickle): the test rows' class positions
    ``y`` and each fusion's ``(N, K)`` probabilities, so ``transferkit compare`` pairs the run
    with another tested on the same rows (the split fingerprint in summary.json says so)."""
    import io

    from transferkit.rundir import TEST_PREDICTIONS, atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, y=np.asarray(y, dtype=np.int64),
             **{outputs_key(name): np.asarray(p, dtype=np.float64) for name, p in probs.items()})
    atomic_write_bytes(Path(run_dir) / TEST_PREDICTIONS, buf.getvalue())


class MultimodalTask(ClassificationTask):
    """The classification task of a multimodal run (metrics, prediction rows, answers) whose
    inputs are rows of a table: ``predict`` reads whole CSV/Parquet files (image paths are
    relative to the table's folder) and ``evaluate`` rebuilds the run's own split. Not in
    the task registry: ``fit`` cannot train it (one backbone per column)."""

    name = "multimodal-classification"

    def predict_inputs(self, predictor: Any, inputs: Any) -> list[dict[str, Any]] | None:
        return multimodal_rows(predictor, inputs)

    def evaluate_inputs(self, predictor: Any, data: Any, split: str,
                        data_kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
        return evaluate_rows(predictor, data, split, data_kwargs)


class MultimodalPredictor:
    """A saved multimodal run: ``predict_proba(rows, fusion)`` and ``predict(rows)``, where
    rows are a DataFrame, a list of ``{column: value}`` dicts (an image cell: a path or a
    decoded array) or a CSV/Parquet path (its image paths relative to its folder)."""

    #: what ``serve`` reads: one ``{column: value}`` object per row
    modality = "table"
    #: why ``export`` refuses the run: one backbone per column is not one network to trace
    export_refusal = ("A multimodal run holds one backbone per column and two fused heads, not one "
                      "network, so export does not write it. Use transferkit predict or serve on the run.")

    def __init__(self, run_dir: str | Path, device: Any = "auto") -> None:
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
        self.task = MultimodalTask()
        self.device = device  # the column backbones run where extract_features puts them
        #: the columns whose cells are images (``serve`` decodes them, within its pixel budget)
        self.image_columns = [c["column"] for c in self.manifest["columns"] if c["kind"] == "image"]
        self._backbones: dict[Any, Any] = {}  # created once, reused by every request

    def _columns(self, frame: Any, root: Path, cache_dir: str | None, use_cache: bool) -> list[Any]:
        from transferkit.multimodal.columns import encode_columns

        cols = self.manifest["columns"]
        kinds = {c["column"]: c["kind"] for c in cols}
        return encode_columns(frame, kinds, np.arange(0), root, cache_dir,
                              self.manifest["image_backbone"], self.manifest["text_backbone"],
                              stats={c["column"]: c["stats"] for c in cols if c["stats"]},
                              backbones=self._backbones, use_cache=use_cache)

    def predict_proba(self, table: Any, fusion: str = "concat", cache_dir: str | None = None,
                      root: str | Path | None = None) -> np.ndarray:
        """``(N, K)`` class probabilities of a table's rows (see the class docstring); image
        paths are relative to ``root`` (default: a table file's folder, else the working
        directory). Rows given in memory leave the feature cache alone."""
        from transferkit.multimodal.fusion import FUSIONS, concat_probs, late_probs

        if fusion not in FUSIONS:
            raise ConfigError(f"The 'fusion' parameter must be one of {', '.join(FUSIONS)}. Got {fusion!r}.")
        frame, folder, from_file = _frame(table)
        cols = self._columns(frame, Path(root) if root is not None else folder, cache_dir, from_file)
        if fusion == "concat":
            return concat_probs(cols, (self.arrays["concat.weight"], self.arrays["concat.bias"]))
        heads = {c.column: (self.arrays[f"late.{c.column}.weight"], self.arrays[f"late.{c.column}.bias"])
                 for c in cols if f"late.{c.column}.weight" in self.arrays}
        return late_probs(cols, heads, self.arrays["prior"])[0]

    def outputs(self, table: Any) -> tuple[np.ndarray, None]:
        """(feature-level fusion's probabilities, no novelty columns): what ``serve`` asks."""
        return self.predict_proba(table), None

    def predict(self, table: Any, fusion: str = "concat") -> list[str]:
        return [self.classes[i] for i in self.predict_proba(table, fusion).argmax(axis=1)]

    def prediction_rows(self, table: Any, fusion: str = "concat") -> list[dict[str, Any]]:
        """One dict per row as ``transferkit predict`` writes it: row, class, probabilities."""
        probs = self.predict_proba(table, fusion)
        return [{"input": f"row {i + 1}", **row}
                for i, row in enumerate(self.task.prediction_rows(probs, self.manifest))]

    def __repr__(self) -> str:
        return f"MultimodalPredictor('{self.run_dir}', columns={[c['column'] for c in self.manifest['columns']]}, classes={self.classes})"


def _frame(table: Any) -> tuple[Any, Path, bool]:
    """(the rows as a DataFrame, the folder image paths are relative to, read from a file)."""
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True), Path.cwd(), False
    if isinstance(table, (list, tuple)) and all(isinstance(r, dict) for r in table):
        return pd.DataFrame.from_records(list(table)), Path.cwd(), False
    path = Path(str(table))
    if not path.is_file() or path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"A multimodal run predicts the rows of a CSV/Parquet table (or a DataFrame, "
                          f"or a list of {{column: value}} rows). Got '{table}'.")
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    return frame, path.parent, True


def load(run_dir: str | Path, device: Any = "auto") -> MultimodalPredictor:
    """A saved multimodal run, ready to predict (see the module docstring)."""
    return MultimodalPredictor(run_dir, device=device)


def is_multimodal_run(run_dir: str | Path) -> bool:
    return (Path(str(run_dir)) / MANIFEST).is_file()


def multimodal_rows(predictor: MultimodalPredictor, inputs: Any) -> list[dict[str, Any]]:
    """``transferkit predict`` on a multimodal run: the rows of each CSV/Parquet table given
    (feature-level fusion), each row named ``<table> row <n>``."""
    out = []
    for table in [inputs] if isinstance(inputs, (str, Path)) else inputs:
        for row in predictor.prediction_rows(table):
            out.append({**row, "input": f"{table} {row['input']}"})
    return out


def evaluate_rows(predictor: MultimodalPredictor, data: Any, split: str, overrides: dict[str, Any]
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``evaluate`` on a multimodal run: (class positions, probabilities, what was evaluated)
    of ``split`` of the run's own table -- read and split from its config.yaml as the run
    did, and checked against the split fingerprint it recorded -- or of another table
    ``data`` (split the same way; ``split="all"``: every labelled row)."""
    import yaml

    from transferkit.jobs.multimodal import MultimodalConfig, table_splits
    from transferkit.options import from_dict

    path = predictor.run_dir / "config.yaml"
    if not path.is_file():
        raise RunDirError(f"'{predictor.run_dir}' has no config.yaml, so the table it was fitted on is "
                          "unknown. Re-run transferkit multimodal.")
    recorded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = sorted(set(overrides) - {"label_column"})
    if unknown:
        raise ConfigError(f"A multimodal run is evaluated on its own table or one given with --data; "
                          f"{', '.join(unknown)} do(es) not apply to it (only --label-column does).")
    if data is not None and not isinstance(data, (str, Path)):
        raise ConfigError("A multimodal run is evaluated on a CSV/Parquet table named by its path (or its "
                          f"own table, with no data). Got {type(data).__name__}.")
    own = data is None or _names_table(str(data), recorded.get("data"))
    cfg = from_dict(MultimodalConfig, {**recorded, **({} if own else {"data": str(data)}), **overrides},
                    "multimodal")
    rows = table_splits(cfg)
    recorded_prints = (predictor.manifest.get("fingerprints") or {}) if own else {}
    # a split: its rows' fingerprint; every row: the table file's sha256
    want = recorded_prints.get("table") if split == "all" else (recorded_prints.get("splits") or {}).get(split)
    got = hashlib.sha256(rows.path.read_bytes()).hexdigest() if split == "all" else rows.fingerprint(split)
    if want is not None and got != want:
        raise DataError(
            f"The {split} split rebuilt from '{path}' ({len(rows.rows(split))} rows of '{rows.path}') is "
            f"not the one the run was fitted on: its fingerprint differs from the one recorded in "
            f"{predictor.run_dir / MANIFEST}. The table changed since the run (or is read differently "
            "now). Evaluate on a table you name with --data (and --split all for every row), or re-run "
            "transferkit multimodal.")
    unseen = sorted(set(rows.classes) - set(predictor.classes))
    if unseen:
        raise DataError(f"The evaluation table has classes the model never saw: {unseen}. The model knows "
                        f"{predictor.classes}. Evaluate on rows with only those classes.")
    idx = rows.rows(split)
    y = np.array([predictor.classes.index(rows.classes[i]) for i in rows.y[idx]], dtype=np.int64)
    probs = predictor.predict_proba(rows.frame.iloc[idx], root=rows.path.parent)
    return y, probs, {"data": str(rows.path), "split": split, "n": int(len(idx)), "own_split": own,
                      "fingerprint_checked": want is not None}


def _names_table(given: str, recorded: Any) -> bool:
    """Whether ``given`` names the run's recorded table (the same name, or the same file)."""
    if recorded is None:
        return False
    if given == str(recorded):
        return True
    try:
        return Path(given).is_file() and Path(given).resolve() == Path(str(recorded)).resolve()
    except OSError:
        return False


__all__ = ["MANIFEST", "WEIGHTS", "MultimodalPredictor", "MultimodalTask", "evaluate_rows", "is_multimodal_run",
           "load", "multimodal_rows", "outputs_key", "run_view", "save", "save_test_outputs"]
