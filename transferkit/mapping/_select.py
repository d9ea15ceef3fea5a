"""Compare feature mappings experimentally and keep the best (``--mapping auto``).

The seed's answer to "how to design the mapping": train each candidate briefly on the
cached features, score it on validation data, keep the best. Only the feature mappings
of ``MAPPINGS`` take part, never the input adapters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.errors import DataError

logger = logging.getLogger("transferkit.mapping")

TrainFn = Callable[[nn.Module, nn.Module, torch.Tensor, torch.Tensor], Any]


def default_train_fn(mapping: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                     epochs: int = 100, lr: float = 1e-2, weight_decay: float = 1e-4,
                     batch_size: int = 512, seed: int = 0) -> list[float]:
    """Fit ``head(mapping(x))`` to ``y`` with Adam and cross-entropy; returns epoch losses.

    A head-on-features fit only: x are cached backbone features (N, D), y labels (N,).
    Whole-model training belongs to the project's one training loop, which plugs in
    through ``compare_mappings(train_fn=...)``.
    """
    mapping.train()
    head.train()
    params = [p for p in (*mapping.parameters(), *head.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(head(mapping(x[idx])), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(x))
    return losses


def _features(x: Any, name: str) -> torch.Tensor:
    arr = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    if arr.ndim != 2 or len(arr) == 0:
        raise DataError(f"The '{name}' parameter of compare_mappings must be a non-empty 2-D array "
                        f"(N, D). Got shape {arr.shape} instead.")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"The '{name}' parameter of compare_mappings holds NaN or infinite values.")
    return torch.from_numpy(arr)


def _checked_inputs(train_feats: Any, train_y: Any, val_feats: Any,
                   val_y: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """(x_train, y_train, x_val, y_val, classes): features as float tensors and labels as
    indices into the classes of both splits; errors name the mismatched argument."""
    x_tr, x_va = _features(train_feats, "train_feats"), _features(val_feats, "val_feats")
    if x_tr.shape[1] != x_va.shape[1]:
        raise DataError(f"compare_mappings: 'train_feats' has {x_tr.shape[1]} columns and 'val_feats' "
                        f"has {x_va.shape[1]}; both must come from the same backbone.")
    y_tr_raw, y_va_raw = np.asarray(train_y).reshape(-1), np.asarray(val_y).reshape(-1)
    for arr, feats, name in ((y_tr_raw, x_tr, "train_y"), (y_va_raw, x_va, "val_y")):
        if len(arr) != len(feats):
            raise DataError(f"The '{name}' parameter of compare_mappings must have one label per "
                            f"feature row ({len(feats)}). Got {len(arr)} labels.")
    classes, inverse = np.unique(np.concatenate([y_tr_raw, y_va_raw]), return_inverse=True)
    y_tr = torch.from_numpy(inverse[: len(y_tr_raw)].astype(np.int64))
    y_va = torch.from_numpy(inverse[len(y_tr_raw):].astype(np.int64))
    return x_tr, y_tr, x_va, y_va, classes


def compare_mappings(train_feats: Any, train_y: Any, val_feats: Any, val_y: Any,
                     names: Iterable[str] | None = None, epochs: int = 100, seed: int = 0, *,
                     out_dim: int | None = None, lr: float = 1e-2,
                     configs: Mapping[str, Any] | None = None,
                     train_fn: TrainFn | None = None,
                     keep_models: bool = False) -> list[dict[str, Any]]:
    """Train each mapping + a linear head on features; return results, best first.

    Each result is ``{"name", "val_accuracy", "train_accuracy", "seconds", "params"}``
    (plus ``"mapping"`` and ``"head"`` modules with ``keep_models=True``), sorted by
    validation accuracy, ties going to the mapping with fewer parameters.

    Parameters
    ----------
    train_feats, val_feats:
        Cached backbone features (N, D) and (M, D).
    train_y, val_y:
        Integer labels (N,) and (M,).
    names:
        Mappings to compare (default: every name in ``MAPPINGS``).
    epochs, lr, seed:
        Budget of the default head-on-features fit; ``seed`` also fixes each
        mapping's and head's initialisation, so the comparison is reproducible.
    out_dim:
        Output dimension for the mappings that can change it (identity keeps D).
    configs:
        Per-mapping config objects or dicts, ``{"mlp": {"hidden": 32}}``.
    train_fn:
        ``train_fn(mapping, head, x_train, y_train)`` trains both modules in place;
        defaults to :func:`default_train_fn`. Plug the project's training loop in here.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0); y = rng.integers(0, 2, 64)
    >>> x = rng.normal(size=(64, 4)) + 2 * y[:, None]
    >>> [r["name"] for r in compare_mappings(x, y, x, y, names=["identity"], epochs=5)]
    ['identity']
    """
    from transferkit.mapping import MAPPINGS

    x_tr, y_tr, x_va, y_va, classes = _checked_inputs(train_feats, train_y, val_feats, val_y)
    chosen = [MAPPINGS.entry(n).name for n in (MAPPINGS.names() if names is None else names)]
    configs = {MAPPINGS.entry(k).name: v for k, v in (configs or {}).items()}
    d = x_tr.shape[1]

    def fit(mapping: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
        return default_train_fn(mapping, head, x, y, epochs=epochs, lr=lr, seed=seed)

    results = []
    for name in chosen:
        torch.manual_seed(seed)
        start = time.perf_counter()
        out = out_dim if MAPPINGS.get(name).changes_dim else None
        mapping = MAPPINGS.build(name, configs.get(name), in_dim=d, out_dim=out)
        head = nn.Linear(mapping.out_dim, len(classes))
        (train_fn or fit)(mapping, head, x_tr, y_tr)
        mapping.eval()
        head.eval()
        with torch.no_grad():
            train_acc = float((head(mapping(x_tr)).argmax(1) == y_tr).float().mean())
            val_acc = float((head(mapping(x_va)).argmax(1) == y_va).float().mean())
        result: dict[str, Any] = {
            "name": name, "val_accuracy": val_acc, "train_accuracy": train_acc,
            "seconds": time.perf_counter() - start,
            "params": sum(p.numel() for p in mapping.parameters()),
        }
        if keep_models:
            result.update(mapping=mapping, head=head)
        logger.info("mapping %-10s val_accuracy %.4f  train_accuracy %.4f  %.2fs",
                    name, val_acc, train_acc, result["seconds"])
        results.append(result)
    results.sort(key=lambda r: (-r["val_accuracy"], r["params"]))
    return results
