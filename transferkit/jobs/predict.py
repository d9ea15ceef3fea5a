"""Using a run: ``load`` it for prediction and ``evaluate`` it on data.

>>> model = load("runs/fmnist")  # doctest: +SKIP
>>> model.predict(["shirt.png"]), model.predict_proba(["shirt.png"])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from transferkit.errors import ConfigError, DataError, NotFittedError, RunDirError
from transferkit.pipeline import predict_items, predict_outputs, rebuild_model
from transferkit.rundir import CONFIG, read_manifest
from transferkit.tasks import get_task


class Predictor:
    """A trained run, ready to predict: ``transferkit.load(run_dir)``.

    ``predict(inputs)`` returns class names (regression: numbers in the target's units),
    ``predict_proba(inputs)`` an (N, K) array (regression: (N, 1) predictions).
    Inputs are image paths or arrays, texts, or table rows (a DataFrame or dicts). The
    run's task (``transferkit.json``) decides what the outputs are.
    """

    def __init__(self, run_dir: str | Path, device: Any = "auto") -> None:
        from transferkit.devices import resolve_device

        self.run_dir = Path(run_dir)
        self.manifest = read_manifest(self.run_dir)
        if "head" not in self.manifest:  # e.g. a self-supervised pretrain run: a backbone only
            raise RunDirError(f"'{self.run_dir}' holds a backbone without a prediction head (it was "
                              f"pretrained with objective {self.manifest.get('objective', 'unknown')!r}), "
                              f"so it cannot predict. Use it as a backbone: transferkit fit --data ... "
                              f"--backbone {self.run_dir}.")
        self.task = get_task(self.manifest.get("task"))
        self.classes: list[str] = list(self.manifest["classes"])
        self.modality: str = self.manifest["modality"]
        #: where the model runs (``device``, see :mod:`transferkit.devices`); batches follow it
        self.device = resolve_device(device)
        self.model = rebuild_model(self.manifest, self.run_dir).to(self.device)
        self.model.eval()
        #: flags inputs unlike the training data, when the run has one (:mod:`transferkit.novelty`)
        self.novelty = None
        if self.manifest.get("novelty"):
            from transferkit.novelty import NoveltyDetector

            self.novelty = NoveltyDetector.load(self.run_dir, self.manifest["novelty"])

    def _items(self, inputs: Any) -> list[Any]:
        from transferkit.data.inputs import to_raw_items

        return to_raw_items(inputs, self.modality, self.manifest.get("data", {}))

    def predict_proba(self, inputs: Any, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, K) for user inputs (paths, arrays, texts, rows)."""
        return self.predict_proba_items(self._items(inputs), batch_size)

    def predict_proba_items(self, items: list[Any], batch_size: int = 64) -> np.ndarray:
        """Class probabilities for raw items (as ``collect_inputs`` returns them)."""
        return self.outputs_items(items, batch_size)[0]

    def outputs_items(self, items: list[Any], batch_size: int = 64
                      ) -> tuple[np.ndarray, list[dict[str, Any]] | None]:
        """The outputs for raw items and, for a run with a novelty detector, each item's
        ``ood_p_value`` and ``out_of_distribution`` (None without one), from one pass."""
        if self.novelty is None:
            return predict_items(self.model, items, self.task, batch_size), None
        from transferkit.novelty import predict_with_novelty

        return predict_with_novelty(self.model, items, self.task, self.novelty, batch_size)

    def outputs(self, inputs: Any) -> tuple[np.ndarray, list[dict[str, Any]] | None]:
        """:meth:`outputs_items` of user inputs (paths, arrays, texts, rows)."""
        return self.outputs_items(self._items(inputs))

    def predict(self, inputs: Any) -> list[Any]:
        items = self._items(inputs)
        return self.task.predictions_for(items, self.predict_proba_items(items), self.manifest)

    def prediction_rows(self, inputs: Any) -> list[dict[str, Any]]:
        """One dict per input as ``transferkit predict`` writes it (the task's columns)."""
        from transferkit.novelty import with_columns

        items = self._items(inputs)
        outputs, extra = self.outputs_items(items)
        return with_columns(self.task.rows_for(items, outputs, self.manifest), extra)

    def __repr__(self) -> str:
        return f"Predictor('{self.run_dir}', {self.modality}, classes={self.classes})"


def load(run_dir: str | Path, device: Any = "auto") -> Any:
    """Load a run directory for prediction (never unpickles anything): a local folder, or
    ``"hf://user/repo[@revision]"`` for a run pushed to the Hugging Face Hub. The model
    runs on ``device`` (``"auto"``: a GPU when there is one; see :mod:`transferkit.devices`).
    Every command that opens a run opens it here: a :class:`Predictor`, or for a run of
    ``transferkit multimodal`` a :class:`~transferkit.multimodal.saved.MultimodalPredictor`
    (the same ``task``, ``classes``, ``modality``, ``manifest`` and ``predict*`` methods)."""
    import os

    from transferkit.errors import ConfigError
    from transferkit.hub import download_run, is_hub_ref

    if not isinstance(run_dir, (str, os.PathLike)) or not str(run_dir).strip():
        raise ConfigError("The 'run_dir' parameter of load must be a run directory (a path written "
                          "by fit/adapt/pretrain) or 'hf://user/repo'. Got "
                          f"{run_dir!r} instead.")
    from transferkit.multimodal.saved import MultimodalPredictor, is_multimodal_run

    local = download_run(run_dir) if is_hub_ref(run_dir) else run_dir
    if is_multimodal_run(local):  # one backbone per column: its own reader, the same interface
        return MultimodalPredictor(local, device=device)
    return Predictor(local, device=device)


def evaluate(run_dir: str | Path, data: Any = None, split: str = "test", device: Any = "auto",
             **data_kwargs: Any) -> dict[str, Any]:
    """Metrics of a saved run on a dataset split (default: the run's own test split).

    Without ``data`` (or with the run's own ``data``), the split is rebuilt from the run's
    whole recorded data configuration (``config.yaml``: fractions, seeds, caps, columns,
    ``skip_bad`` ...) and checked against the split fingerprint the run recorded: a
    mismatch (the data file changed since the fit) is an error. ``data_kwargs`` override
    recorded data keys. The result's ``"data"`` entry says what was evaluated. ``data`` may
    be a Python object (a DataFrame, ``(X, y)`` ...): the same content as the run's is its own
    data; a run fitted on one has to be given it again in a new process. The model runs on
    ``device`` (see :func:`load`).
    """
    from transferkit.config import data_reference

    data = data_reference(data)
    predictor = load(run_dir, device=device)
    read = predictor.task.evaluate_inputs(predictor, data, split, data_kwargs)
    if read is not None:  # a task that reads the run's data itself (a multimodal table)
        y, outputs, described = read
        metrics = predictor.task.metrics(y, outputs, predictor.manifest, detailed=True)
        return {**metrics, "data": described}
    recorded = _recorded_data_config(Path(run_dir))
    own = data is None or (recorded is not None and _same_data(data, recorded.get("data")))
    if own:
        if recorded is None:
            raise RunDirError(f"'{run_dir}' has no {CONFIG}, so the data it was fitted on is unknown; "
                              "pass the evaluation data (--data / data=...).")
        if not recorded.get("data"):
            raise NotFittedError(f"Run '{run_dir}' records no dataset; pass data=... to evaluate.")
        ds, checked = _own_split(Path(run_dir), predictor, {**recorded, **data_kwargs}, split)
    else:
        ds, checked = _other_data(predictor, str(data), split, data_kwargs), None
    if list(ds.classes) != predictor.classes:
        unseen = sorted(set(ds.classes) - set(predictor.classes))
        if unseen and ds.multi_label:
            raise DataError(f"The evaluation data has labels the model never saw: {unseen}. The model "
                            f"knows {predictor.classes}. Evaluate on data with only those labels.")
        if unseen:
            raise DataError(
                f"The evaluation data has classes the model never saw: {unseen}. The model "
                f"knows {predictor.classes}. Evaluate on data with only those classes, or refit "
                "with data that includes the new ones."
            )
        remap = np.array([predictor.classes.index(c) for c in ds.classes])
        if ds.multi_label:  # the model's label order; a label absent from the data is all 0
            y = np.zeros((len(ds), len(predictor.classes)), dtype=np.uint8)
            y[:, remap] = ds.y
            ds.y = y
        else:
            ds.y = remap[ds.y]
    outputs = predict_outputs(predictor.model, ds, predictor.task)
    metrics = predictor.task.metrics(ds.y, outputs, predictor.manifest, detailed=True)
    metrics["data"] = {"data": ds.name, "split": split, "n": len(ds), "own_split": own,
                       "fingerprint_checked": bool(checked)}
    return metrics


def _recorded_data_config(run: Path) -> dict[str, Any] | None:
    """The ``data`` section of the run's config.yaml ({} for a config without one)."""
    path = run / CONFIG
    if not path.is_file():
        return None
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RunDirError(f"'{path}' is corrupt ({exc}). Pass the evaluation data (--data), or "
                          "re-run the fit that wrote it.") from None
    section = cfg.get("data") if isinstance(cfg, dict) else None
    return dict(section) if isinstance(section, dict) else {}


def _same_data(given: str, recorded: Any) -> bool:
    """Whether ``given`` names the run's recorded data (the same name, or the same file)."""
    if recorded is None:
        return False
    if str(given) == str(recorded):
        return True
    with contextlib.suppress(OSError):
        return Path(given).exists() and Path(given).resolve() == Path(str(recorded)).resolve()
    return False


def _own_split(run: Path, predictor: Predictor, recorded: dict[str, Any], split: str
               ) -> tuple[Any, bool]:
    """The run's own ``split``, rebuilt from its recorded data configuration, and whether it
    was checked against the recorded fingerprint (runs written before fingerprints were
    recorded have none)."""
    from transferkit.config import DataConfig
    from transferkit.data import load as load_data
    from transferkit.data import load_splits
    from transferkit.options import from_dict
    from transferkit.pipeline.run import same_split, split_fingerprint

    try:
        cfg = from_dict(DataConfig, recorded, "data")
    except ConfigError as exc:
        raise RunDirError(f"The data section of '{run / CONFIG}' cannot be read by this transferkit "
                          f"({exc}) Pass the evaluation data explicitly (--data).") from None
    targets = predictor.task.targets
    if split == "all":
        keep = ("domain", "split_seed", "text_column", "label_column", "skip_bad", "impute",
                "group_column", "time_column", "label_separator", "label_columns")
        return load_data(cfg.data, split="all", targets=targets,
                         **{k: getattr(cfg, k) for k in keep}), False
    ds = getattr(load_splits(cfg, targets=targets), split)
    want = (predictor.manifest.get("fingerprints") or {}).get("splits", {}).get(split)
    if want is None:
        return ds, False
    got = split_fingerprint(ds)
    if not same_split(want, ds, got):
        raise DataError(
            f"The {split} split rebuilt from '{run / CONFIG}' ({len(ds)} rows of '{cfg.data}') is not "
            f"the one the run was fitted on: its fingerprint {got[:12]} differs from the one recorded "
            f"in {run / 'transferkit.json'} ({want[:12]}). The data changed since the fit (or is "
            "read differently now). Evaluate on data you name explicitly with --data (and "
            "--split all for every row), or refit on the current data.")
    return ds, True


def _other_data(predictor: Predictor, data: str, split: str, kwargs: dict[str, Any]) -> Any:
    """``split`` of data other than the run's own, split with the loader's defaults."""
    from transferkit.data import load as load_data

    schema = (predictor.manifest.get("data") or {}).get("schema")
    if predictor.modality == "table" and schema and "schema" not in kwargs:
        from transferkit.data.schema import TableSchema

        # missing cells take the fill values learned at fit time, as in predict
        kwargs = {**kwargs, "schema": TableSchema.from_dict(schema)}
    return load_data(data, split=split, targets=predictor.task.targets, **kwargs)


__all__ = ["Predictor", "evaluate", "load"]
