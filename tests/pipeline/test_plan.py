"""--dry-run: the plan of a fit, printed in seconds, with nothing trained or written."""

from __future__ import annotations

import transferkit as tk
from transferkit.cli import main


def test_dry_run_plans_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    plan = tk.fit(data="breast-cancer-wdbc", backbone="tabular:8", strategy="gradual", epochs=3,
                  cache_dir=str(tmp_path / "cache"), out=str(tmp_path / "run"), dry_run=True,
                  log=lines.append)
    assert plan["data"] == {"train": 399, "val": 57, "test": 113, "classes": 2}
    assert plan["labels_used"] == {"train": 399, "val": 57}
    stages = {s["stage"]: s for s in plan["stages"]}
    assert stages["head"]["steps"] >= 500  # the probe's min_steps
    assert stages["unfrozen"]["steps"] == 3 * 13 and stages["unfrozen"]["inputs"].startswith("end to end")
    assert all(not e["cached"] for e in plan["extractions"])
    assert plan["memory"]["peak_rss_mb_after_loading"] > 0 and plan["estimated_total_s"] >= 0
    assert any("nothing was trained or written" in line for line in lines)
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_dry_run_sees_the_cache_and_plans_auto_as_its_first_rung(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cache = str(tmp_path / "cache")
    tk.fit(data="breast-cancer-wdbc", backbone="tabular:8", strategy="linear-probe", epochs=1,
           cache_dir=cache, out=str(tmp_path / "probe"), log=None)
    plan = tk.fit(data="breast-cancer-wdbc", backbone="tabular:8", strategy="auto", cache_dir=cache,
                  dry_run=True, log=None)
    assert all(e["cached"] for e in plan["extractions"]) and "time-budget" in plan["note"]
    assert main(["fit", "--data", "breast-cancer-wdbc", "--backbone", "tabular:8", "--dry-run",
                 "--cache-dir", cache]) == 0
    assert "nothing was trained or written" in capsys.readouterr().err


def test_pretrain_dry_run_plans_the_source_fit(tmp_path):
    plan = tk.pretrain("breast-cancer-wdbc", "tabular:8", tmp_path / "pre", epochs=2, dry_run=True,
                       log=None)
    assert plan["strategy"] == "full" and plan["stages"][0]["steps"] == 2 * 13
    assert not (tmp_path / "pre").exists()


def test_pretrain_command_has_a_dry_run(tmp_path, capsys):
    assert main(["pretrain", "--data", "breast-cancer-wdbc", "--arch", "tabular:8", "--out",
                 str(tmp_path / "pre"), "--epochs", "2", "--dry-run"]) == 0
    assert "nothing was trained or written" in capsys.readouterr().err
    assert not (tmp_path / "pre").exists()
