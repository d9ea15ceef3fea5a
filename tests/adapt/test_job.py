"""The adapt job's run directory: one writer at a time, and a --name stays inside runs/."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import transferkit.jobs.adapt.job as job
from transferkit.errors import ConfigError, RunDirError
from transferkit.jobs.adapt import adapt, resolve_adapt_config


def test_a_second_adapt_on_a_locked_run_directory_is_refused_before_writing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("the running job's config\n", encoding="utf-8")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".run.lock").write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        with pytest.raises(RunDirError, match=f"in use by process {other.pid}.*another --out"):
            adapt(source="a", target="b", out=str(run_dir), log=None)
        # refused before anything was read or written: the running job's files are intact
        assert (run_dir / "config.yaml").read_text(encoding="utf-8") == "the running job's config\n"
        assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]
    finally:
        other.kill()
        other.wait()


def test_adapt_holds_the_lock_for_the_whole_run_and_releases_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              shifted_table) -> None:
    run_dir = tmp_path / "run"
    held = []
    original = job.load_data

    def load_and_look(cfg, log):  # the lock is taken before the data is read
        held.append(json.loads((tmp_path / ".run.lock").read_text())["pid"])
        return original(cfg, log)

    monkeypatch.setattr(job, "load_data", load_and_look)
    run = adapt(source=shifted_table(tmp_path / "s.csv", 0.0, 0),
                target=shifted_table(tmp_path / "t.csv", 1.0, 1),
                backbone="tabular:8", method="source-only", select="entropy", epochs=1,
                cache_dir=str(tmp_path / "cache"), out=str(run_dir), log=None)
    assert held == [os.getpid()]
    assert (run.run_dir / "summary.json").is_file() and not (tmp_path / ".run.lock").exists()


@pytest.mark.parametrize("name", ["../../x", "../x", "a/b", "/tmp/x", "..", ".", "a\\b", "./a"])
def test_a_name_that_is_a_path_is_refused(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="'name' parameter of adapt must be a plain run name"):
        adapt(source="a", target="b", name=name, log=None)
    assert list(tmp_path.iterdir()) == []  # nothing was created, inside runs/ or out of it


def test_a_plain_name_and_the_default_name_stay_in_runs() -> None:
    assert job.run_dir_for(resolve_adapt_config(source="a", target="b", name="my run.v2")) == \
        Path("runs") / "my run.v2"
    default = job.run_dir_for(resolve_adapt_config(source="../../printed digits/", target="/x/digits",
                                                   method="dann"))
    assert default.parent == Path("runs") and default.name.startswith("adapt-printed-digits-to-digits-dann-")
    # --out is the user's explicit directory and is used as given
    assert job.run_dir_for(resolve_adapt_config(source="a", target="b", out="../elsewhere")) == \
        Path("../elsewhere")


def test_cli_name_outside_runs_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    from transferkit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["adapt", "--source", "a", "--target", "b", "--name", "../../x"]) == 2
    assert "plain run name" in capsys.readouterr().err and not (tmp_path.parent / "x").exists()
