"""Multi-scale features: pooled outputs of the last stages appended to the final features."""

import numpy as np
import pytest
import torch

from transferkit.backbones import create_backbone
from transferkit.backbones.timm_models import TimmBackbone
from transferkit.config import BackboneConfig, from_dict
from transferkit.errors import BackboneError, ConfigError
from transferkit.pipeline import apply_pool_stages


@pytest.fixture()
def net():
    torch.manual_seed(0)
    return TimmBackbone("mobilenetv3_small_050", image_size=32).eval()


def _x(n=3):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_tapped_features_are_final_features_then_pooled_stage_outputs(net):
    x = _x()
    with torch.no_grad():
        plain = net(x)
        m = net.model
        h = m.bn1(m.conv_stem(x))
        outs = []
        for stage in m.blocks:
            h = stage(h)
            outs.append(h.mean(dim=(2, 3)))  # a direct global average pool per stage
        net.set_pool_stages(2)
        multi = net(x)
    assert net.feature_dim == net.base_dim + outs[-2].shape[1] + outs[-1].shape[1] == multi.shape[1]
    torch.testing.assert_close(multi[:, :net.base_dim], plain)
    torch.testing.assert_close(multi[:, net.base_dim:], torch.cat(outs[-2:], dim=1))
    net.set_pool_stages(0)
    assert net.feature_dim == net.base_dim
    torch.testing.assert_close(net(x), plain)


def test_split_reproduces_the_tapped_forward_when_the_taps_train(net):
    net.set_pool_stages(2)
    x = _x()
    with torch.no_grad():
        full = net(x)
        for k in (3, 4):
            bottom, top = net.split_at(k)
            torch.testing.assert_close(top(bottom(x)), full)
            assert {id(p) for p in top.parameters()} <= {id(p) for p in net.parameters()}
    with pytest.raises(BackboneError, match="pool_stages=2.*Train at least 3 blocks"):
        net.split_at(2)


def test_description_round_trip_keeps_the_taps(net):
    net.set_pool_stages(3)
    desc = net.describe()
    assert desc["pool_stages"] == 3
    again = TimmBackbone.from_description(desc)
    again.load_state_dict(net.state_dict())
    again.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(_x()), net(_x()))


def test_bad_values_name_the_parameter(net):
    with pytest.raises(BackboneError, match="'pool_stages'.*>= 0"):
        net.set_pool_stages(-1)
    with pytest.raises(BackboneError, match="must be <= 6"):
        net.set_pool_stages(7)
    with pytest.raises(ConfigError, match="'pool_stages' parameter must be an int"):
        from_dict(BackboneConfig, {"pool_stages": "many"})
    with pytest.raises(ConfigError, match="'backbone.pool_stages' parameter must be an int >= 0"):
        from_dict(BackboneConfig, {"pool_stages": -1}, "backbone")
    with pytest.raises(ConfigError, match="'pool_stages' parameter must be an int >= 0. Got -1"):
        BackboneConfig(pool_stages=-1)


def test_default_is_multiscale_for_the_probe_only(net):
    assert apply_pool_stages(net, None, "full") == 0 and net.pool_stages == 0
    assert apply_pool_stages(net, None, "linear-probe") == 4 and net.pool_stages == 4
    assert apply_pool_stages(net, 0, "linear-probe") == 0 and net.feature_dim == net.base_dim
    tab = create_backbone("tabular")
    assert apply_pool_stages(tab, None, "linear-probe") == 0
    with pytest.raises(ConfigError, match="known stage layout"):
        apply_pool_stages(tab, 2, "linear-probe")


def test_fit_probe_stores_the_taps_and_predicts_the_same(tmp_path):
    import transferkit as tk

    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    from PIL import Image

    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(8):
            arr = rng.integers(0, 80 if c == "a" else 255, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    run = tk.fit(data=str(root), backbone="timm:mobilenetv3_small_050", strategy="linear-probe",
                 out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), image_size=32, epochs=2,
                 overrides=["backbone.pretrained=false", "backbone.pool_stages=2"], log=None)
    model = tk.load(run.run_dir)
    assert model.model.backbone.pool_stages == 2
    files = sorted(str(p) for p in (root / "a").glob("*.png"))[:3]
    assert model.predict_proba(files).shape == (3, 2)


def test_text_backbone_averages_the_top_layers(tmp_path):
    from transferkit.backbones.text import TextBackbone

    bb, data = TextBackbone.tiny_example(tmp_path)
    bb.eval()
    inputs = bb.collate(list(data.x))
    with torch.no_grad():
        plain = bb(inputs)
        hs = bb.encoder(**inputs, output_hidden_states=True).hidden_states
        assert bb.max_pool_stages() == 1
        bb.set_pool_stages(1)
        m = inputs["attention_mask"].unsqueeze(-1).float()
        expected = (((hs[-1] + hs[-2]) / 2) * m).sum(1) / m.sum(1)  # mean over tokens of the layer mean
        if bb.pool.normalize:
            expected = torch.nn.functional.normalize(expected, dim=-1)
        multi = bb(inputs)
        torch.testing.assert_close(multi, expected)
        assert multi.shape == plain.shape and not torch.allclose(multi, plain)
        bottom, top = bb.split_at(2)
        torch.testing.assert_close(top(bottom(inputs)), multi)
    with pytest.raises(BackboneError, match="Train at least 2 layers"):
        bb.split_at(1)
    with pytest.raises(BackboneError, match="must be <= 1"):
        bb.set_pool_stages(2)
    again = TextBackbone.from_description(bb.describe())
    assert again.pool_stages == 1
    assert apply_pool_stages(bb, None, "linear-probe") == 1  # the default (2) capped at what exists
