"""adapt's defaults: a stratified sample of the unlabelled target pool unless --max-target says
otherwise, and resolution matching when the two image domains' native sizes differ; each said
on the console."""

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


def test_resolution_matching_is_on_when_the_image_domains_sizes_differ() -> None:
    from transferkit.cli import build_parser
    from transferkit.cli.adapt import AdaptCommand
    from transferkit.data.dataset import TransferDataset

    def images(side: int, n: int = 3) -> TransferDataset:
        return TransferDataset(name=f"{side}px", modality="image", x=np.zeros((n, side, side), np.uint8),
                               y=np.arange(n) % 2, classes=["a", "b"])

    assert adapt_data.resolutions_differ(images(28), images(8))
    assert not adapt_data.resolutions_differ(images(28), images(28))
    assert resolve_adapt_config(None, (), source="s", target="t").match_resolution is None  # auto
    said: list[str] = []
    cfg = resolve_adapt_config(None, (), source="printed-digits", target="digits")
    data = adapt_data.load_data(cfg, said.append)
    assert data.resolution == {"size": [8, 8], "resampled": "source", "method": "PIL BOX (area)"}
    assert any("auto: the two image domains have different native sizes" in line for line in said)
    off = resolve_adapt_config(None, ("match_resolution=false",), source="printed-digits", target="digits")
    assert adapt_data.load_data(off, said.append).resolution is None
    # the flag stays a switch
    args = build_parser().parse_args(["adapt", "--source", "s", "--target", "t", "--match-resolution"])
    assert AdaptCommand.config(args).match_resolution is True
