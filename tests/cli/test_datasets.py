from __future__ import annotations

import json

from transferkit.cli import main
from transferkit.data import DATASETS


def test_datasets_table(capsys) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in DATASETS.names():
        assert name in out
    assert "available" in out


def test_datasets_json(capsys) -> None:
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(DATASETS.names())
    for r in rows:
        assert r["available"] or r["install"]
