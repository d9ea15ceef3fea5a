"""Shared code of the built-in tables (underscore: not a dataset module itself)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from transferkit.data.builtin._base import BuiltinDataset, dataset
from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels
from transferkit.data.tables import check_table, infer_schema


def table_builtin(cls: type[BuiltinDataset], frame: pd.DataFrame, label: str, prefix: str,
                  meta: dict[str, Any] | None = None) -> TransferDataset:
    """Features = every column but ``label``; classes in the order of ``cls.classes``."""
    features = frame.drop(columns=[label]).reset_index(drop=True)
    y, _ = encode_labels(frame[label].tolist(), f"dataset '{cls.name}'", classes=cls.classes)
    where = f"dataset '{cls.name}'"
    schema = infer_schema(features, where=where)
    schema.label_column = label
    x = check_table(features, schema, where, missing="keep")  # filled after the split (data.impute)
    return dataset(cls, x, y, prefix, schema=schema,
                   meta={"label_column": label, "where": where, **(meta or {})})
