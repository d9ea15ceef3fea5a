"""The data layer: what the user has -> :class:`TransferDataset` splits.

Inputs: built-in offline datasets by name (``transferkit datasets``), image folders
``root/<class>/<image>``, IDX files, ``.npz`` arrays, CSV/TSV/JSONL/Parquet text or
tables, ``.ts`` and long/wide CSV/Parquet series. Splits are stratified and seeded; ``shots`` samples per class from train;
duplicates across splits are reported as leakage::

    import transferkit as tk
    train = tk.data.load("fashion-mnist", split="train", shots=10)
    splits = tk.data.load_splits("digits", shots=5)
    splits.describe()["n_test"]
"""

from __future__ import annotations

from transferkit.data.builtin._base import DATASETS, BuiltinDataset
from transferkit.data.dataset import TransferDataset
from transferkit.data.images import read_image
from transferkit.data.loading import list_datasets, load, load_splits
from transferkit.data.schema import TableSchema
from transferkit.data.series import series_dataset
from transferkit.data.splits import Splits
from transferkit.data.tables import check_table

__all__ = [
    "DATASETS",
    "BuiltinDataset",
    "Splits",
    "TableSchema",
    "TransferDataset",
    "check_table",
    "list_datasets",
    "load",
    "load_splits",
    "read_image",
    "series_dataset",
]
