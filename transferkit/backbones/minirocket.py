"""MiniRocket: random-convolution features for series, a frozen sequence backbone.

Dempster, Schmidt & Webb 2021, "MINIROCKET: A Very Fast (Almost) Deterministic Transform
for Time Series Classification" (https://arxiv.org/abs/2012.08791). Feature j of a series
x is the proportion of positive values (PPV) of one dilated convolution minus a bias::

    C_t = sum_{i=0..8} w_i x_{t + (i - 4) d}        (zero padding)
    f_j = mean_t [C_t > b_j]

with the 84 kernels of length 9 whose weights are -1 except three 2s (every choice of 3
positions of 9), dilations d = floor(2^e) for e evenly spaced in [0, log2((T - 1) / 8)]
(``max_dilations`` of them, repeats merged), biases b_j = quantiles of the convolution
output of a random training series (quantile levels frac(k * golden ratio)), and, for
half of the (dilation, kernel) pairs alternately, PPV over the steps the kernel sees
without padding only. Multivariate series: each (dilation, kernel) pair sums its
convolution over a random subset of 1..min(C, 9) channels, as MiniRocket's multivariate
variant does. Nothing trains: ``fit`` probes the features (``--strategy linear-probe``) with
the authors' classifier, a ridge on standardised features with leave-one-out alpha
(``probe_solver = "ridge"``).

Written in torch (the reference implementation needs numba); ``backbone minirocket`` or
``minirocket:<features>`` (default 9,996 = 84 x 119). Series of different lengths: the
dilations follow the longest training series; a shorter series' features average over its
own steps. A missing value takes its channel's training mean.
"""

from __future__ import annotations

import warnings
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from transferkit.backbones import BACKBONES
from transferkit.backbones.base import Backbone
from transferkit.backbones.sequence import padded_batch
from transferkit.errors import BackboneError, ConfigError, DataError, NotFittedError

KERNEL_LENGTH = 9
#: the 84 kernels: -1 everywhere but 2 at three of the nine positions
KERNELS = np.array([[2.0 if i in idx else -1.0 for i in range(KERNEL_LENGTH)]
                    for idx in combinations(range(KERNEL_LENGTH), 3)], dtype=np.float32)
N_KERNELS = len(KERNELS)
DEFAULT_FEATURES = 9996
MAX_DILATIONS = 32


def fit_dilations(length: int, num_features: int = DEFAULT_FEATURES,
                  max_dilations: int = MAX_DILATIONS) -> tuple[np.ndarray, np.ndarray]:
    """(dilations, features per dilation per kernel) for series of ``length`` steps."""
    per_kernel = num_features // N_KERNELS
    true_max = min(per_kernel, max_dilations)
    multiplier = per_kernel / true_max
    max_exponent = max(0.0, float(np.log2((length - 1) / (KERNEL_LENGTH - 1)))) if length > 1 else 0.0
    dilations, counts = np.unique(np.logspace(0, max_exponent, true_max, base=2).astype(np.int64),
                                  return_counts=True)
    counts = (counts * multiplier).astype(np.int64)
    remainder, i = per_kernel - int(counts.sum()), 0
    while remainder > 0:
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return dilations, counts


def quantile_levels(n: int) -> np.ndarray:
    """frac(k * golden ratio) for k = 1..n: the quantiles the biases are taken at."""
    return np.array([(k * ((np.sqrt(5) + 1) / 2)) % 1 for k in range(1, n + 1)], dtype=np.float64)


def convolve(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """The 84 kernels at one dilation, per channel: (B, C, T) -> (B, C, 84, T), zero padding."""
    b, c, t = x.shape
    xp = F.pad(x.reshape(b * c, t), (4 * dilation, 4 * dilation))  # (BC, T + 8d)
    taps = torch.stack([xp[:, i * dilation: i * dilation + t] for i in range(KERNEL_LENGTH)], -1)  # (BC, T, 9)
    out = taps @ torch.from_numpy(KERNELS).to(x).T  # (BC, T, 84)
    return out.reshape(b, c, t, N_KERNELS).transpose(2, 3)


def ppv(conv: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean over the masked steps of [conv > bias], for every bias of each row.

    ``conv`` (B, K, T), ``bias`` (K, n), ``mask`` (B, K, T) of 0/1 -> (B, K, n). Counts by
    sorting each row once and binary-searching the biases (no (B, K, T, n) comparison)."""
    ordered = torch.where(mask > 0, conv, torch.full_like(conv, -torch.inf)).sort(-1).values
    edges = bias[None].expand(conv.shape[0], -1, -1).contiguous()  # (B, K, n)
    above = conv.shape[-1] - torch.searchsorted(ordered.contiguous(), edges, right=True)
    return above.to(conv.dtype) / mask.sum(-1, keepdim=True).clamp(min=1)


@BACKBONES.register("minirocket", help="MiniRocket random-convolution features for series (frozen).")
class MiniRocketBackbone(Backbone):
    """``(B, T, C) -> (B, num_features)`` PPV features of fixed random convolutions."""

    family = "minirocket"
    modality = "sequence"
    prefixes = ("minirocket:", "minirocket")
    usage = ("minirocket", "minirocket:<features>")
    #: the authors' probe: thousands of PPV features on a scale of their own, a few labelled
    #: series -- RidgeClassifierCV on standardised features, alpha by leave-one-out (TS1:
    #: gunpoint 5/class, train split only, 91-95 % vs 85-93 % for the logistic probe)
    probe_solver = "ridge"
    #: random kernels and biases from the target's own series: nothing learned elsewhere
    transfers_weights = False

    def __init__(self, num_features: int = DEFAULT_FEATURES, seed: int = 0,
                 fitted: dict[str, Any] | None = None) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < N_KERNELS:
            raise ConfigError(f"The number of MiniRocket features must be an int >= {N_KERNELS} (one per "
                              f"kernel), e.g. 'minirocket:9996'. Got {num_features!r} instead.")
        self.num_features = N_KERNELS * (num_features // N_KERNELS)
        self.seed = int(seed)
        self.name = "minirocket" if num_features == DEFAULT_FEATURES else f"minirocket:{num_features}"
        self.feature_dim = self.num_features
        self.fitted: dict[str, Any] | None = None
        if fitted:
            self._allocate(fitted)

    def _allocate(self, fitted: dict[str, Any]) -> None:
        """Buffers for a fit of ``fitted`` (in_channels, length, dilations, counts)."""
        self.fitted = {k: (list(map(int, v)) if isinstance(v, (list, np.ndarray)) else int(v))
                       for k, v in fitted.items()}
        n_dil, c = len(self.fitted["dilations"]), self.fitted["in_channels"]
        self.register_buffer("biases", torch.zeros(self.num_features))
        self.register_buffer("selection", torch.zeros(n_dil, N_KERNELS, c))  # channels summed per pair
        self.register_buffer("fill", torch.zeros(c))  # a missing value -> the channel's training mean

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> MiniRocketBackbone:
        if weights:
            raise ConfigError("MiniRocket has no weights to load: its kernels are fixed and its biases "
                              "are fitted on the training series. Drop --backbone-weights.")
        try:
            n = int(spec) if spec else DEFAULT_FEATURES
        except ValueError:
            raise ConfigError(f"'minirocket:{spec}' must name a number of features, e.g. "
                              f"'minirocket:9996'. Got {spec!r}.") from None
        return cls(n)

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> MiniRocketBackbone:
        return cls(int(desc.get("num_features", DEFAULT_FEATURES)), seed=int(desc.get("seed", 0)),
                   fitted=desc.get("fitted"))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[MiniRocketBackbone, Any]:
        from transferkit.data.dataset import TransferDataset

        x = np.random.default_rng(0).normal(size=(6, 30, 2)).astype(np.float32)
        data = TransferDataset("tiny-series", "sequence", x, np.arange(6) % 2, ["a", "b"])
        bb = cls(168)
        bb.adapt_to(data)
        return bb, data

    # ------------------------------------------------------------------ fitting
    def adapt_to(self, data: Any) -> None:
        """Fit dilations (longest training series), channel subsets and biases."""
        items = [np.asarray(data.input(i), dtype=np.float32) for i in range(len(data))] \
            if hasattr(data, "input") else [np.asarray(a, dtype=np.float32) for a in data]
        if not items:
            raise DataError("Cannot fit MiniRocket to an empty dataset.")
        items = [a[:, None] if a.ndim == 1 else a for a in items]
        c, length = items[0].shape[1], max(len(a) for a in items)
        dilations, counts = fit_dilations(length, self.num_features)
        self._allocate({"in_channels": c, "length": length, "dilations": dilations.tolist(),
                        "counts": counts.tolist()})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing channel
            self.fill.copy_(torch.as_tensor(np.nan_to_num(np.nanmean(np.concatenate(items), 0))))
        rng = np.random.default_rng(self.seed)
        most = min(c, KERNEL_LENGTH)
        sizes = (2 ** rng.uniform(0, np.log2(most + 1), (len(dilations), N_KERNELS))).astype(np.int64)
        for i in range(len(dilations)):
            for k in range(N_KERNELS):
                chosen = rng.choice(c, min(max(int(sizes[i, k]), 1), c), replace=False)
                self.selection[i, k, torch.as_tensor(chosen)] = 1.0
        levels = quantile_levels(self.num_features)
        start = 0
        with torch.no_grad():
            for i, (d, n) in enumerate(zip(dilations, counts, strict=True)):
                # one random training series per kernel, convolved in one batch
                picks = [items[int(j)] for j in rng.integers(len(items), size=N_KERNELS)]
                batch = self.collate(picks)
                x = self._filled(batch["x"]).transpose(1, 2)  # (84, C, T)
                out = self._combined(x, int(d), i)  # (84 series, 84 kernels, T)
                for k in range(N_KERNELS):
                    row = out[k, k, : int(batch["lengths"][k])].double().numpy()
                    self.biases[start:start + n] = torch.from_numpy(
                        np.quantile(row, levels[start:start + n])).float()
                    start += int(n)

    def _filled(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(torch.isnan(x), self.fill.to(x), x)

    def _combined(self, x: torch.Tensor, dilation: int, i: int) -> torch.Tensor:
        """(B, C, T) -> (B, 84, T): each kernel's convolution summed over its channels."""
        return torch.einsum("bckt,kc->bkt", convolve(x, dilation), self.selection[i].to(x))

    # ------------------------------------------------------------------ the contract
    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        """Series ``(T, C)`` -> ``{"x": (B, T_max, C), "lengths": (B,)}``, zero-padded."""
        if self.fitted is None:
            raise NotFittedError("MiniRocket has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        c = self.fitted["in_channels"]
        arrays = [np.asarray(a, dtype=np.float32) for a in items]
        arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != c or len(a) == 0:
                raise DataError(f"Series {i} of the batch has shape {a.shape}; this MiniRocket was fitted "
                                f"on series of shape (T, {c}) with T >= 1.")
        return padded_batch(arrays, c)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, num_features)
        if self.fitted is None:
            raise NotFittedError("MiniRocket has not seen its training data yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        x, lengths = inputs["x"], inputs["lengths"].to(inputs["x"].device)
        t = torch.arange(x.shape[1], device=x.device)
        full = t[None, :] < lengths[:, None]  # (B, T)
        x = (self._filled(x) * full.unsqueeze(-1)).transpose(1, 2)  # (B, C, T)
        parts, start = [], 0
        for i, (d, n) in enumerate(zip(self.fitted["dilations"], self.fitted["counts"], strict=True)):
            pad = 4 * d
            valid = full & (t[None, :] >= pad) & (t[None, :] < lengths[:, None] - pad)  # (B, T)
            conv = self._combined(x, d, i)  # (B, 84, T)
            bias = self.biases[start:start + N_KERNELS * n].view(N_KERNELS, n)
            # alternate (dilation, kernel) pairs: PPV over the unpadded steps only
            full_pair = torch.tensor([(i + k) % 2 == 0 for k in range(N_KERNELS)], device=x.device)
            mask = torch.where(full_pair[None, :, None], full[:, None], valid[:, None]).to(x.dtype)  # (B, 84, T)
            parts.append(ppv(conv, bias, mask).reshape(len(x), -1))  # (B, 84 n), kernel-major
            start += N_KERNELS * n
        return torch.cat(parts, dim=1)

    def blocks(self) -> list[torch.nn.Module]:
        raise BackboneError("The minirocket backbone does not list its blocks: its convolutions are "
                            "fixed and nothing in it trains. Use --strategy linear-probe.")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_features": self.num_features, "seed": self.seed,
                "fitted": self.fitted,
                "preprocessing": "a missing value -> its channel's training mean; zero-padding to the "
                                 "longest series in a batch (features average over each series' own "
                                 "steps)"}
