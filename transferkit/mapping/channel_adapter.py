"""Input adapter for series whose channels differ from the source encoder's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.errors import DataError
from transferkit.mapping import INPUT_ADAPTERS


def _names(channels: Sequence[str], name: str) -> list[str]:
    out = [str(c) for c in channels]
    if not out:
        raise DataError(f"The '{name}' parameter of ChannelAdapter must name at least one channel. "
                        f"Got {list(channels)!r}.")
    if len(set(out)) != len(out):
        raise DataError(f"The '{name}' channels {out} repeat a name; channel names must be unique.")
    return out


@INPUT_ADAPTERS.register("channels", help="A learned linear map from the target series' channels "
                         "to the source encoder's, identity on channels whose names match.")
class ChannelAdapter(nn.Module):
    """x_s[t] = W x_t[t] + b at every time step: a target series with C_t channels fed to an
    encoder pretrained on C_s channels. Shapes: (B, T, C_t) -> (B, T, C_s).

    The target channels are standardised with the target's training statistics (buffers
    ``mean``/``std``, set by :meth:`fit_stats`), so the adapter works in the same
    standardised space as the source encoder. W starts at 1 where a target channel's name
    equals a source channel's (unnamed channels are named by their index, ``"0"``,
    ``"1"`` ...); each source channel without a match starts as a random combination
    ``N(0, 1/k)`` of the ``k`` unmatched target channels, or, when every target channel
    is matched already, as their mean (one target channel -> every source channel sees
    it). b starts at 0.
    """

    def __init__(self, source_channels: Sequence[str], target_channels: Sequence[str],
                 seed: int = 0) -> None:
        super().__init__()
        self.source_channels = _names(source_channels, "source_channels")
        self.target_channels = _names(target_channels, "target_channels")
        c_s, c_t = len(self.source_channels), len(self.target_channels)
        self.register_buffer("mean", torch.zeros(c_t))
        self.register_buffer("std", torch.ones(c_t))
        self.linear = nn.Linear(c_t, c_s)
        index = {c: j for j, c in enumerate(self.target_channels)}
        self.matches = [(c, c) for c in self.source_channels if c in index]
        matched = {c for c, _ in self.matches}
        self.unmatched_source = [c for c in self.source_channels if c not in matched]
        self.unmatched_target = [c for c in self.target_channels if c not in matched]
        g = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.zero_()
            for c, _ in self.matches:
                self.linear.weight[self.source_channels.index(c), index[c]] = 1.0
            free = [index[c] for c in self.unmatched_target]
            for c in self.unmatched_source:
                i = self.source_channels.index(c)
                if free:
                    w = torch.randn(len(free), generator=g) / np.sqrt(len(free))
                    self.linear.weight[i, torch.tensor(free)] = w
                else:
                    self.linear.weight[i] = 1.0 / c_t

    @property
    def in_channels(self) -> int:
        return len(self.target_channels)

    def fit_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """The target channels' training mean and standard deviation."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def describe(self) -> str:
        """What matched, for the console and the log."""
        lines = [f"Channel adapter: {self.in_channels} target channel(s) -> {len(self.source_channels)} "
                 f"channel(s) of the pretrained encoder; {len(self.matches)} matched by name "
                 f"({', '.join(c for c, _ in self.matches) or 'none'})."]
        if self.unmatched_source:
            how = ("random combinations of the unmatched target channels "
                   f"({', '.join(self.unmatched_target)})" if self.unmatched_target
                   else "the mean of the target channels")
            lines.append(f"  source channels without a target match ({', '.join(self.unmatched_source)}) "
                         f"start as {how}; the adapter trains with the model.")
        elif self.unmatched_target:
            lines.append(f"  target channels without a source match start unused: "
                         f"{', '.join(self.unmatched_target)}.")
        return "\n".join(lines)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C_t) -> (B, T, C_s)
        if x.shape[-1] != self.in_channels:
            raise DataError(f"The channel adapter maps {self.in_channels} channel(s) "
                            f"({', '.join(self.target_channels)}); got series with {x.shape[-1]}.")
        return self.linear(torch.nan_to_num((x - self.mean) / self.std, nan=0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"source_channels": self.source_channels, "target_channels": self.target_channels}
