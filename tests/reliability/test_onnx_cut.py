"""ONNX exports of a backbone cut at an intermediate block (issue 24): they disagreed
with torch by 5-60 because torch.onnx.export left the cut's BatchNorm layers in training
mode; torch then fell back *with* those wrong modes, so the cached activations were wrong
and the backbone's running statistics changed."""

from __future__ import annotations

import tempfile
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")


def _backbone():
    from transferkit.backbones import create_backbone

    torch.manual_seed(0)
    bb = create_backbone("timm:test_efficientnet", pretrained=False, image_size=32)
    with torch.no_grad():  # non-trivial running statistics, as trained weights have
        for m in bb.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.2, 3)
    return bb.eval()


def test_export_onnx_keeps_every_submodule_mode() -> None:
    from pathlib import Path

    from transferkit.features.onnx import export_onnx

    bb = _backbone()
    bottom = bb.split_at(2)[0]  # a fresh nn.Sequential: its own flag is True
    norms = [m for m in bottom.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bottom.training and norms and not any(m.training for m in norms)
    modes = {m: m.training for m in bottom.modules()}
    export_onnx(bottom, torch.rand(2, 3, 32, 32), Path(tempfile.mkdtemp()) / "m.onnx")
    assert {m: m.training for m in bottom.modules()} == modes


def test_cut_activations_through_onnx_match_torch_and_leave_the_backbone_alone() -> None:
    from transferkit.data.dataset import TransferDataset
    from transferkit.features.extract import extract_features

    rng = np.random.default_rng(0)
    data = TransferDataset("t", "image", rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
                           np.arange(12) % 2, ["a", "b"])
    for k in (1, 2):
        bb = _backbone()
        before = {n: v.clone() for n, v in bb.state_dict().items()}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "onnxruntime not used" fallback
            fast = extract_features(bb, data, cache_dir=tempfile.mkdtemp(), backend="auto", upto_block=k,
                                    progress=False)
        assert all(torch.equal(v, before[n]) for n, v in bb.state_dict().items())
        ref = extract_features(_backbone(), data, cache_dir=tempfile.mkdtemp(), backend="torch",
                               upto_block=k, progress=False)
        np.testing.assert_allclose(fast, ref, atol=1e-4)
