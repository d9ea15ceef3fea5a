"""compare_mappings: the experimental comparison behind --mapping auto."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferkit.errors import DataError
from transferkit.mapping import MAPPINGS, compare_mappings

torch.set_num_threads(1)


def xor_features(seed: int, n: int):
    # Classes depend on the sign product of two coordinates: not linearly separable, so a
    # non-linear mapping (mlp) must beat identity/linear/orthogonal + a linear head.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return x, y


def test_compares_every_mapping_best_first() -> None:
    x_tr, y_tr = xor_features(0, 400)
    x_va, y_va = xor_features(1, 200)
    results = compare_mappings(x_tr, y_tr, x_va, y_va, epochs=60, configs={"mlp": {"hidden": 32}})
    assert [r["name"] for r in results][0] == "mlp"
    assert {r["name"] for r in results} == set(MAPPINGS.names())
    accs = [r["val_accuracy"] for r in results]
    assert accs == sorted(accs, reverse=True)
    assert results[0]["val_accuracy"] > 0.8
    identity = next(r for r in results if r["name"] == "identity")
    assert identity["val_accuracy"] < 0.7 and identity["params"] == 0
    assert all(r["seconds"] >= 0 for r in results)


def test_is_reproducible_and_keeps_models() -> None:
    x, y = xor_features(2, 120)
    first = compare_mappings(x, y, x, y, names=["linear", "mlp"], epochs=5, seed=3)
    second = compare_mappings(x, y, x, y, names=["linear", "mlp"], epochs=5, seed=3, keep_models=True)
    assert [(r["name"], r["val_accuracy"]) for r in first] == [(r["name"], r["val_accuracy"]) for r in second]
    assert isinstance(second[0]["mapping"], torch.nn.Module)


def test_train_fn_callback_is_used() -> None:
    x, y = xor_features(3, 50)
    calls = []

    def train_fn(mapping, head, x_t, y_t):  # noqa: ANN001, ANN202
        calls.append((mapping.in_dim, head.out_features, tuple(x_t.shape), tuple(y_t.shape)))

    compare_mappings(x, y, x, y, names=["identity", "linear"], out_dim=4, train_fn=train_fn)
    assert calls == [(6, 2, (50, 6), (50,)), (6, 2, (50, 6), (50,))]


def test_bad_inputs() -> None:
    x, y = xor_features(4, 20)
    with pytest.raises(DataError, match="'val_y'"):
        compare_mappings(x, y, x, y[:5], names=["identity"])
    with pytest.raises(DataError, match="same backbone"):
        compare_mappings(x, y, x[:, :3], y, names=["identity"])
