"""The joint objective λ·L_source + L_target, directly and through fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from transferkit.backbones.tabular import TabularBackbone
from transferkit.config import FitConfig, from_dict
from transferkit.errors import ConfigError, DataError
from transferkit.joint import JointObjective
from transferkit.model import TransferModel

torch.set_num_threads(1)


class _Identity(TabularBackbone):
    """A backbone stand-in whose features are its inputs (B, 4)."""

    def __init__(self) -> None:
        super().__init__([4])
        self.feature_dim = 4

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs


def _model(k: int = 3) -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(_Identity(), k)


def _batch(k_t: int = 3, k_s: int = 3):
    g = torch.Generator().manual_seed(1)
    x_t, x_s = torch.randn(6, 4, generator=g), torch.randn(8, 4, generator=g)
    y_t, y_s = torch.randint(0, k_t, (6,), generator=g), torch.randint(0, k_s, (8,), generator=g)
    return (x_t, y_t), (x_s, y_s)


@pytest.mark.parametrize("lam", [0.0, 0.3, 2.0])
def test_shared_head_loss_equals_the_formula(lam):
    model = _model()
    obj = JointObjective(4, ["a", "b", "c"], ["a", "b", "c"], source_weight=lam)
    batch = _batch()
    loss, logs = obj(model, batch, 0)
    (x_t, y_t), (x_s, y_s) = batch
    l_t = F.cross_entropy(model.head(x_t), y_t)
    l_s = F.cross_entropy(model.head(x_s), y_s)
    assert torch.allclose(loss, lam * l_s + l_t)
    assert logs["loss_target"] == pytest.approx(float(l_t.detach()))
    assert logs["loss_source"] == pytest.approx(float(l_s.detach()))


def test_zero_weight_is_exactly_the_target_only_loss():
    model = _model()
    obj = JointObjective(4, ["p", "q", "r", "s", "t"], ["a", "b", "c"], source_weight=0.0)
    batch = _batch(3, 5)
    loss, _ = obj(model, batch, 0)
    (x_t, y_t), _ = batch
    assert torch.equal(loss, F.cross_entropy(model(x_t), y_t))
    loss.backward()
    assert obj.source_head.weight.grad is None or not obj.source_head.weight.grad.any()


def test_separate_head_when_label_sets_differ():
    model = _model()
    obj = JointObjective(4, ["p", "q", "r", "s", "t"], ["a", "b", "c"], source_weight=0.5)
    assert not obj.shared_head and obj.source_head.out_features == 5
    batch = _batch(3, 5)
    loss, _ = obj(model, batch, 0)
    (x_t, y_t), (x_s, y_s) = batch
    expected = F.cross_entropy(model.head(x_t), y_t) + 0.5 * F.cross_entropy(obj.source_head(x_s), y_s)
    assert torch.allclose(loss, expected)


def test_shared_classes_in_another_order_are_matched_by_name():
    model = _model()
    obj = JointObjective(4, ["c", "a", "b"], ["a", "b", "c"], source_weight=1.0)
    (x_t, y_t), (x_s, y_s) = _batch()
    loss, _ = obj(model, ((x_t, y_t), (x_s, y_s)), 0)
    remapped = torch.tensor([2, 0, 1])[y_s]  # source index -> target index of the same name
    expected = F.cross_entropy(model.head(x_t), y_t) + F.cross_entropy(model.head(x_s), remapped)
    assert torch.allclose(loss, expected)


def test_errors():
    with pytest.raises(ConfigError, match="source_weight"):
        JointObjective(4, ["a"], ["a"], source_weight=-1.0)
    with pytest.raises(ConfigError, match="source_weight"):
        from_dict(FitConfig, {"source_weight": -0.5})
    with pytest.raises(DataError, match="target_data"):
        JointObjective(4, ["a"], ["a"])(_model(), (torch.zeros(2, 4), torch.zeros(2), 1), 0)


def _csv(path, seed: int, n: int, shift: float, cols: tuple[str, ...], labels=("no", "yes")):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    frame = pd.DataFrame({c: rng.normal(shift * y, 1.0) for c in cols})
    frame["label"] = np.asarray(labels)[y]
    frame.to_csv(path, index=False)
    return path


def test_fit_with_joint_source(tmp_path):
    from transferkit.jobs.fit import fit
    from transferkit.jobs.predict import load

    target = _csv(tmp_path / "target.csv", 0, 60, 1.5, ("a", "b"))
    source = _csv(tmp_path / "source.csv", 1, 120, 2.0, ("a", "b"), labels=("neg", "pos"))
    messages: list[str] = []
    run = fit(data=str(target), backbone="tabular:8", strategy="full", shots=5, epochs=3,
              joint_source=str(source), source_weight=0.5, out=str(tmp_path / "run"),
              cache_dir=str(tmp_path / "cache"), log=messages.append)
    joint = run.summary["joint"]
    assert joint["source_weight"] == 0.5 and not joint["shared_head"] and joint["n_source"] > 50
    assert run.summary["data"]["source"] == str(source)
    assert any("0.5 * L_source + L_target" in m for m in messages)
    # the source head belongs to the objective, not to the saved target model
    assert load(run.run_dir).predict_proba(pd.read_csv(target).drop(columns="label")[:4]).shape == (4, 2)
