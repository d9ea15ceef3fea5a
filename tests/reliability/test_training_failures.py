"""Training that goes wrong, end to end through the CLI: a NaN loss, a failing
checkpoint write."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from reliability.helpers import assert_ok, assert_user_error, cli, write_table
from transferkit.pipeline.run import partial_directory
from transferkit.train.checkpoint import list_checkpoints, load_checkpoint

# 1e39 is finite in the CSV (float64) but overflows float32: rows holding it in every
# column overflow the first layer, and the batch holding one gives a non-finite loss in the
# middle of the first epoch, after good steps were saved (the seeded split puts two of
# these rows in train, the first at step 3).
_FIT = ("--backbone", "tabular", "--strategy", "full", "--epochs", "2", "--batch-size", "4",
        "--checkpoint-every", "1", "--quiet")


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    data = write_table(tmp_path / "extreme.csv", edit={(r, c): "1e39" for r in (10, 20, 30)
                                                             for c in ("f0", "f1", "f2", "f3")})
    run = tmp_path / "run"
    with pytest.warns(RuntimeWarning):  # numpy's float32 overflow warning
        res = cli("fit", "--data", data, *_FIT, "--out", run)
    assert_user_error(res, "loss became nan", "last good checkpoint is", "--lr", "nan/inf")
    # the message names the checkpoint; it is complete, loadable and finite
    joined = "".join(res.err.split())  # rich may wrap the long path anywhere
    named = Path(re.search(r"lastgoodcheckpointis(\S+?step-\d{9})", joined).group(1))
    found = list_checkpoints(partial_directory(run) / "checkpoints" / "full")  # unfinished: in .run.partial
    assert found and found[-1].name == named.name
    step = int(res.err.split("at step ")[1].split()[0])
    ckpt = load_checkpoint(found[-1])
    assert ckpt.state["step"] == step - 1 >= 1
    assert all(torch.isfinite(t).all() for t in ckpt.model.values())
    # a failed run does not pretend to be finished
    assert not (run / "model.safetensors").exists() and not (run / "summary.json").exists()


def test_a_failure_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path: Path,
                                                                    monkeypatch) -> None:
    data = write_table(tmp_path / "t.csv")
    run = tmp_path / "run"
    real_save = torch.save
    calls = {"optimizer": 0}

    def failing_save(obj, f, *args, **kwargs):  # the disk fills up at the 3rd checkpoint
        if str(f).endswith("optimizer.pt"):
            calls["optimizer"] += 1
            if calls["optimizer"] == 3:
                real_save(obj, f, *args, **kwargs)  # a half-written checkpoint is left behind
                raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    res = cli("fit", "--data", data, *_FIT, "--out", run)
    assert_user_error(res, "writing the checkpoint of step 3", "no space left on device",
                      "previous checkpoint is intact", "--resume")
    ckpt_dir = partial_directory(run) / "checkpoints" / "full"  # unfinished: in .run.partial
    assert [p.name for p in ckpt_dir.iterdir()] == ["step-000000002"]  # no temporary leftovers
    ckpt = load_checkpoint(ckpt_dir / "step-000000002")
    assert ckpt.state["step"] == 2 and ckpt.optimizer["state"]

    monkeypatch.setattr(torch, "save", real_save)  # space freed: resume finishes the run
    assert_ok(cli("fit", "--data", data, *_FIT, "--out", run, "--resume"))
    summary = json.loads((run / "summary.json").read_text())
    assert math.isfinite(summary["metrics"]["test"]["accuracy"])
