from __future__ import annotations

import pytest
import torch

from transferkit.data.schema import ColumnSchema, TableSchema
from transferkit.errors import DataError
from transferkit.mapping import INPUT_ADAPTERS
from transferkit.mapping.table_adapter import normalize_column_name

SOURCE = ["Mean Radius", "mean_texture", "area", "Clump-Thickness"]
TARGET = ["clump thickness", "MEAN RADIUS", "mitoses"]


def test_identity_on_matching_names_and_zero_elsewhere() -> None:
    adapter = INPUT_ADAPTERS.create("table", source_columns=SOURCE, target_columns=TARGET)
    expected = torch.zeros(4, 3)
    expected[3, 0] = 1.0  # clump thickness -> Clump-Thickness
    expected[0, 1] = 1.0  # MEAN RADIUS -> Mean Radius
    assert torch.equal(adapter.linear.weight.detach(), expected)
    assert torch.equal(adapter.linear.bias.detach(), torch.zeros(4))
    assert adapter.matches == [("clump thickness", "Clump-Thickness"), ("MEAN RADIUS", "Mean Radius")]
    assert adapter.unmatched_target == ["mitoses"]
    assert adapter.unmatched_source == ["mean_texture", "area"]
    x = torch.tensor([[1.5, -0.5, 2.0]])
    assert torch.equal(adapter(x), torch.tensor([[-0.5, 0.0, 0.0, 1.5]]))
    text = adapter.describe()
    assert "2 matched" in text and "mitoses" in text and "area" in text


def test_accepts_schemas_and_trains() -> None:
    schema = TableSchema([ColumnSchema(c, "numeric") for c in SOURCE])
    adapter = INPUT_ADAPTERS.create("table", source_columns=schema, target_columns=TARGET)
    assert adapter.out_dim == 4 and adapter.in_dim == 3
    opt = torch.optim.SGD(adapter.parameters(), lr=0.1)
    loss = adapter(torch.randn(8, 3)).pow(2).sum()
    loss.backward()
    opt.step()
    assert adapter.linear.weight.abs().sum() > 0
    frozen = INPUT_ADAPTERS.create("table", source_columns=SOURCE, target_columns=TARGET, trainable=False)
    assert not any(p.requires_grad for p in frozen.parameters())


def test_normalised_names() -> None:
    assert normalize_column_name("  Mean Radius ") == "mean_radius"
    assert normalize_column_name("mean-radius") == normalize_column_name("MEAN_RADIUS")


def test_errors_name_the_problem() -> None:
    with pytest.raises(DataError, match="'Age' and 'age'"):
        INPUT_ADAPTERS.create("table", source_columns=["Age", "age"], target_columns=["x"])
    adapter = INPUT_ADAPTERS.create("table", source_columns=SOURCE, target_columns=TARGET)
    with pytest.raises(DataError, match=r"shape \(B, 3\)"):
        adapter(torch.zeros(2, 4))
