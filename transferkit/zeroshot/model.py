"""A zero-shot map as a run directory's model: backbone -> linear mapping -> name head.

A method whose scores are one linear map (``scores = x_std @ M @ s.T``, ESZSL, DeViSE and
the random control) becomes a :class:`~transferkit.model.TransferModel` that ``predict``,
``evaluate``, ``serve`` and ``export`` read like any other run:

* the mapping is transferkit's ``linear`` mapping with ``W = (M / std)^T`` and
  ``b = -(mean / std) @ M`` -- the standardisation of the seen training features folded in;
* the head is a linear layer whose rows are the class-name embeddings ``s_c`` of the
  classes the run predicts over (seen and unseen alike), divided by the training scores'
  standard deviation (so the softmax reads scores in standard deviations), with bias
  ``-gamma`` on the seen classes: calibrated stacking, as chosen on the seen classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from transferkit.errors import ConfigError
from transferkit.zeroshot._base import ZeroShotMethod


def zeroshot_model(backbone: Any, task: Any, method: ZeroShotMethod, mean: np.ndarray, std: np.ndarray,
                   s_pred: np.ndarray, seen_mask: Sequence[bool], gamma: float, scale: float) -> Any:
    """The TransferModel (see the module docstring) for ``s_pred`` (C, A) class embeddings."""
    from transferkit.mapping import MAPPINGS
    from transferkit.pipeline.build import new_model

    m = method.linear_map()
    if m is None:
        raise ConfigError(f"The '{method.name}' method is not one linear map, so it cannot be saved "
                          "as a run that predicts; its zero-shot metrics are in the summary. Use "
                          "--method eszsl or devise for a run that predicts and serves.")
    m = np.asarray(m, dtype=np.float64)  # (D, A)
    mapping = MAPPINGS.build("linear", in_dim=m.shape[0], out_dim=m.shape[1])
    model = new_model(backbone, task, len(s_pred), mapping, 0.0)
    scale = float(scale) or 1.0
    with torch.no_grad():
        mapping.linear.weight.copy_(torch.as_tensor((m / std[:, None]).T, dtype=torch.float32))
        mapping.linear.bias.copy_(torch.as_tensor(-(mean / std) @ m, dtype=torch.float32))
        model.head.weight.copy_(torch.as_tensor(np.asarray(s_pred) / scale, dtype=torch.float32))
        model.head.bias.copy_(torch.as_tensor(-gamma * np.asarray(seen_mask, dtype=np.float64) / scale,
                                              dtype=torch.float32))
    return model.eval()


__all__ = ["zeroshot_model"]
