"""A run directory is never replaced silently, and ``--resume`` continues only the run it
belongs to (issue 24, H1 and H2).

- ``fit --out DIR`` onto a run is refused unless ``--resume`` or ``--overwrite``;
- a run is written into ``.<name>.partial`` and renamed into place when complete, so with
  ``--overwrite`` the old run stays intact until the new one is, and a failed run leaves
  no stray files (a ``.partial`` with a checkpoint stays, for ``--resume``);
- ``--resume`` refuses another configuration (naming the keys) or other data, except that
  a finished run resumed with more epochs is extended (trains further, rewritten whole).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from reliability.helpers import assert_ok, assert_user_error, cli, write_table
from transferkit.pipeline.run import UNFINGERPRINTED, lock_path, partial_directory

_FIT = ("--backbone", "tabular", "--strategy", "full", "--epochs", "1", "--batch-size", "16",
        "--checkpoint-every", "1", "--quiet")


def _files(run: Path) -> dict[str, str]:
    """Every file under ``run`` (relative path -> sha256), the lock aside."""
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


def _siblings(run: Path) -> list[str]:
    """What else than the run sits beside it (partial, lock, moved-aside old runs)."""
    return sorted(p.name for p in run.parent.iterdir() if p.name.startswith(f".{run.name}."))


def _fit(root: Path) -> dict:
    data = write_table(root / "t.csv", n=80)
    run = root / "run"
    assert_ok(cli("fit", "--data", data, *_FIT, "--out", run))
    return {"data": data, "run": run, "files": _files(run)}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _fit(tmp_path_factory.mktemp("rundir"))


@pytest.fixture
def finished(template: dict, tmp_path: Path) -> dict:
    """A copy of a finished run (its data file is shared: tests never edit it)."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(template["run"], run)
    return {**template, "run": run}


def test_fit_onto_a_finished_run_is_refused_and_changes_nothing(finished: dict) -> None:
    run = finished["run"]
    res = cli("fit", "--data", finished["data"], *_FIT, "--out", run)
    assert_user_error(res, f"'{run}' already holds a run", "--resume", "--overwrite", "another --out")
    assert _files(run) == finished["files"] and _siblings(run) == []


def test_overwrite_replaces_the_run_as_a_whole(finished: dict) -> None:
    run = finished["run"]
    (run / "left-by-the-old-run.txt").write_text("old\n")
    assert_ok(cli("fit", "--data", finished["data"], *_FIT, "--epochs", "2", "--out", run, "--overwrite"))
    assert not (run / "left-by-the-old-run.txt").exists()
    config = (run / "config.yaml").read_text()
    assert "epochs: 2" in config
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(r.get("epoch", 0) for r in records) <= 2 and len(records) == len(
        {(r.get("stage"), r.get("step"), r.get("split", r.get("kind"))) for r in records})
    ckpts = sorted(p.name for p in (run / "checkpoints" / "full").iterdir())
    assert len(ckpts) == 1 and ckpts[0].endswith("-final")  # no checkpoint of the old run beside
    assert _siblings(run) == []
    assert not list(run.parent.rglob("*.tmp"))


def test_with_overwrite_the_old_run_stays_intact_until_the_new_one_is_complete(
        finished: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import transferkit.pipeline.run as run_module

    run = finished["run"]

    def disk_full(*_a, **_k):  # the new run fails while writing its weights
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module, "atomic_write_bytes", disk_full)
    res = cli("fit", "--data", finished["data"], *_FIT, "--epochs", "2", "--out", run, "--overwrite")
    assert res.rc != 0
    monkeypatch.undo()
    assert _files(run) == finished["files"]  # old config, model and summary, nothing new beside
    assert not list(run.parent.rglob("*.tmp"))
    # the failed run checkpointed: its .partial stays for --resume, and a plain fit is refused
    assert _siblings(run) == [partial_directory(run).name]
    assert_user_error(cli("fit", "--data", finished["data"], *_FIT, "--epochs", "2", "--out", run),
                      "unfinished run", str(partial_directory(run)), "--resume", "--overwrite")
    assert_ok(cli("fit", "--data", finished["data"], *_FIT, "--epochs", "2", "--out", run, "--resume"))
    assert "epochs: 2" in (run / "config.yaml").read_text() and _siblings(run) == []


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("a,label\n1,x\n2,x\n3,y\n", encoding="utf-8")  # too few rows to split
    run = tmp_path / "run"
    assert cli("fit", "--data", data, *_FIT, "--out", run).rc == 2
    assert not run.exists() and _siblings(run) == []


def test_a_stale_partial_without_a_checkpoint_is_removed_by_the_next_fit(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv")
    run = tmp_path / "run"
    partial = partial_directory(run)
    partial.mkdir()
    (partial / "config.yaml").write_text("from a run killed before its first checkpoint\n")
    lock_path(run).write_text(json.dumps({"pid": 2**22 + 7, "host": __import__("socket").gethostname()}))
    assert_ok(cli("fit", "--data", data, *_FIT, "--out", run))
    assert (run / "summary.json").is_file() and _siblings(run) == []


# --------------------------------------------------------------------------- H2: --resume checks


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_resume_with_more_epochs_extends_the_finished_run(finished: dict) -> None:
    run = finished["run"]
    last_before = max(r["step"] for r in _records(run))
    recorded = json.loads((run / "fingerprints.json").read_text())
    res = cli("fit", "--data", finished["data"], *_FIT, "--epochs", "3", "--out", run, "--resume")
    assert_ok(res)
    said = " ".join(res.out.split())  # --quiet: the summary printer states it
    assert "extended: epochs 1 -> 3; stage full continued from step" in said, res.out
    records = _records(run)
    assert max(r["step"] for r in records) == 3 * last_before  # really trained 2 more epochs
    assert [r["step"] for r in records if r["step"] <= last_before][-1] == last_before  # the old ones kept
    after = _files(run)
    assert after["model.safetensors"] != finished["files"]["model.safetensors"]
    assert "epochs: 3" in (run / "config.yaml").read_text()
    summary = json.loads((run / "summary.json").read_text())
    extended = summary["extended"]
    assert (extended["from_epochs"], extended["to_epochs"], extended["stage"]) == (1, 3, "full")
    assert (extended["from_step"], extended["to_step"]) == (last_before, 3 * last_before)
    assert 0 < extended["lr_start"]["head"] < 1e-3  # below the peak --lr: where the old schedule ended
    fingerprints = json.loads((run / "fingerprints.json").read_text())
    assert fingerprints["config"] == summary["fingerprints"]["config"] != recorded["config"]
    assert fingerprints["splits"] == recorded["splits"]
    assert _siblings(run) == [] and not list(run.parent.rglob("*.tmp"))
    # the extended run is a finished run like any other: resuming it again changes nothing
    assert_ok(cli("fit", "--data", finished["data"], *_FIT, "--epochs", "3", "--out", run, "--resume"))
    assert _files(run)["model.safetensors"] == after["model.safetensors"]


def test_a_multi_stage_run_extends_its_last_stage_only(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv", n=80)
    run = tmp_path / "run"
    # the last --strategy wins; the head stage runs its 500 min_steps without checkpoints
    argv = (*_FIT, "--strategy", "gradual", "--checkpoint-every", "1000", "--out", run)
    assert_ok(cli("fit", "--data", data, *argv))
    head_before = [r for r in _records(run) if r["stage"] == "head"]
    last_before = max(r["step"] for r in _records(run) if r["stage"] == "unfrozen")
    assert_ok(cli("fit", "--data", data, *argv, "--epochs", "2", "--resume"))
    assert [r for r in _records(run) if r["stage"] == "head"] == head_before  # kept as it finished
    assert max(r["step"] for r in _records(run) if r["stage"] == "unfrozen") == 2 * last_before
    assert json.loads((run / "summary.json").read_text())["extended"]["stage"] == "unfrozen"


def test_resume_with_another_lr_or_fewer_epochs_is_refused_naming_the_key(finished: dict) -> None:
    run = finished["run"]
    res = cli("fit", "--data", finished["data"], *_FIT, "--lr", "0.5", "--out", run, "--resume")
    assert_user_error(res, "--resume", "train.lr: 0.001 in config.yaml, 0.5 now", "--overwrite",
                      "extended only by more --epochs")
    res = cli("fit", "--data", finished["data"], *_FIT, "--epochs", "3", "--lr", "0.5", "--out", run,
              "--resume")
    assert_user_error(res, "train.epochs: 1 in config.yaml, 3 now", "train.lr")
    assert _files(run) == finished["files"] and _siblings(run) == []


def test_an_extension_that_fails_leaves_the_finished_run_as_it_was(
        finished: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import transferkit.pipeline.run as run_module

    run = finished["run"]

    def disk_full(*_a, **_k):  # the extended run fails while writing its weights
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_module, "atomic_write_bytes", disk_full)
    res = cli("fit", "--data", finished["data"], *_FIT, "--epochs", "3", "--out", run, "--resume")
    assert res.rc == 2 and "No space left" in res.err
    monkeypatch.undo()
    assert _files(run) == finished["files"] and _siblings(run) == []


def test_resume_with_other_data_is_refused(tmp_path: Path) -> None:
    finished = _fit(tmp_path)
    run = finished["run"]
    other = write_table(tmp_path / "other.csv", n=80, seed=3)
    res = cli("fit", "--data", other, *_FIT, "--out", run, "--resume")
    assert_user_error(res, "data.data", str(other))
    # the same path with other content: the split fingerprints differ
    finished["data"].write_bytes(other.read_bytes())
    res = cli("fit", "--data", finished["data"], *_FIT, "--out", run, "--resume")
    assert_user_error(res, "the train, val, test split(s) differ", "same data")
    assert _files(run) == finished["files"]


def test_resume_with_the_same_configuration_finishes_and_output_keys_may_differ(finished: dict) -> None:
    assert "train.checkpoint_every" in UNFINGERPRINTED and "out" in UNFINGERPRINTED
    run = finished["run"]
    fp = json.loads((run / "transferkit.json").read_text())["fingerprints"]
    assert set(fp) == {"config", "splits"} and set(fp["splits"]) == {"train", "val", "test"}
    argv = [a if a != "1" or i != _FIT.index("--checkpoint-every") + 1 else "7" for i, a in enumerate(_FIT)]
    assert_ok(cli("fit", "--data", finished["data"], *argv, "--out", run, "--resume"))
    before, after = finished["files"], _files(run)
    assert after["model.safetensors"] == before["model.safetensors"]


def test_resume_and_overwrite_together_are_refused(finished: dict) -> None:
    res = cli("fit", "--data", finished["data"], *_FIT, "--out", finished["run"], "--resume", "--overwrite")
    assert_user_error(res, "--resume", "--overwrite", "not both")


def test_runs_clean_removes_what_dead_runs_left_and_spares_live_ones(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    root = tmp_path / "runs"
    (root / "done").mkdir(parents=True)
    (root / "done" / "summary.json").write_text("{}")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for name, pid in (("dead", 2**22 + 7), ("live", live.pid)):
            partial_directory(root / name).mkdir()
            (partial_directory(root / name) / "checkpoints").mkdir()
            lock_path(root / name).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
        (root / ".done.old-123").mkdir()
        (root / ".gone.old-456").mkdir()  # killed between the renames: the only copy of 'gone'
        res = cli("runs", "--clean", root)
        assert_ok(res)
        assert "3 leftover(s)" in res.out
        assert sorted(p.name for p in root.iterdir()) == [".gone.old-456", ".live.lock", ".live.partial",
                                                          "done"]
    finally:
        live.kill()
        live.wait()


def test_overwrite_never_replaces_a_folder_that_is_not_a_run(tmp_path: Path, monkeypatch) -> None:
    data = write_table(tmp_path / "t.csv")
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(project)
    for out in (project, "."):
        res = cli("fit", "--data", data, *_FIT, "--out", out, "--overwrite")
        assert_user_error(res, "not a transferkit run", "'notes.txt'", "another --out")
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "t.csv"]
