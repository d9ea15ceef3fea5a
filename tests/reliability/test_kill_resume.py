"""A real ``transferkit fit`` process killed with SIGKILL at a random step, then resumed,
ends with weights bitwise-identical to an uninterrupted run; while it runs, a second
writer of its run directory is refused (the lock)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import transferkit
from reliability.helpers import child_cmd, write_table
from transferkit.errors import RunDirError
from transferkit.pipeline.run import lock_path, partial_directory
from transferkit.train.checkpoint import list_checkpoints

_FIT = ("--backbone", "tabular", "--strategy", "full", "--epochs", "6", "--batch-size", "8",
        "--checkpoint-every", "1", "--patience", "100", "--quiet")
_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _step(run: Path) -> int:
    """The newest checkpointed step of ``run``, written in its ``.partial`` sibling until it
    is complete."""
    work = partial_directory(run) if partial_directory(run).is_dir() else run
    found = list_checkpoints(work / "checkpoints" / "full")
    return int(found[-1].name.split("-")[1]) if found else 0


def _finish(proc: subprocess.Popen, what: str) -> None:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{err.decode()[-3000:]}"
    assert b"Traceback" not in err


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Start the reference run and the victim together; refuse a second writer while the
    victim runs; SIGKILL it at a random checkpointed step; resume it in a new process."""
    root = tmp_path_factory.mktemp("kill")
    data = write_table(root / "t.csv", n=300)  # 210 train rows: 27 steps per epoch, 162 in all
    ref, victim = root / "reference", root / "victim"
    target = random.Random().randint(3, 60)
    second_fit = transferkit.fit  # imported before the race, not during it
    print(f"killing at step >= {target}")  # shown on failure, to reproduce
    procs = {name: subprocess.Popen(child_cmd("fit", "--data", data, *_FIT, "--out", out),
                                    env=_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, out in (("reference", ref), ("victim", victim))}
    proc = procs["victim"]
    lock_error = None
    deadline = time.monotonic() + 300
    while _step(victim) < target:
        assert proc.poll() is None, f"the run ended before step {target}: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "the run made no progress"
        if lock_error is None and _step(victim) >= 1:  # a second writer, from this process
            with pytest.raises(RunDirError) as info:
                second_fit(data=str(data), backbone="tabular", strategy="full", epochs=1,
                           out=str(victim), log=None)
            lock_error = str(info.value)
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    killed_at = _step(victim)
    assert proc.returncode == -signal.SIGKILL
    # killed mid-training: no stage had finished and no weights were written
    partial = partial_directory(victim)
    assert not any(p.name.endswith("-final") for p in list_checkpoints(partial / "checkpoints" / "full"))
    assert not victim.exists()  # an unfinished run lives in its .partial sibling only
    assert not (partial / "model.safetensors").exists()
    resumed = subprocess.Popen(child_cmd("fit", "--data", data, *_FIT, "--out", victim, "--resume"),
                               env=_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _finish(procs["reference"], "the uninterrupted run")
    _finish(resumed, "the resumed run")
    return {"ref": ref, "victim": victim, "killed_at": killed_at, "lock_error": lock_error}


def test_kill_9_then_resume_gives_bitwise_identical_weights(killed: dict) -> None:
    a = load_file(str(killed["ref"] / "model.safetensors"))
    b = load_file(str(killed["victim"] / "model.safetensors"))
    assert a.keys() == b.keys() and a
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    assert killed["killed_at"] >= 3 and (killed["victim"] / "summary.json").is_file()


def test_a_second_writer_of_a_running_run_directory_is_refused(killed: dict) -> None:
    msg = killed["lock_error"]
    assert msg is not None
    assert "is in use by process" in msg and str(killed["victim"]) in msg
    assert "another --out directory" in msg


def test_the_lock_of_the_killed_process_was_taken_over_and_released(killed: dict) -> None:
    for run in (killed["victim"], killed["ref"]):
        assert not (run / ".lock").exists() and not lock_path(run).exists()
        assert not partial_directory(run).exists()  # --resume adopted it and renamed it into place
