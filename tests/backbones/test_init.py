"""create_backbone: name resolution and its errors; list_models."""

import pytest

from transferkit.backbones import (
    BACKBONES,
    BUILTINS,
    Backbone,
    BackboneFamily,
    create_backbone,
    list_models,
    resolve,
)
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


FAMILIES = BACKBONES.names()


@pytest.mark.parametrize("family", FAMILIES)
def test_families_declare_what_they_read(family):
    cls = BACKBONES.get(family)
    assert issubclass(cls, BackboneFamily)
    for name in cls.builtins:
        assert resolve(name) == (family, name)
    for prefix in cls.prefixes:
        assert resolve(prefix + "x" if prefix.endswith(":") else prefix)[0] == family


def test_prefixes_and_builtins_are_unique_across_families():
    prefixes = [p for f in FAMILIES for p in BACKBONES.get(f).prefixes]
    names = [n for f in FAMILIES for n in BACKBONES.get(f).builtins]
    assert len(prefixes) == len(set(prefixes)) and len(names) == len(set(names))
    assert set(BUILTINS) == set(names) and BUILTINS["minilm"]["family"] == "text"


def test_folders_go_to_the_family_that_claims_them(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve(str(tmp_path)) == ("text", str(tmp_path))
    (tmp_path / "transferkit.json").write_text("{}")
    assert resolve(str(tmp_path))[0] == "run"


def test_a_new_family_is_one_class(monkeypatch):
    class ToyBackbone(Backbone):
        """A toy family."""

        prefixes = ("toy:",)
        builtins = {"toy_builtin": {"modality": "toy", "feature_dim": 1, "params": 1, "package": "toy",
                                    "module": "no_such_toy_module", "help": "A toy."}}
        usage = ("toy:<size>",)

        @classmethod
        def from_spec(cls, spec, **options):
            return ("toy", spec, options["pretrained"])

    monkeypatch.setattr(BACKBONES, "_entries", dict(BACKBONES._entries))
    BACKBONES.register("toy")(ToyBackbone)
    assert create_backbone("toy:3") == ("toy", "3", True)
    assert create_backbone("TOY_BUILTIN", pretrained=False) == ("toy", "toy_builtin", False)
    assert "toy_builtin" in {r["name"] for r in list_models()}
    with pytest.raises(BackboneError, match="'toy:<size>'"):
        create_backbone("nothing-reads-this")
