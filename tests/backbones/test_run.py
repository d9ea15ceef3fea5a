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


def test_run_backbone_without_pretrained_is_random_init(tmp_path):
    """`--compare scratch` on a run-directory backbone must not load the run's weights."""
    import torch

    from transferkit.backbones import create_backbone
    from transferkit.backbones.run import RunBackbone

    loaded, _ = RunBackbone.tiny_example(tmp_path)
    run = tmp_path / "tiny-run"
    scratch = create_backbone(str(run), pretrained=False)
    assert type(scratch) is type(loaded)
    a, b = loaded.state_dict(), scratch.state_dict()
    assert a.keys() == b.keys()
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
