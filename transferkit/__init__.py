"""transferkit: deep transfer learning from data to report in one command.

The public API::

    import transferkit as tk
    train = tk.data.load("digits", split="train", shots=10)
    feats = tk.extract_features("efficientnet_lite0", train)
    run = tk.fit(data="fashion-mnist", backbone="efficientnet_lite0", strategy="gradual", shots=10)
    model = tk.load(run.run_dir)
    model.predict(["shirt.png"])

Heavy modules (torch, timm, transformers) are imported on first use, so the
command-line tool starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module that defines it, attribute; None: the module itself). The jobs live
# in transferkit.jobs, so importing one never replaces the function of the same name here.
_LAZY: dict[str, tuple[str, str | None]] = {
    "data": ("transferkit.data", None),
    "tasks": ("transferkit.tasks", None),
    "extract_features": ("transferkit.features", "extract_features"),
    "FeatureCache": ("transferkit.features", "FeatureCache"),
    "create_backbone": ("transferkit.backbones", "create_backbone"),
    "fit": ("transferkit.jobs.fit", "fit"),
    "load": ("transferkit.jobs.predict", "load"),
    "evaluate": ("transferkit.jobs.predict", "evaluate"),
    "adapt": ("transferkit.jobs.adapt", "adapt"),
    "pretrain": ("transferkit.jobs.pretrain", "pretrain"),
    "rank": ("transferkit.jobs.rank", "rank"),
    "TransferClassifier": ("transferkit.estimator", "TransferClassifier"),
    "TransferRegressor": ("transferkit.estimator", "TransferRegressor"),
    "TransferModel": ("transferkit.model", "TransferModel"),
    "TransferkitError": ("transferkit.errors", "TransferkitError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")
