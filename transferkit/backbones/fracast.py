"""``fracast``: the packaged Fracast-0 forecaster as a sequence backbone (pretrained, fine-tunable).

The ``fracast`` wheel ships Fracast-0 (an 85k-parameter causal dilated-convolution encoder
over a 2,048-step context and a quantile head forecasting 48 steps) with its weights as
safetensors inside the wheel, so it loads offline. transferkit runs it as Fracast's own
inference does (:class:`fracast.FracastModel`): each channel of a series separately, its last
2,048 values (fewer: left-padded and masked) scaled to [0, 1] by their min and range, the
encoder, then the head's quantiles scaled back. A series' features, per channel, are

- Fracast-0's median forecast of the next 48 steps, **in the units of the input** (so a
  linear head on them starts from Fracast's zero-shot forecast), and
- the encoder's state at the last step (64 numbers, in Fracast's scaled units),

``(B, C * (48 + 64))``, channel-major. With the linear probe (closed-form ridge for
forecasting, the backbone's ``probe_solver``) the head corrects Fracast's forecast;
``lags+fracast`` adds the series' last values beside them (so seasonal naive and the
context mean are linear in the features too, and the probe can shrink towards Fracast's own
forecast: :meth:`FracastBackbone.forecast_columns` says where it sits, the task's "pretrained
forecast" prior). ``--strategy full`` fine-tunes the encoder and
Fracast's head through the one training loop; ``partial`` trains Fracast's head only.

Cost: the encoder always reads 2,048 steps, whatever the series' length -- about 50 ms per
series and channel forward on 2 cores (batches of 128), about 0.6 s per training step of 8
series (measured 2026-12-04, a 2-core Xeon). Features are computed once and cached for the
probe; fine-tuning on a CPU is slow (a GPU is used when present). Beyond 48 steps the
features do not extend the forecast (Fracast's own ``forecast`` rolls forward; a head here
maps the 48 steps to the task's horizon). A ``--shots`` fit that fine-tunes it takes its
:attr:`~FracastBackbone.few_shot_recipe` for the settings the user left alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from transferkit.backbones import BACKBONES
from transferkit.backbones.base import Backbone
from transferkit.backbones.sequence import padded_batch
from transferkit.errors import BackboneError, ConfigError, DataError, NotFittedError

#: the encoder windows ``fracast:<W>`` accepts (powers of two; 2,048 is Fracast-0's own)
WINDOWS = (16, 2048)


def window_for(length: int) -> int:
    """The ``fracast:<W>`` window that reads series of ``length`` steps whole: the smallest
    power of two >= ``length``, within :data:`WINDOWS`."""
    return min(WINDOWS[1], max(WINDOWS[0], 1 << max(int(length) - 1, 0).bit_length()))


#: how to install the model's package (the ``series`` extra installs it too)
FRACAST_INSTALL = "pip install fracast==0.1.0 (or pip install 'transferkit[series]')"


def _package() -> Any:
    try:
        import fracast
    except ImportError:
        raise BackboneError(f"The fracast backbone needs the fracast package: {FRACAST_INSTALL}.") from None
    return fracast


def load_fracast(pretrained: bool = True) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, Any]]:
    """(encoder, head, model config) of Fracast-0: the wheel's fp32 weights, or the same
    architecture from random init (``pretrained=False``: a scratch baseline, or a run's own
    weights loaded afterwards)."""
    fracast = _package()
    cfg = json.loads((Path(fracast.__file__).parent / "weights" / "config.json").read_text(encoding="utf-8"))
    if pretrained:
        model = fracast.FracastModel.from_pretrained(weights="fp32")  # the weights inside the wheel
        return model.core, model.head, cfg["model"]
    from fracast._core.model import build_from_cfg  # the wheel's own constructor

    core, head = build_from_cfg({k: cfg[k] for k in ("model", "pyramid")})
    return core, head, cfg["model"]


@BACKBONES.register("fracast", help="Fracast-0, the packaged pretrained forecaster (85k parameters): "
                    "its 48-step forecast and last state as features; fine-tunable.")
class FracastBackbone(Backbone):
    """``(B, T, C) -> (B, C * (48 + 64))``: per channel, Fracast-0's median forecast (input
    units) and its encoder's last state."""

    family = "fracast"
    modality = "sequence"
    prefixes = ("fracast:", "fracast")
    usage = ("fracast", "fracast:<W>", "lags+fracast")
    requires = "fracast"
    #: a linear map from a forecast and a state: ridge in closed form (the task's own solver)
    probe_solver = "ridge"
    #: TS1's end-to-end recipe (benchmarks/ts1_series.py): on fit's defaults (10 epochs of
    #: batch 32, the encoder at 0.1x the head's rate) 16 labelled series give 10 steps and
    #: Fracast-0 + full stays at chance on italy-power-demand (49 %); with these, 89.3 %
    few_shot_recipe = {"train.epochs": 30, "train.batch_size": 8, "train.lr": 0.003, "train.patience": 10,
                       "strategy_params.backbone_lr_ratio": 1.0}

    def __init__(self, pretrained: bool = True, in_channels: int | None = None,
                 window: int | None = None) -> None:
        super().__init__()
        self.core, self.fc_head, model_cfg = load_fracast(pretrained)
        self.pretrained = bool(pretrained)
        self.context_length = self.max_window = int(model_cfg["W"])
        self.name = "fracast"
        if window is not None and int(window) != self.context_length:
            self._set_window(int(window))
        self.horizon = int(model_cfg["horizon"])
        levels = [float(q) for q in model_cfg["quantiles"]]
        self.median = int(np.argmin(np.abs(np.asarray(levels) - 0.5)))
        self.state_dim = int(model_cfg["d_model"])
        self.per_channel = self.horizon + self.state_dim
        self.in_channels: int | None = None
        if in_channels:
            self._allocate(int(in_channels))

    def _set_window(self, w: int) -> None:
        """Run the encoder over the last ``w`` steps instead of Fracast-0's 2,048: the same
        weights (its convolutions, recency channels and periodogram take any length), other
        inputs -- the recency channels span the shorter window and less of it is padding."""
        self.core.W = w
        self.core.level_widths = [w]
        if self.core.periodic is not None:
            self.core.periodic.W = w
        self.context_length = w
        self.name = f"fracast:{w}"

    def _allocate(self, c: int) -> None:
        self.in_channels = c
        self.feature_dim = c * self.per_channel

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> FracastBackbone:
        window = None
        if spec:
            window = int(spec) if spec.strip().isdigit() else 0
            if not WINDOWS[0] <= window <= WINDOWS[1] or window & (window - 1):
                raise ConfigError(f"'fracast:{spec}': the argument is the encoder's window, a power of two "
                                  f"from {WINDOWS[0]} to {WINDOWS[1]} (Fracast-0's own), e.g. 'fracast:256' "
                                  "for series of up to 256 steps; 'fracast' keeps 2,048.")
        if weights:
            raise ConfigError("The fracast backbone loads the weights inside the fracast wheel; to "
                              "start from a fitted run's weights, give that run as --backbone.")
        return cls(pretrained=pretrained, window=window)

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> FracastBackbone:
        # the architecture only: a run's weights are loaded from its safetensors afterwards
        return cls(pretrained=False, in_channels=desc.get("in_channels"),
                   window=desc.get("context_length"))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[FracastBackbone, Any]:
        from transferkit.data.dataset import TransferDataset

        x = np.random.default_rng(0).normal(size=(4, 24, 2)).astype(np.float32)
        data = TransferDataset("tiny-series", "sequence", x, np.arange(4) % 2, ["a", "b"])
        bb = cls()
        bb.adapt_to(data)
        return bb, data

    # ------------------------------------------------------------------ fitting
    def adapt_to(self, data: Any) -> None:
        """The number of channels (each runs through Fracast on its own)."""
        first = np.asarray(data.input(0) if hasattr(data, "input") else data[0], dtype=np.float32)
        self._allocate(1 if first.ndim == 1 else int(first.shape[1]))

    def advice(self, data: Any) -> str | None:
        """Where the training series are at most a quarter of the window: the ``fracast:<W>``
        that reads them whole without padding them to 2,048 steps."""
        n = len(data)
        if not n or self.context_length != self.max_window:
            return None
        longest = max(len(np.asarray(data.input(i) if hasattr(data, "input") else data[i]))
                      for i in range(min(n, 2000)))
        w = window_for(longest)
        if 4 * w > self.context_length:
            return None
        return (f"  tip: the longest training series has {longest} steps and Fracast-0 pads each to "
                f"{self.context_length:,}; --backbone fracast:{w} runs the same weights over the last {w} "
                "steps, several times faster (TS1: 2-10 s per fine-tuning run instead of 20-42 s; "
                "docs/tasks.md#series-classification)")

    # ------------------------------------------------------------------ the contract
    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        """Series ``(T, C)`` -> ``{"x": (B, T_max, C), "lengths": (B,)}``, zero-padded."""
        if self.in_channels is None:
            raise NotFittedError("The fracast backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        arrays = [np.asarray(a, dtype=np.float32) for a in items]
        arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != self.in_channels or len(a) == 0:
                raise DataError(f"Series {i} of the batch has shape {a.shape}; this fracast backbone "
                                f"was fitted on series of shape (T, {self.in_channels}) with T >= 1.")
        return padded_batch(arrays, self.in_channels)

    def scaled_context(self, x: torch.Tensor, lengths: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fracast's inputs for rows ``x`` (N, T) of ``lengths`` valid steps: (values (N, 1, W)
        in [0, 1], observed (N, 1, W), loc (N, 1), span (N, 1)) -- the last W steps of each row,
        right-aligned, scaled by their own min and range (missing values masked)."""
        n, t = x.shape
        w = self.context_length
        keep = min(t, w)
        pos = lengths[:, None] - keep + torch.arange(keep, device=x.device)[None, :]  # (N, keep)
        tail = torch.gather(x, 1, pos.clamp(min=0))
        seen = (pos >= 0) & torch.isfinite(tail)
        any_seen = seen.any(1, keepdim=True)
        loc = torch.where(seen, tail, torch.full_like(tail, torch.inf)).amin(1, keepdim=True)
        top = torch.where(seen, tail, torch.full_like(tail, -torch.inf)).amax(1, keepdim=True)
        loc = torch.where(any_seen, loc, torch.zeros_like(loc))
        span = torch.where(any_seen, top - loc, torch.ones_like(loc)).clamp(min=1e-5)
        scaled = torch.where(seen, (tail - loc) / span, torch.zeros_like(tail))
        values = F.pad(scaled, (w - keep, 0))[:, None, :]
        observed = F.pad(seen, (w - keep, 0))[:, None, :]
        return values, observed, loc, span

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, C * (48 + 64))
        if self.in_channels is None:
            raise NotFittedError("The fracast backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        x, lengths = inputs["x"], inputs["lengths"].to(inputs["x"].device).long()
        b, t, c = x.shape
        rows = x.float().permute(0, 2, 1).reshape(b * c, t)
        values, observed, loc, span = self.scaled_context(rows, lengths.repeat_interleave(c))
        hidden = self.core(values, observed, observed.float())  # (BC, W, D)
        quantiles = self.fc_head.forward_horizon(hidden, last_obs=values[:, 0, -1:], ctx=values[:, 0],
                                                 ctx_mask=observed[:, 0])  # (BC, 48, Q), scaled
        forecast = quantiles[:, :, self.median] * span + loc  # back in the input's units
        return torch.cat([forecast, hidden[:, -1]], dim=1).reshape(b, c * self.per_channel)

    def forecast_columns(self) -> np.ndarray | None:
        """``(C, 48)``: channel ``c``'s median forecast sits in columns ``c * 112 + s`` (the
        input's units); None before :meth:`adapt_to` has set the channels."""
        if self.in_channels is None:
            return None
        return (np.arange(self.in_channels)[:, None] * self.per_channel
                + np.arange(self.horizon)[None, :])  # (C, 48)

    def blocks(self) -> list[torch.nn.Module]:
        """Fracast's encoder, then its forecast head (``partial`` trains the head)."""
        return [self.core, self.fc_head]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "in_channels": self.in_channels,
                "context_length": self.context_length, "horizon": self.horizon,
                "preprocessing": f"each channel on its own: its last {self.context_length:,} values (fewer: left-padded and "
                                 "masked; missing values masked), scaled to [0, 1] by their min and range; "
                                 "features = Fracast-0's median forecast of 48 steps in the input's units, "
                                 "then the encoder's last state (64)"}


__all__ = ["FRACAST_INSTALL", "WINDOWS", "FracastBackbone", "load_fracast", "window_for"]
