"""Hand-made run directories for the report/export/serve/runs tests.

``make_run(tmp_path, family)`` builds the family's tiny random-init backbone (see
``Backbone.tiny_example``), puts a TransferModel on it, saves it with the pipeline's own
``save_run`` and writes a summary.json and metrics.jsonl shaped like the ones ``fit``
writes, in milliseconds and without training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def make_run(tmp_path: Path, family: str = "tabular", *, name: str | None = None,
             warnings: list[str] | None = None, with_log: bool = True) -> tuple[Path, Any]:
    """(run_dir, data): a complete run directory for ``family`` and its tiny dataset."""
    from transferkit.backbones import BACKBONES
    from transferkit.model import TransferModel
    from transferkit.pipeline import Run, Summary, predict_outputs
    from transferkit.tasks import get_task
    from transferkit.tasks.classification import classification_metrics

    torch.manual_seed(0)
    backbone, data = BACKBONES.get(family).tiny_example(tmp_path / f"{family}-work")
    if family == "tabular":
        backbone.adapt_to(data)
    model = TransferModel(backbone, len(data.classes)).eval()
    run_dir = tmp_path / (name or f"run-{family}")
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run("fit", out=run_dir)
    run.save_model(model, get_task(), data)
    probs = predict_outputs(model, data)
    test = classification_metrics(data.y, probs, list(data.classes), detailed=True)
    if with_log:
        lines = [{"stage": "head", "step": s, "epoch": s, "train_loss": 1.0 / s,
                  "val_accuracy": 0.5 + 0.05 * s, "lr": 0.001} for s in range(1, 6)]
        lines += [{"stage": "unfrozen", "step": s, "epoch": s, "train_loss": 0.2 / s,
                   "val_accuracy": 0.8 + 0.02 * s, "lr": 0.0005} for s in range(1, 4)]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    summary = {
        "transferkit_version": "0.1.0", "task": "classification", "command": "fit",
        "data": {"target": data.name, "source": None, "n_train": len(data), "n_val": 0,
                 "n_test": len(data), "classes": list(data.classes)},
        "backbone": f"{family}-tiny", "strategy": "linear-probe",
        "choice": "strategy 'linear-probe' and backbone were given explicitly",
        "metrics": {"val": {}, "test": test},
        "baselines": {"scratch": {"test": {"accuracy": 0.4, "balanced_accuracy": 0.4,
                                           "macro_f1": 0.35, "ece": 0.2}, "train_s": 0.5},
                      "source_only": None,
                      "oracle": {"test": {"accuracy": 0.99, "balanced_accuracy": 0.99,
                                          "macro_f1": 0.99, "ece": 0.01}},
                      "majority": {"accuracy": 0.5, "balanced_accuracy": 0.5}},
        "transfer_gain": test["accuracy"] - 0.4,
        "selection": {"split": "val", "validator": None},
        "stages": [{"stage": "head", "best_metric": 0.75, "steps": 5, "stopped": "completed",
                    "seconds": 0.1}],
        "timings": {"total_s": 1.25, "features_s": 0.5, "train_s": 0.5},
        "warnings": list(warnings or []),
    }
    run.finish(Summary(**summary))
    return run_dir, data


