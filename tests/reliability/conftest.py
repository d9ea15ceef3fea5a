"""Fixtures of the reliability suite (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.helpers import TAB, assert_ok, cli, write_table


@pytest.fixture(scope="session")
def rdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="session")
def table_run(rdir: Path) -> Path:
    """A finished tabular run (fit on a 60-row CSV, 1 epoch); tests copy it, never edit it."""
    data = write_table(rdir / "table.csv")
    out = rdir / "table-run"
    assert_ok(cli("fit", "--data", data, *TAB, "--out", out))
    return out


@pytest.fixture(scope="session")
def tiny_bert(rdir: Path) -> Path:
    """A 2-layer random BERT folder (transformers format) for text runs."""
    from transferkit.backbones.text import TextBackbone

    TextBackbone.tiny_example(rdir)
    return rdir / "tiny-bert"
