"""Contract tests: every registered backbone family, through its tiny_example."""

import json

import pytest
import torch

from transferkit.backbones import BACKBONES, from_description
from transferkit.errors import BackboneError

FAMILIES = BACKBONES.names()


def _items(data):
    return [data.input(i) for i in range(len(data))]


def _features(bb, data):
    bb.eval()
    with torch.inference_mode():
        return bb(bb.collate(_items(data)))


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_shape_and_description(family, examples):
    bb, data = examples[family]
    f = _features(bb, data)
    assert f.shape == (len(data), bb.feature_dim)
    assert torch.isfinite(f).all()
    desc = json.loads(json.dumps(bb.describe()))
    assert desc["feature_dim"] == bb.feature_dim and desc["modality"] == data.modality


@pytest.mark.parametrize("family", FAMILIES)
def test_from_description_rebuilds_the_same_model(family, examples):
    bb, data = examples[family]
    rebuilt = from_description(bb.describe())
    rebuilt.load_state_dict(bb.state_dict())
    assert torch.allclose(_features(rebuilt, data), _features(bb, data), atol=1e-6)
    assert rebuilt.fingerprint() == bb.fingerprint()


@pytest.mark.parametrize("family", FAMILIES)
def test_blocks_are_the_backbones_parameters(family, examples):
    bb, _ = examples[family]
    try:
        blocks = bb.blocks()
    except BackboneError as exc:  # a fixed feature extractor (nothing to unfreeze by depth)
        assert "does not list its blocks" in str(exc) and not any(True for _ in bb.parameters())
        pytest.skip(f"{family} has no trainable blocks")
    assert blocks
    own = {id(p) for p in bb.parameters()}
    in_blocks = {id(p) for b in blocks for p in b.parameters()}
    assert in_blocks and in_blocks <= own


@pytest.mark.parametrize("family", FAMILIES)
def test_split_at_is_equivalent(family, examples):
    bb, data = examples[family]
    try:
        bottom, top = bb.split_at(1)
    except BackboneError as exc:
        assert "cannot be split by blocks" in str(exc)
        pytest.skip(f"{family} does not split by blocks")
    bb.eval()
    with torch.inference_mode():
        inputs = bb.collate(_items(data))
        assert torch.allclose(top(bottom(inputs)), bb(inputs), atol=1e-5)
    top_params = {id(p) for p in top.parameters()}
    assert top_params and not top_params & {id(p) for p in bottom.parameters()}


@pytest.mark.parametrize("family", FAMILIES)
def test_fingerprint_follows_the_weights(family, examples):
    bb, _ = examples[family]
    before = bb.fingerprint()
    # a fixed feature extractor (no parameters) is keyed by its fitted buffers
    p = next(bb.parameters(), None)
    if p is None:
        p = next(b for b in bb.buffers() if b.is_floating_point())
    saved = p.detach().clone()
    with torch.no_grad():
        p.add_(1.0)
    try:
        assert bb.fingerprint() != before
    finally:
        with torch.no_grad():
            p.copy_(saved)
    assert bb.fingerprint() == before
