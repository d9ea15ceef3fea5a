from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tiny_models import blobs, tiny_model

from transferkit.config import TrainConfig
from transferkit.errors import RunDirError
from transferkit.strategies import create_strategy
from transferkit.train import RunDirLock, Trainer


def _trainer(run_dir):
    model = tiny_model()
    config = TrainConfig(epochs=1, batch_size=32)
    (stage,) = create_strategy("full").stages(model, config)
    return Trainer(model, config, param_groups=stage.param_groups, train_data=blobs(), run_dir=run_dir,
                   log=None)


def _write_lock(run_dir, pid: int) -> None:
    import socket

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ".lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


def test_a_second_run_on_a_locked_directory_refuses(tmp_path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, other.pid)
        with pytest.raises(RunDirError, match=f"in use by process {other.pid}"):
            _trainer(tmp_path).fit()
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == other.pid
    finally:
        other.kill()
        other.wait()


def test_a_stale_lock_from_a_dead_process_is_taken_over(tmp_path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_lock(tmp_path, dead.pid)
    result = _trainer(tmp_path).fit()
    assert result.steps > 0
    assert not (tmp_path / ".lock").exists()  # released at the end


def test_lock_is_reentrant_in_one_process_and_released(tmp_path) -> None:
    with RunDirLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
        _trainer(tmp_path).fit()  # the pipeline may hold the lock around its stages
        assert (tmp_path / ".lock").exists()
    assert not (tmp_path / ".lock").exists()
