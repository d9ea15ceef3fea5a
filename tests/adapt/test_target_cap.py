"""adapt samples the unlabelled target pool (stratified) unless --max-target says otherwise,
and says so on the console."""

from __future__ import annotations

import numpy as np
import pytest

import transferkit.jobs.adapt.data as adapt_data
from transferkit.jobs.adapt import resolve_adapt_config


def test_the_unlabelled_target_pool_is_capped_by_default_and_max_target_overrides(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapt_data, "DEFAULT_MAX_TARGET", 200)  # the pool: WDBC's 399 training rows
    said: list[str] = []
    cfg = resolve_adapt_config(None, (), source="breast-cancer-wdbc", target="breast-cancer-wdbc")
    data = adapt_data.load_data(cfg, said.append)
    assert len(data.target_unlabelled) == 200 < len(data.target_train)
    assert any("stratified sample of 200" in line and "--max-target" in line for line in said)
    # stratified: the sample keeps the pool's class shares
    share = np.bincount(data.target_train.y[data.unlabelled_idx]) / 200
    pool = np.bincount(data.target_train.y) / len(data.target_train)
    assert np.abs(share - pool).max() < 0.01

    said.clear()
    asked = resolve_adapt_config(None, ("target.max_train=300",), source="breast-cancer-wdbc",
                                 target="breast-cancer-wdbc")
    data = adapt_data.load_data(asked, said.append)
    assert len(data.target_unlabelled) == 300 and not any("stratified sample" in line for line in said)
