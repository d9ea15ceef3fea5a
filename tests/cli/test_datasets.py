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


def test_datasets_install_runs_the_exact_pip_command(monkeypatch, capsys):
    import subprocess
    import sys

    from transferkit.cli import main
    from transferkit.data.builtin._base import DATASETS

    cls = DATASETS.get("gunpoint")
    state = {"installed": False}
    monkeypatch.setattr(cls, "available", classmethod(lambda c: state["installed"]))
    ran = []

    def fake_run(command, check):
        ran.append(command)
        state["installed"] = True
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert main(["datasets", "--install", "gunpoint"]) == 0
    assert ran == [[sys.executable, "-m", "pip", "install", "--no-deps", "aeon==1.6.0"]]
    assert "gunpoint is now available" in capsys.readouterr().out
    assert main(["datasets", "--install", "gunpoint"]) == 0  # nothing to do the second time
    assert len(ran) == 1


def test_datasets_install_of_a_debian_dataset_names_the_package(monkeypatch, capsys):
    from transferkit.cli import main
    from transferkit.data.builtin._base import DATASETS

    monkeypatch.setattr(DATASETS.get("fashion-mnist"), "available", classmethod(lambda c: False))
    assert main(["datasets", "--install", "fashion-mnist"]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
