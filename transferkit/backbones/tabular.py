"""An MLP encoder for tables: standardised numeric columns and one-hot categoricals.

``tabular`` or ``tabular:256,64`` (hidden sizes). The column layout comes from the
dataset's :class:`~transferkit.data.schema.TableSchema`; :meth:`adapt_to` fits the
numeric means/standard deviations and the category lists on the training data. The
statistics live in buffers, so they are saved with the weights.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from transferkit.backbones import BACKBONES
from transferkit.backbones._weights import load_checked, read_state_dict
from transferkit.backbones.base import Backbone
from transferkit.data.schema import ColumnSchema, TableSchema
from transferkit.errors import ConfigError, DataError, NotFittedError

DEFAULT_HIDDEN = (128, 64)


def parse_hidden(text: str) -> list[int]:
    """``"256,64"`` -> ``[256, 64]`` with a clear error for anything else."""
    try:
        sizes = [int(v) for v in str(text).replace("x", ",").split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"The hidden sizes of 'tabular:<sizes>' must be positive ints separated by "
                          f"commas, e.g. 'tabular:128,64'. Got {text!r} instead.")
    return sizes


def _schema_from_frame(frame: pd.DataFrame) -> TableSchema:
    cols = []
    for name in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name])
        cols.append(ColumnSchema(str(name), "numeric" if numeric else "categorical"))
    return TableSchema(cols)


def _as_numbers(block: np.ndarray) -> np.ndarray:
    """A (rows, columns) block of cells as float64: one cast when every cell is a number,
    else per column what ``pd.to_numeric(errors="coerce")`` makes of it (text -> NaN)."""
    try:
        return block.astype(np.float64)
    except (TypeError, ValueError):
        return np.column_stack([pd.to_numeric(pd.Series(block[:, k]), errors="coerce").to_numpy(np.float64)
                                for k in range(block.shape[1])])


@BACKBONES.register("tabular", help="MLP encoder for tables (standardisation, one-hot categoricals).")
class TabularBackbone(Backbone):
    """``rows -> [standardised numeric | one-hot categoricals] -> MLP -> (B, hidden[-1])``."""

    has_pretrained_weights = False  # a random-init encoder: it learns end to end
    family = "tabular"
    modality = "table"
    prefixes = ("tabular:", "tabular")
    usage = ("tabular", "tabular:<hidden sizes>")

    def __init__(self, hidden: list[int] | tuple[int, ...] = DEFAULT_HIDDEN, schema: TableSchema | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.hidden = [int(h) for h in hidden]
        self.dropout = float(dropout)
        self.feature_dim = self.hidden[-1]
        self.name = "tabular:" + ",".join(map(str, self.hidden))
        self.schema: TableSchema | None = None
        self.layers = nn.ModuleList()
        self.source_head: nn.Linear | None = None
        self.source_classes: list[str] | None = None
        if schema is not None and all(c.kind == "numeric" or c.categories for c in schema.columns):
            self._build(schema)

    def _build(self, schema: TableSchema) -> None:
        self.schema = schema
        n_num = len(schema.numeric)
        self.register_buffer("mean", torch.zeros(n_num))
        self.register_buffer("std", torch.ones(n_num))
        # one slot per training category plus one for unseen values
        in_dim = n_num + sum(len(c.categories) + 1 for c in schema.columns if c.kind == "categorical")
        self.in_dim = in_dim
        layers, prev = [], in_dim
        for h in self.hidden:
            layers.append(nn.Sequential(nn.Linear(prev, h), nn.ReLU(), nn.Dropout(self.dropout)))
            prev = h
        self.layers = nn.ModuleList(layers)

    @property
    def adapted(self) -> bool:
        return self.schema is not None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> TabularBackbone:
        """``""`` (default sizes) or hidden sizes ``"256,64"``; call ``adapt_to(train)`` next."""
        bb = cls(parse_hidden(spec) if spec else DEFAULT_HIDDEN)
        if weights:
            raise ConfigError("A tabular backbone is built from its training data's schema, so "
                              "--backbone-weights cannot be applied to it; pass the run directory that "
                              "trained it as --backbone instead.")
        return bb

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> TabularBackbone:
        schema = TableSchema.from_dict(desc["schema"]) if desc.get("schema") else None
        return cls(desc.get("hidden", DEFAULT_HIDDEN), schema=schema, dropout=desc.get("dropout", 0.0))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[TabularBackbone, Any]:
        from transferkit.data.dataset import TransferDataset

        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"age": rng.normal(40, 10, 8), "income": rng.normal(5e4, 1e4, 8),
                              "student": rng.choice(["yes", "no"], 8)})
        schema = TableSchema([ColumnSchema("age", "numeric"), ColumnSchema("income", "numeric"),
                              ColumnSchema("student", "categorical", ["no", "yes"])])
        data = TransferDataset("tiny-table", "table", frame, np.arange(8) % 2, ["a", "b"], schema=schema)
        bb = cls([16, 8])
        bb.adapt_to(data)
        return bb, data

    def load_weight_file(self, path: str | Path) -> None:
        load_checked(self, read_state_dict(path), f"'{path}'")

    # ------------------------------------------------------------------ preprocessing
    def adapt_to(self, data: Any) -> None:
        """Fit the schema's categories and the numeric mean/std on training data."""
        frame = data.x if hasattr(data, "x") else data
        if not isinstance(frame, pd.DataFrame):
            raise DataError("The tabular backbone adapts to a table dataset (a pandas DataFrame of "
                            f"feature columns); got {type(frame).__name__}.")
        schema = getattr(data, "schema", None) or self.schema or _schema_from_frame(frame)
        schema.check([str(c) for c in frame.columns], where=f"dataset '{getattr(data, 'name', 'table')}'")
        cols = []
        for c in schema.columns:
            cats = list(c.categories)
            if c.kind == "categorical" and not cats:
                cats = sorted({str(v) for v in frame[c.name].dropna()})
            cols.append(replace(c, categories=cats))
        fitted = TableSchema(cols, schema.label_column)
        if self.schema is None or fitted.to_dict() != self.schema.to_dict():
            self._build(fitted)
        mean, std = np.zeros(len(fitted.numeric)), np.ones(len(fitted.numeric))
        if len(frame):  # a column at a time: no (rows, columns) copy of a large table
            for j, name in enumerate(fitted.numeric):
                values = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
                mean[j], std[j] = np.nanmean(values), np.nanstd(values)
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def collate(self, items: list[Any]) -> torch.Tensor:  # (B, in_dim)
        """Rows (values in the schema's column order) -> raw numeric + one-hot tensor."""
        if self.schema is None:
            raise NotFittedError("This tabular backbone has not seen its training table yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        rows = [np.asarray(r, dtype=object).reshape(-1) for r in items]
        n_cols = len(self.schema.columns)
        for i, r in enumerate(rows):
            if len(r) != n_cols:
                raise DataError(f"Row {i} of the batch has {len(r)} values; the schema has {n_cols} columns "
                                f"({', '.join(self.schema.names)}).")
        out = np.zeros((len(rows), self.in_dim), dtype=np.float32)
        table = np.stack(rows) if rows else np.empty((0, n_cols), dtype=object)  # (B, columns)
        numeric = [j for j, col in enumerate(self.schema.columns) if col.kind == "numeric"]
        if numeric:  # NaN stays NaN; forward maps it to the mean
            out[:, :len(numeric)] = _as_numbers(table[:, numeric])
        off, at = len(numeric), np.arange(len(rows))
        for j, col in enumerate(self.schema.columns):
            if col.kind == "numeric":
                continue
            index, unseen = {c: k for k, c in enumerate(col.categories)}, len(col.categories)
            codes = [unseen if v is None or (isinstance(v, float) and np.isnan(v)) else index.get(str(v), unseen)
                     for v in table[:, j]]
            out[at, off + np.asarray(codes, dtype=np.int64)] = 1.0
            off += unseen + 1
        return torch.from_numpy(out)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:  # (B, in_dim)
        n = self.mean.numel()
        num = torch.nan_to_num((x[:, :n] - self.mean) / self.std, nan=0.0)
        return torch.cat([num, x[:, n:]], dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, hidden[-1])
        if self.schema is None:
            raise NotFittedError("This tabular backbone has not seen its training table yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        h = self.normalise(inputs)
        for layer in self.layers:
            h = layer(h)
        return h

    def blocks(self) -> list[nn.Module]:
        return list(self.layers)

    def split_at(self, k: int) -> tuple[nn.Module, nn.Module]:
        n = len(self.layers)
        if not 1 <= int(k) < n:
            raise ConfigError(f"The 'k' parameter of split_at must be an int in [1, {n - 1}] for "
                              f"{self.name}. Got {k!r} instead.")
        return _Bottom(self, n - k), nn.Sequential(*list(self.layers)[n - k:])

    def input_recipe(self) -> list[str] | None:
        """The input vector's layout, position by position (the standardisation with the
        training mean/std happens inside the model)."""
        if self.schema is None:
            return None
        steps = [f"Input tensor: float32 (batch, {self.in_dim}); one row per example, positions as "
                 "below. The model standardises the numeric positions itself (training mean/std); "
                 "a NaN there counts as the training mean."]
        j = 0
        for col in self.schema.columns:
            if col.kind != "numeric":
                continue
            if col.indicator_of is not None:
                steps.append(f"[{j}] 1.0 if column '{col.indicator_of}' is missing, else 0.0")
            else:
                fill = f"; missing -> {col.fill!r}" if col.fill is not None else ""
                steps.append(f"[{j}] column '{col.name}' as a number{fill}")
            j += 1
        for col in self.schema.columns:
            if col.kind != "categorical":
                continue
            fill = f" (a missing value counts as {col.fill!r})" if col.fill is not None else ""
            for cat in col.categories:
                steps.append(f"[{j}] 1.0 if column '{col.name}' == {cat!r}{fill}, else 0.0")
                fill = ""
                j += 1
            steps.append(f"[{j}] 1.0 if column '{col.name}' holds a value not listed above, else 0.0")
            j += 1
        return steps

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "hidden": self.hidden, "dropout": self.dropout,
                "schema": self.schema.to_dict() if self.schema else None,
                "preprocessing": "standardise numeric (mean/std of the training table), one-hot "
                                 "categoricals with an unseen-value slot, missing numeric -> mean"}


class _Bottom(nn.Module):
    def __init__(self, bb: TabularBackbone, n: int) -> None:
        super().__init__()
        self.register_buffer("mean", bb.mean)
        self.register_buffer("std", bb.std)
        self.layers = nn.ModuleList(list(bb.layers)[:n])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.mean.numel()
        h = torch.cat([torch.nan_to_num((x[:, :n] - self.mean) / self.std, nan=0.0), x[:, n:]], dim=1)
        for layer in self.layers:
            h = layer(h)
        return h
