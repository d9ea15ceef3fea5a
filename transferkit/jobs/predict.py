"""Using a run: ``load`` it for prediction and ``evaluate`` it on data.

>>> model = load("runs/fmnist")  # doctest: +SKIP
>>> model.predict(["shirt.png"]), model.predict_proba(["shirt.png"])  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from transferkit.errors import DataError, NotFittedError, RunDirError
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

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = read_manifest(self.run_dir)
        self.task = get_task(self.manifest.get("task"))
        self.classes: list[str] = list(self.manifest["classes"])
        self.modality: str = self.manifest["modality"]
        self.model = rebuild_model(self.manifest, self.run_dir)
        self.model.eval()

    def _items(self, inputs: Any) -> list[Any]:
        from transferkit.data.inputs import to_raw_items

        return to_raw_items(inputs, self.modality, self.manifest.get("data", {}))

    def predict_proba(self, inputs: Any, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, K) for user inputs (paths, arrays, texts, rows)."""
        return self.predict_proba_items(self._items(inputs), batch_size)

    def predict_proba_items(self, items: list[Any], batch_size: int = 64) -> np.ndarray:
        """Class probabilities for raw items (as ``collect_inputs`` returns them)."""
        return predict_items(self.model, items, self.task, batch_size)

    def predict(self, inputs: Any) -> list[Any]:
        return self.task.predictions(self.predict_proba(inputs), self.manifest)

    def prediction_rows(self, inputs: Any) -> list[dict[str, Any]]:
        """One dict per input as ``transferkit predict`` writes it (the task's columns)."""
        return self.task.prediction_rows(self.predict_proba(inputs), self.manifest)

    def __repr__(self) -> str:
        return f"Predictor('{self.run_dir}', {self.modality}, classes={self.classes})"


def load(run_dir: str | Path) -> Predictor:
    """Load a run directory for prediction (never unpickles anything): a local folder, or
    ``"hf://user/repo[@revision]"`` for a run pushed to the Hugging Face Hub."""
    from transferkit.hub import download_run, is_hub_ref

    return Predictor(download_run(run_dir) if is_hub_ref(run_dir) else run_dir)


def evaluate(run_dir: str | Path, data: str | None = None, split: str = "test",
             **data_kwargs: Any) -> dict[str, Any]:
    """Metrics of a saved run on a dataset split (default: the run's own test split)."""
    from transferkit.data import load as load_data

    predictor = load(run_dir)
    if data is None:
        if not (Path(run_dir) / CONFIG).is_file():
            raise RunDirError(f"'{run_dir}' has no {CONFIG}, so the data it was fitted on is unknown; "
                              "pass the evaluation data (--data / data=...).")
        cfg = yaml.safe_load((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
        data_cfg = cfg.get("data", {})
        data = data_cfg.get("data")
        for key in ("text_column", "label_column", "label_separator", "label_columns", "domain",
                    "split_seed", "max_test"):
            if data_cfg.get(key) not in (None, []) and key not in data_kwargs:
                data_kwargs[key] = data_cfg[key]
    if data is None:
        raise NotFittedError(f"Run '{run_dir}' records no dataset; pass data=... to evaluate.")
    ds = load_data(data, split=split, targets=predictor.task.targets, **data_kwargs)
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
    return predictor.task.metrics(ds.y, outputs, predictor.manifest, detailed=True)


__all__ = ["Predictor", "evaluate", "load"]
