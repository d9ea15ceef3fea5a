"""Every job writes the same summary.json shape (the engine's Summary), once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import transferkit as tk
from transferkit.pipeline import Summary


def _jobs(tmp: Path, table) -> dict:
    src, tgt = table(tmp / "s.csv", 0.0, 0), table(tmp / "t.csv", 1.0, 1)
    common = {"log": None, "cache_dir": str(tmp / "cache")}
    return {
        "fit": lambda: tk.fit(data=src, backbone="tabular:8", strategy="full", epochs=2,
                              out=str(tmp / "fit"), **common),
        "auto": lambda: tk.fit(data=src, backbone="tabular:8", strategy="auto", epochs=2,
                               time_budget="30s", out=str(tmp / "auto"), **common),
        "adapt": lambda: tk.adapt(source=src, target=tgt, backbone="tabular:8", method="coral",
                                  epochs=2, out=str(tmp / "adapt"), **common),
        "pretrain": lambda: tk.pretrain(src, "tabular:8", tmp / "pretrain", epochs=2, log=None),
    }


@pytest.mark.parametrize("job", ["fit", "auto", "adapt", "pretrain"])
def test_every_job_writes_a_valid_summary(job, tmp_path, monkeypatch, shifted_table):
    monkeypatch.chdir(tmp_path)
    run = _jobs(tmp_path, shifted_table)[job]()
    on_disk = json.loads((run.run_dir / "summary.json").read_text())
    assert Summary.validate(on_disk) == []
    assert on_disk["command"] == ("fit" if job == "auto" else job)
    assert on_disk["task"] == "classification"
    assert on_disk["fingerprints"]["config"]
    section = {"auto": "auto", "adapt": "adapt", "pretrain": "pretrain"}.get(job)
    assert section is None or section in on_disk
    manifest = json.loads((run.run_dir / "transferkit.json").read_text())
    assert manifest["task"] == "classification"
    # the runs index holds exactly one row for the run (written once, by Run.finish)
    from transferkit.runs_index import list_runs

    rows = [r for r in list_runs() if Path(r["run_dir"]).resolve() == run.run_dir.resolve()]
    assert len(rows) == 1


def test_the_public_jobs_are_functions_after_their_modules_are_imported():
    import transferkit.jobs.adapt  # noqa: F401
    import transferkit.jobs.fit  # noqa: F401
    import transferkit.jobs.pretrain  # noqa: F401

    for name in ("fit", "adapt", "pretrain", "rank", "evaluate", "load"):
        assert callable(getattr(tk, name)) and not isinstance(getattr(tk, name), type(tk)), name
