"""create_backbone: name resolution and its errors; list_models."""

import pytest

from transferkit.backbones import BUILTINS, create_backbone, list_models
from transferkit.errors import BackboneError, OfflineError


def test_unknown_backbone_suggests_and_lists():
    with pytest.raises(BackboneError) as err:
        create_backbone("efficientnet_lite9")
    msg = str(err.value)
    assert "Did you mean" in msg and "efficientnet_lite0" in msg and "minilm" in msg


def test_hub_weights_offline_name_the_offline_builtins(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError) as err:
        create_backbone("timm:resnet18")
    assert "efficientnet_lite0" in str(err.value) and "--backbone-weights" in str(err.value)
    with pytest.raises(OfflineError, match="--backbone-weights"):
        create_backbone("hf:some-org/some-model")


def test_bare_timm_name_without_pretrained_weights():
    bb = create_backbone("mobilenetv3_small_050", pretrained=False, image_size=32)
    assert bb.family == "timm" and bb.image_size == 32 and bb.source_head is None


def test_folder_that_is_no_model(tmp_path):
    with pytest.raises(BackboneError, match="transferkit.json"):
        create_backbone(str(tmp_path))


def test_prefixed_families():
    assert create_backbone("tabular:32,8").feature_dim == 8
    assert create_backbone("sequence:lstm").name == "sequence:lstm"


def test_list_models_covers_the_builtins():
    rows = {r["name"]: r for r in list_models()}
    assert set(rows) == set(BUILTINS)
    for r in rows.values():
        assert r["available"] or r["install"].startswith("pip install ")
