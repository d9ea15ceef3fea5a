"""Source pretraining: run directory -> backbone round trip, the adapter and --mapping auto."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from transferkit.errors import ConfigError

torch.set_num_threads(2)


def _csv(path, seed: int, n: int, cols: tuple[str, ...], shift: float = 2.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    frame = pd.DataFrame({c: rng.normal(shift * y * (k % 2 == 0), 1.0) for k, c in enumerate(cols)})
    frame["label"] = np.where(y == 1, "yes", "no")
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A tabular source model pretrained through the CLI (the command users type)."""
    from transferkit.cli import main

    tmp = tmp_path_factory.mktemp("pretrain")
    data = _csv(tmp / "source.csv", 0, 120, ("Mean Radius", "texture", "area", "smoothness"))
    out = tmp / "src"
    code = main(["pretrain", "--data", str(data), "--arch", "tabular:16,8", "--out", str(out),
                 "--epochs", "4", "--lr", "0.01", "--set", f"cache_dir={tmp / 'cache'}", "--quiet"])
    assert code == 0
    return out


def test_pretrain_writes_a_run_directory(source_run):
    summary = json.loads((source_run / "summary.json").read_text())
    assert summary["command"] == "pretrain" and summary["strategy"] == "full"
    assert summary["pretrain"]["init"] == "random"
    assert summary["metrics"]["test"]["accuracy"] > 0.6  # the source task was learnt
    meta = json.loads((source_run / "transferkit.json").read_text())
    assert meta["backbone"]["family"] == "tabular"


def test_run_directory_is_a_backbone(source_run):
    from transferkit.backbones import create_backbone

    bb = create_backbone(str(source_run))
    saved = load_file(str(source_run / "model.safetensors"))
    for key, value in bb.state_dict().items():
        assert torch.equal(value, saved["backbone." + key])


def test_a_classifier_run_gives_its_head_only_when_asked(source_run, tmp_path):
    """Same classes (no / yes): classification starts a fresh head unless keep_head=true (a kept
    linear head held full fine-tuning back on printed-digits -> digits); the console says which."""
    from transferkit.data import load_splits
    from transferkit.jobs.fit import resolve_config
    from transferkit.pipeline.build import build_model
    from transferkit.tasks import get_task

    data = _csv(tmp_path / "target.csv", 1, 60, ("Mean Radius", "texture", "area", "smoothness"))
    saved = load_file(str(source_run / "model.safetensors"))

    def build(*overrides):
        cfg = resolve_config(data=str(data), backbone=str(source_run), strategy="full", overrides=list(overrides))
        return build_model(cfg, load_splits(cfg.data).train, get_task("classification"))

    fresh = build()
    assert not fresh.source_head["kept"] and "starts a fresh head" in fresh.source_head["why_not"]
    kept = build("backbone.keep_head=true")
    assert kept.source_head["kept"] and kept.source_head["classes"] == 2
    assert torch.equal(kept.head.weight, saved["head.weight"])
    assert not torch.equal(fresh.head.weight, saved["head.weight"])
    assert build("backbone.keep_head=false").source_head["why_not"] == "backbone.keep_head is false"


def test_fit_other_columns_through_the_adapter_with_mapping_auto(source_run, tmp_path):
    from transferkit.backbones.adapted_table import AdaptedTableBackbone
    from transferkit.jobs.fit import fit
    from transferkit.jobs.predict import load
    from transferkit.mapping import MAPPINGS

    target = _csv(tmp_path / "target.csv", 1, 80, ("mean_radius", "perimeter", "symmetry"), shift=1.5)
    messages: list[str] = []
    run = fit(data=str(target), backbone=str(source_run), strategy="linear-probe", mapping="auto",
              epochs=3, out=str(tmp_path / "fit"), cache_dir=str(tmp_path / "cache"),
              log=messages.append)
    bb = run.model.backbone
    assert isinstance(bb, AdaptedTableBackbone)
    # "mean_radius" matches the source's "Mean Radius" by name: identity, untouched by a probe
    w = bb.adapter.linear.weight
    i, j = bb.source_columns.index("Mean Radius"), bb.target_columns.index("mean_radius")
    assert w[i, j] == 1.0 and w[i].abs().sum() == 1.0
    saved = load_file(str(source_run / "model.safetensors"))
    for key, value in bb.source.layers.state_dict().items():  # the body is the pretrained one
        assert torch.equal(value, saved["backbone.layers." + key])
    # --mapping auto tried every mapping, printed the comparison and kept the best
    sel = run.summary["mapping_selection"]
    names = [r["name"] for r in sel["results"]]
    assert sorted(names) == MAPPINGS.names() and sel["chosen"] == names[0]
    assert sel["results"][0]["val_accuracy"] == max(r["val_accuracy"] for r in sel["results"])
    printed = "\n".join(messages)
    assert "mapping auto" in printed and all(n in printed for n in names)
    assert "matched by name" in printed
    # the saved run predicts with the chosen mapping and the adapter
    predictor = load(run.run_dir)
    assert predictor.manifest["mapping"]["name"] == sel["chosen"]
    rows = pd.read_csv(target).drop(columns="label")
    proba = predictor.predict_proba(rows[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(1), 1.0, atol=1e-5)


def test_pretrain_timm_from_random_init(tmp_path):
    from transferkit.backbones import create_backbone
    from transferkit.backbones.timm_models import TimmBackbone
    from transferkit.jobs.pretrain import pretrain

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = np.clip(rng.normal(60 + 60 * y[:, None, None], 10, size=(60, 8, 8)), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "imgs.npz", x=x, y=y)
    run = pretrain(str(tmp_path / "imgs.npz"), "timm:resnet10t", tmp_path / "src", epochs=1,
                   image_size=16, max_steps=2, log=None, overrides=[f"cache_dir={tmp_path / 'c'}"])
    assert run.summary["pretrain"]["arch"] == "timm:resnet10t"
    assert run.model.backbone.image_size == 16
    bb = create_backbone(str(tmp_path / "src"))
    assert isinstance(bb, TimmBackbone) and bb.model_name == "resnet10t"
    trained = run.model.backbone.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in bb.state_dict().items())


def test_random_init_timm_reads_the_native_size(tmp_path):
    """A bare timm name from random init -- pretrain --arch, fit --no-pretrained -- reads
    8-px images at 32 px (native rounded up to the stride), not the architecture's 224."""
    import transferkit as tk
    from transferkit.jobs.pretrain import pretrain

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 8)
    x = np.clip(rng.normal(60 + 120 * y[:, None, None], 10, size=(16, 8, 8)), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "imgs.npz", x=x, y=y)
    common = {"epochs": 1, "max_steps": 1, "log": None, "overrides": [f"cache_dir={tmp_path / 'c'}"]}
    run = pretrain(str(tmp_path / "imgs.npz"), "resnet10t", tmp_path / "src", **common)
    assert run.model.backbone.image_size == 32 and run.model.backbone.model_name == "resnet10t"
    fitted = tk.fit(data=str(tmp_path / "imgs.npz"), backbone="resnet10t", pretrained=False,
                    out=str(tmp_path / "fit"), **common)
    assert fitted.model.backbone.image_size == 32


def test_pretrain_rejects_bad_arguments(tmp_path):
    from transferkit.jobs.pretrain import pretrain

    with pytest.raises(ConfigError, match="epochs"):
        pretrain("digits", "tabular", tmp_path / "x", epochs=0, log=None)
    with pytest.raises(ConfigError, match="options of fit"):
        pretrain("digits", "tabular", tmp_path / "x", overrides=["mapping=linear"], log=None)
