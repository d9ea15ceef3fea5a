"""Two processes under ``accelerate launch`` (CPU, gloo): the check pass and the extraction
each run on a slice per process, with the same results as one process (about 30-60 s)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], env: dict[str, str], processes: int) -> None:
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if launcher is None:
        pytest.skip("the accelerate launcher is not installed")
    # `--cpu --num_processes 2` would start one process; `--multi_gpu` goes through
    # torchrun, and transferkit asks Accelerate for the CPU (gloo) when there is no GPU.
    cmd = [launcher, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           str(HERE / "sharded_script.py"), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_check_and_extract_their_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    root, rng = tmp_path / "images", np.random.default_rng(0)
    for k, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(5):
            arr = rng.integers(0, 100, size=(12, 12, 3)) + 100 * k
            Image.fromarray(arr.astype(np.uint8)).save(root / name / f"{i}.png")
    (root / "dog" / "3.png").write_bytes(b"not an image")  # found by the second process's slice
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    out = str(tmp_path / "res")
    _run([str(root), str(tmp_path / "cache2"), out, "two"], env, 2)
    two = [json.loads(Path(f"{out}.two.rank{r}").read_text()) for r in range(2)]
    assert [r["world"] for r in two] == [2, 2]
    assert [r["decoded"] for r in two] == [5, 5]  # each process decoded its half of the 10 files
    with sqlite3.connect(tmp_path / "cache2" / "data" / "checks.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM checks").fetchone()[0] == 10  # all cached, by the main process
    assert not list((tmp_path / "cache2" / "features").glob("*.tmp"))  # the shards were joined and removed
    from transferkit.data import file_check

    monkeypatch.setattr(file_check, "read_image", file_check.read_image)  # the script replaces them:
    monkeypatch.setattr(file_check, "_QUIESCENT_S", file_check._QUIESCENT_S)  # put back afterwards
    sys.path.insert(0, str(HERE))
    from sharded_script import main

    main(str(root), str(tmp_path / "cache1"), out, "one")  # one process, here
    one = json.loads(Path(f"{out}.one.rank0").read_text())
    for r in two:  # every process holds every feature, as one process computes them
        assert r["n"] == one["n"] == 9 and r["ids"] == one["ids"]
        assert [s["file"] for s in r["skipped"]] == [s["file"] for s in one["skipped"]] == [str(root / "dog" / "3.png")]
        np.testing.assert_allclose(np.array(r["features"]), np.array(one["features"]), rtol=1e-4, atol=1e-5)
        assert r["acts_shape"] == one["acts_shape"] and len(r["acts_shape"]) == 4
        assert r["acts_sum"] == pytest.approx(one["acts_sum"], rel=1e-4)
