"""adapt --dry-run: the plan of an adaptation, printed in seconds, with nothing trained or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferkit.cli import main
from transferkit.jobs.adapt import adapt


def test_adapt_dry_run_plans_every_candidate_and_writes_nothing(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                shifted_table, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    source = shifted_table(tmp_path / "s.csv", 0.0, 0)
    target = shifted_table(tmp_path / "t.csv", 1.0, 1)
    cache = tmp_path / "cache"
    lines: list[str] = []
    plan = adapt(source=source, target={"data": target, "shots": 2}, backbone="tabular:8",
                 method="dann", select="entropy",
                 sweep=True, sweep_weights=[0.1, 1.0], epochs=3, batch_size=32,
                 cache_dir=str(cache), out=str(tmp_path / "run"),
                 dry_run=True, log=lines.append)
    assert plan["data"]["source"] == {"train": 84, "val": 12}
    assert plan["data"]["target"]["labelled"] == 4 and plan["data"]["target"]["test"] == 24
    assert plan["labels_used"] == {"train": 84, "val": 12, "target": 4}  # target: the shots only
    assert plan["mode"] == "features"
    assert [c["candidate"] for c in plan["candidates"]] == ["source-only", "dann-lambda-0.1",
                                                            "dann-lambda-1"]
    assert [c["aligns"] for c in plan["candidates"]] == [False, True, True]
    assert all(c["stages"][0]["steps"] == 3 * 3 for c in plan["candidates"])  # 88 rows / 32 per batch
    assert [e["domain"] + " " + e["split"] for e in plan["extractions"]] == [
        "source train", "source val", "target train", "target test"]
    assert not any(e["cached"] for e in plan["extractions"])
    assert plan["memory"]["peak_rss_mb_after_loading"] > 0 and plan["estimated_total_s"] >= 0
    assert any("nothing was trained or written" in line for line in lines)
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()
    assert not cache.exists() or not any(cache.rglob("*.npy"))

    # the command: exit 0, the plan on the console, still nothing written
    assert main(["adapt", "--source", source, "--target", target, "--backbone", "tabular:8",
                 "--method", "coral", "--strategy", "full", "--select", "entropy", "--epochs", "2",
                 "--cache-dir", str(cache), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "end to end on raw inputs" in err and "nothing was trained or written" in err
    assert not (tmp_path / "runs").exists() and (not cache.exists() or not any(cache.rglob("*.npy")))


def test_adapt_dry_run_sees_the_features_an_earlier_run_cached(tmp_path: Path, shifted_table) -> None:
    source = shifted_table(tmp_path / "s.csv", 0.0, 0)
    target = shifted_table(tmp_path / "t.csv", 1.0, 1)
    common = {"source": source, "target": target, "backbone": "tabular:8", "method": "source-only",
              "select": "entropy", "epochs": 1, "cache_dir": str(tmp_path / "cache"), "log": None}
    adapt(**common, out=str(tmp_path / "run"))
    plan = adapt(**common, dry_run=True)
    assert [c["candidate"] for c in plan["candidates"]] == ["source-only"]
    assert all(e["cached"] and e["estimated_s"] == 0.0 for e in plan["extractions"])
