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

# public name -> module that defines it
_LAZY = {
    "data": "transferkit.data",
    "extract_features": "transferkit.features",
    "FeatureCache": "transferkit.features",
    "create_backbone": "transferkit.backbones",
    "fit": "transferkit.api",
    "load": "transferkit.api",
    "adapt": "transferkit.adapt",
    "pretrain": "transferkit.pretrain",
    "rank": "transferkit.auto",
    "TransferClassifier": "transferkit.estimator",
    "TransferModel": "transferkit.model",
    "TransferkitError": "transferkit.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if _LAZY[name].endswith("." + name) else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")
