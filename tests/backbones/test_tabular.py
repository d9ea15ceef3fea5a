"""The tabular MLP encoder: standardisation and categoricals."""

import numpy as np
import pandas as pd
import pytest
import torch

from transferkit.backbones.tabular import TabularBackbone
from transferkit.data.dataset import TransferDataset
from transferkit.errors import ConfigError, DataError, NotFittedError


def test_standardisation_one_hot_and_unseen_values(examples):
    bb, data = examples["tabular"]
    x = bb.collate([np.array([40.0, np.nan, "yes"], dtype=object), np.array([50.0, 1.0, "maybe"], dtype=object)])
    assert x.shape == (2, 2 + 3)
    assert x[0, 2:].tolist() == [0.0, 1.0, 0.0] and x[1, 2:].tolist() == [0.0, 0.0, 1.0]  # unseen -> last slot
    z = bb.normalise(x)
    assert z[0, 1] == 0.0  # missing numeric -> the training mean
    assert torch.isclose(bb.mean[0], torch.tensor(data.x["age"].mean(), dtype=torch.float32))


def test_schema_inferred_when_the_dataset_has_none():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "x"]})
    bb = TabularBackbone([4])
    bb.adapt_to(TransferDataset("t", "table", frame, [0, 1, 0], ["0", "1"]))
    assert bb.schema.categorical == ["c"] and bb.schema.columns[1].categories == ["x", "y"]
    assert bb(bb.collate([frame.iloc[0].to_numpy()])).shape == (1, 4)


def test_errors():
    with pytest.raises(NotFittedError, match="adapt_to"):
        TabularBackbone().collate([np.array([1.0])])
    with pytest.raises(ConfigError, match="tabular:128,64"):
        TabularBackbone.from_spec("12,abc")


def test_wrong_row_length(examples):
    bb, _ = examples["tabular"]
    with pytest.raises(DataError, match="schema has 3 columns"):
        bb.collate([np.array([1.0, 2.0], dtype=object)])
