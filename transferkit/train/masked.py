"""Masked-value reconstruction: a self-supervised objective for series encoders.

Spans of each series' valid steps are hidden (set to 0, the standardised mean) and the
encoder's per-step features must give back the hidden values through a linear decoder,
as in the masked-value pretraining of TST (Zerveas et al., KDD 2021,
https://arxiv.org/abs/2010.02803)::

    loss = sum_{hidden (b, t)} || W h_{b,t} + c - x_{b,t} ||^2 / (#hidden * C)

``x`` is the encoder's prepared input (per-series and per-channel normalised), ``h``
``encode_steps`` of the input with the spans hidden. The objective plugs into the one
training loop (``Trainer(objective=...)``); its decoder trains with the encoder and is
dropped afterwards.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from transferkit.errors import ConfigError


def hidden_spans(mask: torch.Tensor, ratio: float, span: int, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """(B, T) bool: spans of ``span`` steps starting at random, about ``ratio`` of the valid steps."""
    starts = (torch.rand(mask.shape, generator=generator) < ratio / span).to(mask.dtype)  # (B, T)
    hidden = F.max_pool1d(F.pad(starts[:, None], (span - 1, 0)), span, stride=1)[:, 0]  # (B, T)
    return (hidden > 0) & (mask > 0)


class MaskedValueObjective(nn.Module):
    """``objective(model, batch, step) -> (loss, logs)`` for a sequence encoder ``model``.

    Parameters
    ----------
    backbone:
        A sequence encoder that offers ``prepared`` and ``encode_steps`` (per-step features).
    ratio:
        Share of the valid steps hidden per series.
    span:
        Length of each hidden span (steps); neighbouring values cannot simply be copied.
    """

    def __init__(self, backbone: Any, ratio: float = 0.3, span: int = 5, seed: int = 0) -> None:
        super().__init__()
        if not (hasattr(backbone, "prepared") and hasattr(backbone, "encode_steps")):
            raise ConfigError(f"Masked-value pretraining needs an encoder with per-step features "
                              f"(sequence:cnn, sequence:lstm); '{getattr(backbone, 'name', backbone)}' has "
                              "none. Pass --arch sequence:cnn, or pretrain it supervised.")
        if not 0.0 < ratio < 1.0 or span < 1:
            raise ConfigError(f"Masked-value pretraining hides a share 0 < ratio < 1 of the steps in spans "
                              f">= 1 step. Got ratio={ratio!r}, span={span!r}.")
        self.ratio, self.span = float(ratio), int(span)
        self.decoder = nn.Linear(backbone.feature_dim, backbone.in_channels)
        self.generator = torch.Generator().manual_seed(int(seed))

    def forward(self, model: Any, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, _labels = batch
        x, mask = model.prepared(inputs)  # (B, T, C), (B, T)
        hide = hidden_spans(mask.cpu(), self.ratio, self.span, self.generator).to(x.device)  # (B, T)
        if not hide.any():  # very short series: hide one valid step of each
            hide = mask > 0
        h = model.encode_steps(x * (~hide).unsqueeze(-1), mask)  # (B, T, H)
        err = (self.decoder(h) - x) ** 2 * hide.unsqueeze(-1)  # (B, T, C)
        loss = err.sum() / (hide.sum() * x.shape[-1]).clamp(min=1)
        return loss, {"masked_mse": float(loss.detach())}
