"""The SQLite runs index and `transferkit runs`."""

from __future__ import annotations

import json

import pytest
from report.factory import make_run


def _set_metrics(run, accuracy, data="digits", strategy="linear-probe"):
    summary = json.loads((run / "summary.json").read_text())
    summary["metrics"]["test"]["accuracy"] = accuracy
    summary["data"]["target"] = data
    summary["strategy"] = strategy
    (run / "summary.json").write_text(json.dumps(summary))


def test_fit_end_records_the_run_and_filters_sort(tmp_path, monkeypatch):
    from transferkit.runs_index import list_runs, record_run

    index = tmp_path / "idx" / "runs.sqlite"
    monkeypatch.setenv("TRANSFERKIT_RUNS_INDEX", str(index))
    a, _ = make_run(tmp_path, "tabular", name="a")  # finish_run records it
    assert index.is_file() and [r["name"] for r in list_runs()] == ["a"]
    b, _ = make_run(tmp_path, "tabular", name="b")
    _set_metrics(a, 0.9, strategy="full")
    _set_metrics(b, 0.7, data="fashion-mnist")
    record_run(a)
    record_run(b)  # recording again updates the row, never duplicates it
    rows = list_runs(sort="accuracy")
    assert [r["name"] for r in rows] == ["a", "b"] and [r["accuracy"] for r in rows] == [0.9, 0.7]
    assert [r["name"] for r in list_runs(data="fashion-mnist")] == ["b"]
    assert [r["name"] for r in list_runs(strategy="full")] == ["a"]
    assert list_runs(sort="accuracy", descending=False)[0]["name"] == "b"
    row = rows[0]
    assert row["config"] == {} and row["timings"]["total_s"] == 1.25
    assert row["metrics"]["test"]["accuracy"] == 0.9 and row["exists"]


def test_explicit_index_and_bad_arguments(tmp_path, monkeypatch):
    from transferkit.errors import ConfigError, RunDirError
    from transferkit.runs_index import list_runs, record_run

    monkeypatch.setenv("TRANSFERKIT_RUNS_INDEX", str(tmp_path / "default.sqlite"))
    run, _ = make_run(tmp_path, "tabular")
    other = tmp_path / "other.sqlite"
    assert record_run(run, other) == other
    assert len(list_runs(other)) == 1 and list_runs(tmp_path / "none.sqlite") == []
    with pytest.raises(ConfigError, match="'sort' parameter must be one of"):
        list_runs(other, sort="speed")
    with pytest.raises(RunDirError, match="summary.json"):
        record_run(tmp_path / "empty", other)
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database" * 100)
    with pytest.warns(UserWarning, match="not recorded"):
        assert record_run(run, bad) is None


def test_cli_runs_table_and_json(tmp_path, monkeypatch, capsys):
    from transferkit.cli import main

    monkeypatch.setenv("TRANSFERKIT_RUNS_INDEX", str(tmp_path / "i.sqlite"))
    monkeypatch.setenv("COLUMNS", "220")  # rich would squeeze the table to 80 columns
    run, _ = make_run(tmp_path, "tabular", name="first")
    assert main(["runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["first"] and rows[0]["strategy"] == "linear-probe"
    assert main(["runs", "--sort", "accuracy"]) == 0
    out = capsys.readouterr().out
    assert "first" in out and "linear-probe" in out
    assert main(["runs", "--index", str(tmp_path / "new.sqlite"), "--record", str(run), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["runs", "--data", "nothing-like-this"]) == 0
    assert "No runs" in capsys.readouterr().out
