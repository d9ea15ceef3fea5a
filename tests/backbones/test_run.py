"""A run directory used as a backbone."""

import json

import pytest
import torch
from safetensors.torch import load_file

from transferkit.backbones import create_backbone
from transferkit.errors import RunDirError


def test_run_directory_round_trip(examples, workdir):
    bb, _ = examples["run"]
    run = workdir / "tiny-run"
    loaded = create_backbone(str(run))
    saved = load_file(str(run / "model.safetensors"))
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, saved["backbone." + key])
    assert loaded.fingerprint() == bb.fingerprint()


def test_incomplete_run_directory(tmp_path, examples):
    bb, _ = examples["timm"]
    (tmp_path / "transferkit.json").write_text(json.dumps({"backbone": bb.describe()}))
    with pytest.raises(RunDirError, match="model.safetensors"):
        create_backbone(str(tmp_path))
