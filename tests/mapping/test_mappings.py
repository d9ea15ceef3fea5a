"""Contract tests over every registered feature mapping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferkit.errors import ConfigError
from transferkit.mapping import INPUT_ADAPTERS, MAPPINGS

torch.set_num_threads(1)
NAMES = MAPPINGS.names()


def test_feature_mappings_and_adapters_are_separate() -> None:
    assert set(NAMES) == {"identity", "linear", "orthogonal", "mlp"}
    assert set(INPUT_ADAPTERS.names()) == {"channels", "image", "table"}


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_attributes(name: str) -> None:
    phi = MAPPINGS.create(name, in_dim=12)
    assert (phi.in_dim, phi.out_dim) == (12, 12)
    assert phi(torch.randn(5, 12)).shape == (5, 12)
    assert isinstance(phi.config, MAPPINGS.config(name))
    if name != "identity":
        phi = MAPPINGS.create(name, in_dim=12, out_dim=7)
        assert (phi.in_dim, phi.out_dim) == (12, 7)
        assert phi(torch.randn(5, 12)).shape == (5, 7)


@pytest.mark.parametrize("name", NAMES)
def test_each_mapping_trains(name: str) -> None:
    torch.manual_seed(0)
    y = torch.randint(0, 3, (96,))
    x = torch.randn(96, 8) + 2.0 * nn.functional.one_hot(y, 8).float()
    phi = MAPPINGS.create(name, in_dim=8)
    head = nn.Linear(phi.out_dim, 3)
    before = [p.detach().clone() for p in phi.parameters()]
    opt = torch.optim.Adam([*phi.parameters(), *head.parameters()], lr=0.05)
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(head(phi(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
    for old, new in zip(before, phi.parameters(), strict=True):
        assert not torch.equal(old, new.detach()), f"{name}: a parameter did not train"


@pytest.mark.parametrize("name", NAMES)
def test_config_as_object_dict_or_keywords(name: str) -> None:
    cfg_cls = MAPPINGS.config(name)
    assert MAPPINGS.create(name, in_dim=4, config=cfg_cls()).config == cfg_cls()
    assert MAPPINGS.create(name, in_dim=4, config={}).config == cfg_cls()
    with pytest.raises(ConfigError, match="Unknown configuration key 'no_such_key'"):
        MAPPINGS.create(name, in_dim=4, no_such_key=1)
    with pytest.raises(ConfigError, match="'in_dim'.*int >= 1"):
        MAPPINGS.create(name, in_dim=0)


def test_identity_refuses_a_new_dimension() -> None:
    with pytest.raises(ConfigError, match="'linear' or 'mlp'"):
        MAPPINGS.create("identity", in_dim=4, out_dim=3)


def test_unknown_mapping_suggests() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'linear'"):
        MAPPINGS.create("lineer", in_dim=4)
