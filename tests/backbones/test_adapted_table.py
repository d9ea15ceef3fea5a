"""Heterogeneous tables: a source tabular backbone behind the learned input adapter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from transferkit.backbones.adapted_table import AdaptedTableBackbone, adapt_backbone, encoded_columns
from transferkit.backbones.tabular import TabularBackbone
from transferkit.data import TransferDataset
from transferkit.data.schema import ColumnSchema, TableSchema
from transferkit.data.tables import infer_schema
from transferkit.errors import ConfigError, NotFittedError

torch.set_num_threads(1)


def _table(columns: dict[str, np.ndarray], y: np.ndarray, name: str = "t") -> TransferDataset:
    frame = pd.DataFrame(columns)
    return TransferDataset(name, "table", frame, y, ["no", "yes"], schema=infer_schema(frame))


@pytest.fixture
def source():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    data = _table({"age": rng.normal(40 + 5 * y, 5), "income": rng.normal(5e4 + 1e4 * y, 1e4),
                   "student": np.where(rng.random(60) < 0.5, "Yes", "No")}, y, "source")
    bb = TabularBackbone([16, 8])
    bb.adapt_to(data)
    return bb, data


def test_encoded_columns_follow_collate_order():
    schema = TableSchema([ColumnSchema("student", "categorical", ["No", "Yes"]),
                          ColumnSchema("age", "numeric")])
    assert encoded_columns(schema) == ["age", "student=No", "student=Yes", "student=(unseen)"]


def test_same_columns_start_as_the_exact_source_model(source):
    bb, data = source
    adapted = AdaptedTableBackbone(bb)
    adapted.adapt_to(data)  # same table: same statistics, adapter = identity
    n = len(adapted.source_columns)
    assert torch.equal(adapted.adapter.linear.weight, torch.eye(n))
    assert torch.equal(adapted.adapter.linear.bias, torch.zeros(n))
    items = [data.input(i) for i in range(len(data))]
    with torch.no_grad():
        assert torch.allclose(adapted(adapted.collate(items)), bb(bb.collate(items)), atol=1e-6)


def test_matching_names_identity_others_random_or_zero(source):
    bb, _ = source
    rng = np.random.default_rng(1)
    target = _table({"Income": rng.normal(size=20), "debt": rng.normal(size=20),
                     "years": rng.normal(size=20)}, np.arange(20) % 2)
    adapted = AdaptedTableBackbone(bb, init="random", seed=3)
    adapted.adapt_to(target)
    w = adapted.adapter.linear.weight.detach()  # (C_s, C_t)
    src, tgt = adapted.source_columns, adapted.target_columns
    i, j = src.index("income"), tgt.index("Income")
    assert w[i, j] == 1.0 and w[i].sum() == 1.0 and w[:, j].sum() == 1.0
    others = [r for r in range(len(src)) if r != i]
    assert torch.count_nonzero(w[others][:, [tgt.index("debt"), tgt.index("years")]]) == 2 * len(others)
    zero = AdaptedTableBackbone(bb, init="zero")
    zero.adapt_to(target)
    wz = zero.adapter.linear.weight.detach()
    assert wz.sum() == 1.0 and wz[i, j] == 1.0
    assert "Income->income" in zero.describe_adapter()


def test_adapter_is_the_first_block_and_trains(source):
    bb, _ = source
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 20)
    target = _table({"x1": rng.normal(2.0 * y, 1.0), "x2": rng.normal(size=40)}, y)
    adapted = adapt_backbone(bb, target, init="zero")
    adapted.adapt_to(target)
    assert adapted.blocks()[0] is adapted.adapter
    head = torch.nn.Linear(adapted.feature_dim, 2)
    opt = torch.optim.Adam([*adapted.adapter.parameters(), *head.parameters()], lr=0.05)
    x = adapted.collate([target.input(i) for i in range(len(target))])
    yt = torch.as_tensor(y)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(head(adapted(x)), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (head(adapted(x)).argmax(1) == yt).float().mean()
    assert adapted.adapter.linear.weight.abs().sum() > 0  # left its all-zero start
    assert acc >= 0.8


def test_description_round_trip(source, tmp_path):
    bb, _ = source
    adapted, data = AdaptedTableBackbone.tiny_example(tmp_path)
    from transferkit.backbones import from_description

    rebuilt = from_description(adapted.describe())
    rebuilt.load_state_dict(adapted.state_dict())
    items = [data.input(i) for i in range(len(data))]
    with torch.no_grad():
        assert torch.allclose(rebuilt(rebuilt.collate(items)), adapted(adapted.collate(items)))
    assert rebuilt.fingerprint() == adapted.fingerprint()


def test_other_backbones_and_errors(source):
    bb, data = source
    fresh = TabularBackbone([8])
    assert adapt_backbone(fresh, data) is fresh  # no schema yet: nothing to adapt to
    with pytest.raises(ConfigError, match="init"):
        AdaptedTableBackbone(bb, init="least-squares")
    with pytest.raises(ConfigError, match="source table"):
        AdaptedTableBackbone(fresh)
    with pytest.raises(NotFittedError, match="adapt_to"):
        AdaptedTableBackbone(bb)(torch.zeros(2, 3))
