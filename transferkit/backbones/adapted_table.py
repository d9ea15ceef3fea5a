"""Heterogeneous inputs: a target table with other columns fed to a source tabular model.

A tabular backbone pretrained on the source table (``transferkit pretrain --data
breast-cancer-wdbc --arch tabular``) expects the source's columns. A target table with
other columns (``breast-cancer-biopsy``: 9 cytology scores instead of WDBC's 30
measurements) reaches it through the learned linear input adapter of
:mod:`transferkit.mapping.table_adapter`::

    target row -> encode + standardise (target statistics)       (B, C_t)
               -> x_s = W x_t + b            (TableAdapter)      (B, C_s)
               -> source MLP body (pretrained)                   (B, D)
               -> mapping phi -> head                             (B, K)

The adapter starts as the identity on columns whose names match (``income`` in
credit-default and credit-card). There is no paired data from which a least-squares
initialisation could be computed, so each source column without a name match starts as
a random combination of the unmatched target columns, ``W[i, j] ~ N(0, 1 / C_t)``
(``init="random"``, the default), which sends the target's information through the
pretrained body from the first step; ``init="zero"`` starts those source inputs at 0,
their standardised mean, as :class:`~transferkit.mapping.table_adapter.TableAdapter`
does on its own. The adapter is the backbone's first block, so ``--strategy full``
trains adapter, body and head together, ``partial`` the top blocks only.

``fit`` applies :func:`adapt_backbone` to every backbone it builds: it wraps a tabular
backbone that already knows its source columns (a run directory) when the target is a
table, and returns every other backbone unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.backbones import BACKBONES
from transferkit.backbones.base import Backbone
from transferkit.backbones.tabular import TabularBackbone
from transferkit.data.schema import TableSchema
from transferkit.errors import ConfigError, DataError, NotFittedError
from transferkit.mapping import INPUT_ADAPTERS

INITS = ("random", "zero")


def encoded_columns(schema: TableSchema) -> list[str]:
    """Names of a tabular backbone's input slots, in its collate order.

    Numeric columns first (``age``), then one slot per category (``student=Yes``) and one
    for unseen values (``student=(unseen)``) per categorical column.
    """
    names = [c.name for c in schema.columns if c.kind == "numeric"]
    for c in schema.columns:
        if c.kind == "categorical":
            names.extend([*(f"{c.name}={v}" for v in c.categories), f"{c.name}=(unseen)"])
    return names


class _TableEncoder(TabularBackbone):
    """The target's preprocessing only: encode rows, standardise with target statistics.

    A :class:`TabularBackbone` without MLP layers; ``forward`` returns the standardised
    encoded row ``(B, in_dim)``.
    """

    def __init__(self, schema: TableSchema | None = None) -> None:
        super().__init__(hidden=(1,), schema=schema)

    def _build(self, schema: TableSchema) -> None:
        super()._build(schema)
        self.layers = nn.ModuleList()
        self.feature_dim = self.in_dim


@BACKBONES.register("adapted-table", help="A source tabular backbone behind a learned input "
                    "adapter from the target's columns (built by fit for heterogeneous tables).")
class AdaptedTableBackbone(Backbone):
    """``rows_t -> standardise_t -> TableAdapter (C_t -> C_s) -> source MLP body -> (B, D)``.

    Parameters
    ----------
    source:
        A tabular backbone that has seen its source table (``source.schema`` is set),
        e.g. loaded from a ``transferkit pretrain`` run directory.
    target_schema:
        Fitted schema of the target table (set by :meth:`adapt_to` when None).
    init:
        Initialisation of the adapter rows of source columns without a name match:
        ``"random"`` (N(0, 1/C_t) over the unmatched target columns) or ``"zero"``.
    seed:
        Seed of the random initialisation.
    """

    family = "adapted-table"
    modality = "table"

    def __init__(self, source: TabularBackbone, target_schema: TableSchema | None = None,
                 init: str = "random", seed: int = 0) -> None:
        super().__init__()
        if not isinstance(source, TabularBackbone) or source.schema is None:
            raise ConfigError("AdaptedTableBackbone needs a tabular backbone that has seen its source "
                              "table (a `transferkit pretrain --arch tabular` run directory). "
                              f"Got {type(source).__name__} without a schema.")
        if init not in INITS:
            raise ConfigError(f"The 'init' parameter of AdaptedTableBackbone must be one of "
                              f"{', '.join(INITS)}. Got {init!r} instead.")
        self.source = source
        self.init = init
        self.seed = int(seed)
        self.feature_dim = source.feature_dim
        self.name = f"adapted-table({source.name})"
        self.source_columns = encoded_columns(source.schema)
        self.encoder = _TableEncoder(target_schema)
        self.adapter: nn.Module | None = None
        if target_schema is not None:
            self._build_adapter()

    @property
    def target_columns(self) -> list[str]:
        if self.encoder.schema is None:
            raise NotFittedError("The adapted table backbone has not seen its target table yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        return encoded_columns(self.encoder.schema)

    def _build_adapter(self) -> None:
        adapter = INPUT_ADAPTERS.build("table", source_columns=self.source_columns, target_columns=self.target_columns)
        if self.init == "random":
            rows = [self.source_columns.index(c) for c in adapter.unmatched_source]
            cols = [self.target_columns.index(c) for c in adapter.unmatched_target]
            if rows and cols:
                g = torch.Generator().manual_seed(self.seed)
                with torch.no_grad():
                    w = torch.randn(len(rows), len(cols), generator=g) / np.sqrt(len(cols))
                    adapter.linear.weight[torch.tensor(rows)[:, None], torch.tensor(cols)[None, :]] = w
        self.adapter = adapter

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: str, *, weights: str | None = None, pretrained: bool = True,
                  image_size: int | None = None, max_length: int | None = None) -> AdaptedTableBackbone:
        """``adapted-table:<run directory>``: the run's tabular backbone behind an adapter."""
        from transferkit.backbones import create_backbone

        if not spec:
            raise ConfigError("The 'adapted-table' backbone wraps a tabular run directory: pass "
                              "--backbone <run directory> (fit adds the adapter by itself).")
        return cls(create_backbone(spec, weights=weights))  # type: ignore[arg-type]

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> AdaptedTableBackbone:
        source = TabularBackbone.from_description(desc["source"])
        schema = TableSchema.from_dict(desc["target_schema"]) if desc.get("target_schema") else None
        return cls(source, schema, init=desc.get("init", "random"), seed=desc.get("seed", 0))

    @classmethod
    def tiny_example(cls, workdir: Path) -> tuple[AdaptedTableBackbone, Any]:
        """A tiny source MLP (age, income, student) behind an adapter from (income, debt)."""
        import pandas as pd

        from transferkit.data.dataset import TransferDataset
        from transferkit.data.schema import ColumnSchema

        source, _ = TabularBackbone.tiny_example(workdir)
        rng = np.random.default_rng(1)
        frame = pd.DataFrame({"Income": rng.normal(5e4, 1e4, 8), "debt": rng.normal(size=8)})
        schema = TableSchema([ColumnSchema("Income", "numeric"), ColumnSchema("debt", "numeric")])
        data = TransferDataset("tiny-target", "table", frame, np.arange(8) % 2, ["a", "b"], schema=schema)
        bb = cls(source)
        bb.adapt_to(data)
        return bb, data

    # ------------------------------------------------------------------ the contract
    def adapt_to(self, data: Any) -> None:
        """Fit the target's encoding and standardisation; (re)build the adapter when the
        target columns changed. The source body and its statistics stay as pretrained."""
        before = self.encoder.schema.to_dict() if self.encoder.schema is not None else None
        self.encoder.adapt_to(data)
        if self.adapter is None or self.encoder.schema.to_dict() != before:  # type: ignore[union-attr]
            self._build_adapter()

    def collate(self, items: list[Any]) -> torch.Tensor:  # (B, in_dim_t)
        return self.encoder.collate(items)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # (B, in_dim_t) -> (B, D)
        if self.adapter is None:
            raise NotFittedError("The adapted table backbone has not seen its target table yet; call "
                                 "backbone.adapt_to(train_dataset) first.")
        h = self.adapter(self.encoder.normalise(inputs))  # (B, C_s), standardised source space
        for layer in self.source.layers:
            h = layer(h)
        return h

    def blocks(self) -> list[nn.Module]:
        if self.adapter is None:
            raise NotFittedError("Call backbone.adapt_to(train_dataset) before listing its blocks.")
        return [self.adapter, *self.source.layers]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "source": self.source.describe(),
                "target_schema": self.encoder.schema.to_dict() if self.encoder.schema else None,
                "init": self.init, "seed": self.seed,
                "preprocessing": "target columns standardised with the target's training "
                                 "statistics, then a learned linear adapter into the source's "
                                 "standardised columns (identity where names match)"}

    def describe_adapter(self) -> str:
        """Which columns matched (for the console and the summary)."""
        return self.adapter.describe() if self.adapter is not None else "adapter not built yet"


def adapt_backbone(backbone: Backbone, train_data: Any, *, init: str = "random",
                   seed: int = 0) -> Backbone:
    """The backbone ``fit`` should use for ``train_data``.

    A tabular backbone that already knows its source columns (loaded from a run
    directory) is wrapped in an :class:`AdaptedTableBackbone` when the target is a
    table, even when the columns are the same (the adapter then starts as the exact
    identity); fitting its own ``adapt_to`` on other columns would silently rebuild the
    body with random weights. Every other backbone is returned unchanged.
    """
    if (isinstance(backbone, TabularBackbone) and not isinstance(backbone, _TableEncoder)
            and backbone.schema is not None and getattr(train_data, "modality", None) == "table"):
        if not hasattr(train_data, "x"):
            raise DataError("adapt_backbone needs the target's training TransferDataset.")
        return AdaptedTableBackbone(backbone, init=init, seed=seed)
    return backbone
