"""A 2-process DDP run on CPU (gloo) through ``accelerate launch`` (about 30-50 s)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_process_ddp_matches_one_process(tmp_path) -> None:
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if launcher is None:
        pytest.skip("the accelerate launcher is not installed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "ddp.json"
    # `--cpu --num_processes 2` would start one process (accelerate needs an MPI hostfile for
    # multi-CPU); `--multi_gpu` goes through torchrun and Accelerate picks gloo on CPU.
    cmd = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           str(HERE / "ddp_script.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads(Path(f"{out}.rank{r}").read_text()) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], abs=1e-6)  # replicas agree

    sys.path.insert(0, str(HERE))
    from ddp_script import main

    main(str(tmp_path / "single.json"))
    single = json.loads(Path(f"{tmp_path / 'single.json'}.rank0").read_text())
    assert single["world_size"] == 1
    assert ranks[0]["steps"] * 2 == pytest.approx(single["steps"], abs=2)  # global batch is 2x
    assert single["test_accuracy"] > 0.85 and ranks[0]["test_accuracy"] > 0.85
    assert abs(single["test_accuracy"] - ranks[0]["test_accuracy"]) < 0.1
