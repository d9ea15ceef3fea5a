"""``lags``: a series' last L values as its features -- with the linear probe, a linear
autoregression from the context to the forecast (NLinear/DLinear, Zeng et al. 2023, "Are
Transformers Effective for Time Series Forecasting?").

``lags`` keeps the training series' length L; ``lags:<L>`` sets it. Each ``(T, C)`` series
gives its last L steps, every channel, flattened step-major: ``(B, L * C)``. A series
shorter than L is padded on the left with its first value; a missing value takes its
channel's training mean. Nothing in it trains (no blocks): it is probed, by default in
closed form (``probe_solver = "ridge"``: the forecasting task fits a ridge map from the
features to the H outputs, its L2 strength chosen on the validation origins; see
:meth:`transferkit.tasks.forecasting.ForecastingTask.solve_head`). Forecasting windows
arrive scaled by their own context, so the probe is NLinear's map on normalised inputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.backbones import BACKBONES
from transferkit.backbones.base import Backbone
from transferkit.backbones.sequence import padded_batch
from transferkit.errors import BackboneError, ConfigError, DataError, NotFittedError


@BACKBONES.register("lags", help="A series' last L values as features (a linear autoregression "
                    "when probed; frozen).")
class LagsBackbone(Backbone):
    """``(B, T, C) -> (B, L * C)``: the last L steps of each series, flattened."""

    family = "lags"
    modality = "sequence"
    prefixes = ("lags:", "lags")
    usage = ("lags", "lags:<L>")
    #: a linear map from the context: ridge in closed form (the task's own solver)
    probe_solver = "ridge"
    #: why a fit without --strategy probes it (see ``pipeline.build.default_strategy``)
    fixed_features = "takes the series' own last values as features (nothing in it trains)"

    def __init__(self, length: int | None = None, in_channels: int | None = None) -> None:
        super().__init__()
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise ConfigError(f"The length of 'lags:<L>' must be an int >= 1, e.g. 'lags:24'. Got {length!r}.")
        self.length, self.fixed = length, length is not None
        self.name = "lags" if length is None else f"lags:{length}"
        self.in_channels: int | None = None
        if in_channels:
            self._allocate(int(in_channels), int(length or 1))

    def _allocate(self, c: int, length: int) -> None:
        self.in_channels, self.length = c, length
        self.feature_dim = length * c
        self.register_buffer("fill", torch.zeros(c))  # a missing value -> the channel's training mean

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> LagsBackbone:
        if weights:
            raise ConfigError("The lags backbone has no weights to load: its features are the series' own "
                              "last values. Drop --backbone-weights.")
        try:
            return cls(int(spec) if spec else None)
        except ValueError:
            raise ConfigError(f"'lags:{spec}' must name a number of steps, e.g. 'lags:24'. Got {spec!r}.") from None

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> LagsBackbone:
        bb = cls(int(desc["length"]), in_channels=desc.get("in_channels"))
        bb.fixed = bool(desc.get("fixed", False))
        bb.name = desc.get("name", bb.name)
        return bb

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[LagsBackbone, Any]:
        from transferkit.data.dataset import TransferDataset

        x = np.random.default_rng(0).normal(size=(6, 12, 2)).astype(np.float32)
        data = TransferDataset("tiny-series", "sequence", x, np.arange(6) % 2, ["a", "b"])
        bb = cls()
        bb.adapt_to(data)
        return bb, data

    # ------------------------------------------------------------------ fitting
    def adapt_to(self, data: Any) -> None:
        """Channels and L (the longest training series, unless ``lags:<L>`` set it), and
        each channel's training mean for missing values."""
        items = [np.asarray(data.input(i), dtype=np.float32) for i in range(len(data))] \
            if hasattr(data, "input") else [np.asarray(a, dtype=np.float32) for a in data]
        if not items:
            raise DataError("Cannot adapt the lags backbone to an empty dataset.")
        items = [a[:, None] if a.ndim == 1 else a for a in items]
        length = self.length if self.fixed and self.length else max(len(a) for a in items)
        self._allocate(items[0].shape[1], int(length))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing channel
            self.fill.copy_(torch.as_tensor(np.nan_to_num(np.nanmean(np.concatenate(items), 0))))

    # ------------------------------------------------------------------ the contract
    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        """Series ``(T, C)`` -> ``{"x": (B, T_max, C), "lengths": (B,)}``, zero-padded."""
        if self.in_channels is None:
            raise NotFittedError("The lags backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        arrays = [np.asarray(a, dtype=np.float32) for a in items]
        arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != self.in_channels or len(a) == 0:
                raise DataError(f"Series {i} of the batch has shape {a.shape}; this lags backbone was "
                                f"fitted on series of shape (T, {self.in_channels}) with T >= 1.")
        return padded_batch(arrays, self.in_channels)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, L * C)
        if self.in_channels is None:
            raise NotFittedError("The lags backbone has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        x, lengths = inputs["x"], inputs["lengths"].to(inputs["x"].device).long()
        x = torch.where(torch.isnan(x), self.fill.to(x), x)
        length = int(self.length or 1)
        # position j of the output reads step (len - L + j), clamped to the first step
        pos = lengths[:, None] - length + torch.arange(length, device=x.device)[None, :]  # (B, L)
        pos = pos.clamp(min=0)
        out = torch.gather(x, 1, pos.unsqueeze(-1).expand(-1, -1, x.shape[2]))  # (B, L, C)
        return out.flatten(1)  # (an export's batch axis stays dynamic)

    def context_columns(self) -> np.ndarray | None:
        """``(C, L)``: channel ``c``'s value at step ``s`` sits in column ``s * C + c``; None
        before :meth:`adapt_to` has set the channels."""
        if self.in_channels is None:
            return None
        return np.arange(int(self.length or 1) * self.in_channels).reshape(-1, self.in_channels).T

    def blocks(self) -> list[torch.nn.Module]:
        raise BackboneError("The lags backbone does not list its blocks: its features are the series' "
                            "own values and nothing in it trains. Use --strategy linear-probe.")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "length": self.length, "in_channels": self.in_channels,
                "fixed": self.fixed,
                "preprocessing": "the last L steps of each series, every channel, flattened step-major; "
                                 "a shorter series padded on the left with its first value; a missing "
                                 "value -> its channel's training mean"}


@BACKBONES.register("lags+", help="An encoder's features with the series' last L values beside them "
                    "(a linear path next to the network).")
class LagsPlusBackbone(Backbone):
    """``lags+<encoder>`` (e.g. ``lags+sequence:cnn``): ``[encoder(x), lags(x)]``, so the
    head is a linear map from the context added to the encoder's correction (DLinear's
    linear path beside a network). The encoder's blocks are its blocks: strategies train it
    as they would alone."""

    family = "lags+"
    modality = "sequence"
    usage = ("lags+sequence:cnn",)
    has_pretrained_weights = False  # the encoder trains end to end (a run directory: its weights)

    @classmethod
    def starts_pretrained(cls, rest: str) -> bool:
        """As its encoder does: ``lags+fracast`` starts pretrained, ``lags+sequence:cnn`` does not."""
        from transferkit.backbones import starts_pretrained

        return starts_pretrained(rest)

    @classmethod
    def is_installed(cls, rest: str) -> bool:
        """As its encoder is: ``lags+fracast`` needs fracast."""
        from transferkit.backbones import installed

        return installed(rest)

    def __init__(self, inner: Backbone, lags: LagsBackbone | None = None) -> None:
        super().__init__()
        self.inner, self.lags = inner, lags if lags is not None else LagsBackbone()
        self.name = f"lags+{inner.name}"
        self.feature_dim = inner.feature_dim + self.lags.feature_dim

    @classmethod
    def read_spec(cls, spec: str) -> str | None:
        return spec[len("lags+"):] if spec.lower().startswith("lags+") else None

    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> LagsPlusBackbone:
        from transferkit.backbones import create_backbone

        if not spec:
            raise ConfigError("'lags+' needs a sequence encoder after it, e.g. 'lags+sequence:cnn'.")
        inner = create_backbone(spec, weights=weights, pretrained=pretrained)
        if getattr(inner, "modality", "") != "sequence":
            raise ConfigError(f"'lags+{spec}' needs a sequence encoder after 'lags+'; '{spec}' reads "
                              f"{getattr(inner, 'modality', '?')} data. Use e.g. 'lags+sequence:cnn'.")
        return cls(inner)

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> LagsPlusBackbone:
        from transferkit.backbones import from_description

        return cls(from_description(desc["inner"]), LagsBackbone.from_description(desc["lags"]))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[LagsPlusBackbone, Any]:
        from transferkit.backbones.sequence import SequenceBackbone

        inner, data = SequenceBackbone.tiny_example(workdir)
        bb = cls(inner)
        bb.adapt_to(data)
        return bb, data

    def adapt_to(self, data: Any) -> None:
        self.inner.adapt_to(data)
        self.lags.adapt_to(data)
        self.feature_dim = self.inner.feature_dim + self.lags.feature_dim

    def describe_adapter(self) -> str | None:
        describe = getattr(self.inner, "describe_adapter", None)
        return describe() if callable(describe) else None

    def collate(self, items: list[Any]) -> Any:
        return self.inner.collate(items)

    def forward(self, inputs: Any) -> torch.Tensor:  # (B, D_inner + L * C)
        return torch.cat([self.inner(inputs), self.lags(inputs)], dim=1)

    def blocks(self) -> list[torch.nn.Module]:
        return self.inner.blocks()

    def forecast_columns(self) -> np.ndarray | None:
        """The encoder's forecast columns (its features come first, so they keep their place)."""
        return self.inner.forecast_columns()

    def context_columns(self) -> np.ndarray | None:
        """The lags' columns, after the encoder's features."""
        cols = self.lags.context_columns()
        return None if cols is None else cols + self.inner.feature_dim

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "inner": self.inner.describe(), "lags": self.lags.describe(),
                "preprocessing": f"[{self.inner.describe().get('preprocessing', '')}] features, then the "
                                 "series' last L values (lags)"}
