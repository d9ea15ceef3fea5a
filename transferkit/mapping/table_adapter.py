"""Input adapter for tables whose columns differ from the source's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from transferkit.data.schema import TableSchema
from transferkit.errors import DataError
from transferkit.mapping import INPUT_ADAPTERS
from transferkit.options import Options, option, resolve_config


def normalize_column_name(name: str) -> str:
    """Case-insensitive, punctuation-insensitive column key: ``"Mean Radius"`` -> ``"mean_radius"``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().casefold()).strip("_")


@dataclass
class TableAdapterConfig(Options):
    """A learned linear map from target columns to source columns."""

    bias: bool = option(True, "Learn a bias per source column (starts at 0).")
    trainable: bool = option(True, "Train the adapter with the rest of the model (false: keep "
                             "the name-matching initialisation fixed).")


def _columns(columns: Any, name: str) -> list[str]:
    cols = list(columns.names if isinstance(columns, TableSchema) else columns)
    if not cols or not all(isinstance(c, str) and c.strip() for c in cols):
        raise DataError(f"The '{name}' parameter of TableAdapter must be a non-empty list of column "
                        f"names (or a TableSchema). Got {columns!r} instead.")
    keys = [normalize_column_name(c) for c in cols]
    seen: dict[str, str] = {}
    for col, key in zip(cols, keys, strict=True):
        if key in seen:
            raise DataError(
                f"The '{name}' columns {seen[key]!r} and {col!r} have the same normalised name "
                f"{key!r}, so matching by name would be ambiguous. Rename one of them."
            )
        seen[key] = col
    return cols


@INPUT_ADAPTERS.register("table", config=TableAdapterConfig,
                         help="A learned linear map from the target's columns to the source's, "
                              "identity on columns whose names match.")
class TableAdapter(nn.Module):
    """x_s = W x_t + b: maps a target table's columns onto the source model's columns.

    Placed before a tabular backbone pretrained on the source table (e.g. WDBC with 30
    columns -> biopsy with 9). W (C_s, C_t) starts at 1 where a target column and a
    source column have the same name after :func:`normalize_column_name` (case,
    spaces and punctuation ignored) and 0 elsewhere, b at 0: matched columns pass
    straight through, unmatched source columns start at 0 -- the mean of a standardised
    column, i.e. "unknown". Works on standardised numeric inputs (zero mean, unit
    variance per column), so that 0 is a neutral value on both sides.
    Shapes: (B, C_t) -> (B, C_s).

    Parameters
    ----------
    source_columns, target_columns:
        Column names, in the order of the model inputs (or TableSchema objects).
    config:
        :class:`TableAdapterConfig` (or pass its keys as keyword arguments).

    Attributes
    ----------
    matches: list of (target column, source column) pairs that start as the identity.
    unmatched_source, unmatched_target: the columns no name matched.
    """

    def __init__(self, source_columns: Sequence[str], target_columns: Sequence[str],
                 config: Any = None, **params: Any) -> None:
        super().__init__()
        self.config = resolve_config(TableAdapterConfig, config, params)
        self.source_columns = _columns(source_columns, "source_columns")
        self.target_columns = _columns(target_columns, "target_columns")
        self.in_dim = len(self.target_columns)
        self.out_dim = len(self.source_columns)
        self.linear = nn.Linear(self.in_dim, self.out_dim, bias=self.config.bias)
        src_index = {normalize_column_name(c): i for i, c in enumerate(self.source_columns)}
        self.matches: list[tuple[str, str]] = []
        with torch.no_grad():
            self.linear.weight.zero_()
            if self.linear.bias is not None:
                self.linear.bias.zero_()
            for j, col in enumerate(self.target_columns):
                i = src_index.get(normalize_column_name(col))
                if i is not None:
                    self.linear.weight[i, j] = 1.0
                    self.matches.append((col, self.source_columns[i]))
        matched_t = {t for t, _ in self.matches}
        matched_s = {s for _, s in self.matches}
        self.unmatched_target = [c for c in self.target_columns if c not in matched_t]
        self.unmatched_source = [c for c in self.source_columns if c not in matched_s]
        self.linear.requires_grad_(self.config.trainable)

    def describe(self) -> str:
        """One paragraph for the console and the report: which columns matched."""
        lines = [f"Table adapter: {self.in_dim} target columns -> {self.out_dim} source columns; "
                 f"{len(self.matches)} matched by name."]
        if self.matches:
            lines.append("  matched: " + ", ".join(
                t if t == s else f"{t}->{s}" for t, s in self.matches))
        if self.unmatched_target:
            lines.append("  target columns without a source match (start unused): "
                         + ", ".join(self.unmatched_target))
        if self.unmatched_source:
            lines.append("  source columns without a target match (start at 0): "
                         + ", ".join(self.unmatched_source))
        return "\n".join(lines)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_t) -> (B, C_s)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise DataError(
                f"TableAdapter expects inputs of shape (B, {self.in_dim}) with the target columns "
                f"{self.target_columns}. Got shape {tuple(x.shape)}."
            )
        return self.linear(x)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, matched={len(self.matches)}"
