"""transferkit.jobs.auto and jobs.rank: budget parsing, ranking rows, the strategy ladder and fit --strategy auto."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from transferkit.backbones.base import Backbone
from transferkit.config import DataConfig, FitConfig, TrainConfig
from transferkit.data import TransferDataset
from transferkit.errors import ConfigError, DataError
from transferkit.jobs.auto import estimate_cost, fit_auto, parse_budget, strategy_ladder
from transferkit.jobs.rank import Ranking, parse_candidate, rank, spearman
from transferkit.ranking import SCORES

torch.set_num_threads(1)
SMALL = "random:timm:mobilenetv3_small_050"


# ----------------------------------------------------------------------------- budget


@pytest.mark.parametrize("text, seconds", [("90s", 90.0), ("10m", 600.0), ("1h", 3600.0),
                                           ("1h30m", 5400.0), ("1.5h", 5400.0), ("45", 45.0),
                                           (" 2 min ", 120.0), (30, 30.0), (0.5, 0.5)])
def test_parse_budget(text, seconds):
    assert parse_budget(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "ten minutes", "10x", "0s", "-5m", "5m10", "1h-", True, 0])
def test_parse_budget_rejects_bad_values(bad):
    with pytest.raises(ConfigError, match="time_budget"):
        parse_budget(bad)


def test_parse_budget_none_stays_none():
    assert parse_budget(None) is None


def test_parse_candidate():
    assert parse_candidate("efficientnet_lite0") == ("efficientnet_lite0", True)
    assert parse_candidate("random:timm:resnet10t") == ("timm:resnet10t", False)
    with pytest.raises(ConfigError, match="random:"):
        parse_candidate("random:")


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None  # undefined with < 3 candidates
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # constant


# ----------------------------------------------------------------------------- rank


class _Pixels(Backbone):
    """Test backbone: a fixed function of the 8x8 image, no parameters."""

    family = "test"
    modality = "image"

    def __init__(self, name: str, informative: bool, dim: int = 16) -> None:
        super().__init__()
        self.name = name
        self.feature_dim = dim
        self.informative = informative
        gen = torch.Generator().manual_seed(0)
        self.register_buffer("w", torch.randn(64, dim, generator=gen))

    def collate(self, items):
        return torch.stack([torch.as_tensor(np.asarray(x), dtype=torch.float32).reshape(-1)[:64]
                            for x in items]) / 255.0

    def forward(self, x):  # (B, 64) -> (B, D)
        if self.informative:  # radial features of the brightness, which separates the classes
            centres = torch.linspace(0.0, 1.0, self.feature_dim)
            return torch.exp(-((x.mean(dim=1, keepdim=True) - centres) ** 2) / 0.02)
        return torch.sin(1000.0 * (x @ self.w))  # high-frequency: brightness is lost

    def blocks(self):
        return [self]


def _images(seed: int, n_per_class: int = 20) -> TransferDataset:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    x = np.clip(rng.normal(60 + 60 * y[:, None, None], 10, size=(len(y), 8, 8)), 0, 255).astype(np.uint8)
    return TransferDataset(name=f"imgs{seed}", modality="image", x=x, y=y, classes=["a", "b", "c"])


def test_rank_orders_an_informative_backbone_first(tmp_path):
    train = _images(0)
    rows = rank(train, [_Pixels("noise", False), _Pixels("good", True)], cache_dir=str(tmp_path))
    assert isinstance(rows, Ranking) and rows.order_by == "logme"
    assert [r["backbone"] for r in rows] == ["good", "noise"]
    assert [r["rank"] for r in rows] == [1, 2]
    for row in rows:
        assert set(row["scores"]) == set(SCORES.names()) == set(row["score_s"])
        assert row["feature_dim"] == 16 and row["n_train"] == 60
        assert row["source_probs"] == "NLEEP pseudo labels"
        assert all(t >= 0 for t in row["score_s"].values())
        assert "probe_val_accuracy" not in row
    # every score agrees here: the noise backbone carries no class information
    for name in SCORES.names():
        assert rows[0]["scores"][name] > rows[1]["scores"][name], name


def test_rank_validate_reports_probe_accuracy_and_correlations(tmp_path):
    train, val = _images(0), _images(1, n_per_class=10)
    cands = [_Pixels("noise", False), _Pixels("good", True), _Pixels("good-small", True, dim=4)]
    rows = rank(train, cands, scores="logme,hscore", validate=True, val_data=val,
                cache_dir=str(tmp_path), train=TrainConfig(epochs=6, lr=0.05, batch_size=16))
    by_name = {r["backbone"]: r for r in rows}
    assert by_name["good"]["probe_val_accuracy"] > 0.8
    assert by_name["noise"]["probe_val_accuracy"] < by_name["good"]["probe_val_accuracy"]
    assert set(rows.correlations) == {"logme", "hscore"}
    for rho in rows.correlations.values():
        assert rho is None or -1.0 <= rho <= 1.0


def test_rank_uses_the_source_head_for_leep():
    from transferkit.backbones.timm_models import TimmBackbone
    from transferkit.features import extract_features
    from transferkit.ranking._base import check_probs

    bb = TimmBackbone("mobilenetv3_small_050", image_size=32, source_classes=7)
    assert bb.source_head is not None
    train = _images(0, n_per_class=6)
    rows = rank(train, [bb], scores=["leep", "logme"], cache_dir=None)
    assert rows[0]["source_probs"] == "source head (7 classes)"
    feats = extract_features(bb, train, progress=False)
    with torch.no_grad():
        probs = torch.softmax(bb.source_head(torch.from_numpy(np.asarray(feats, np.float32))).double(), 1)
    expected = SCORES.create("leep").score(feats, train.y, check_probs(probs.numpy(), len(feats), "leep"))
    assert rows[0]["scores"]["leep"] == pytest.approx(expected, rel=1e-6)


def test_rank_validate_needs_val_data_for_a_dataset():
    with pytest.raises(ConfigError, match="val_data"):
        rank(_images(0), [_Pixels("good", True)], validate=True)


def test_rank_rejects_unknown_score_and_bad_data():
    with pytest.raises(ConfigError, match="Did you mean 'logme'"):
        rank(_images(0), [_Pixels("good", True)], scores=["logmee"])
    with pytest.raises(ConfigError, match="'data' parameter must be"):
        rank(12345, [_Pixels("good", True)])


def test_rank_default_pool_for_images_is_the_efficientnets():
    from transferkit.jobs.rank import DEFAULT_POOL

    assert DEFAULT_POOL["image"] == ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
    assert DEFAULT_POOL["text"] == ("minilm",)


# ----------------------------------------------------------------------------- ladder


def test_strategy_ladder_depends_on_data_size_and_modality():
    from transferkit.backbones.timm_models import TimmBackbone

    bb = TimmBackbone("mobilenetv3_small_050", image_size=32)
    few, why = strategy_ladder(bb, n_train=50, n_classes=10)
    assert few == ["linear-probe", "partial", "gradual"] and "too few" in why
    many, _ = strategy_ladder(bb, n_train=1000, n_classes=10)
    assert many == ["linear-probe", "partial", "gradual", "full"]
    flat, why = strategy_ladder(_Pixels("flat", True), n_train=1000, n_classes=10)
    assert flat == ["linear-probe", "full"] and "no blocks" in why


def test_strategy_ladder_uses_lora_for_text_encoders(tmp_path):
    from transferkit.backbones.text import TextBackbone

    bb, _ = TextBackbone.tiny_example(tmp_path)
    if len(list(bb.blocks())) <= 2:
        pytest.skip("the tiny text backbone lists too few blocks for partial fine-tuning")
    few, _ = strategy_ladder(bb, n_train=80, n_classes=2)
    assert few == ["linear-probe", "partial", "lora", "full"]
    tiny, _ = strategy_ladder(bb, n_train=16, n_classes=2)
    assert tiny == ["linear-probe", "partial", "lora"]


def test_estimate_cost_orders_the_rungs():
    kw = dict(per_example=0.01, n_train=100, n_val=50, epochs=5, blocks=8)
    probe, partial, full = (estimate_cost(s, **kw) for s in ("linear-probe", "partial", "full"))
    assert probe < partial < full
    assert estimate_cost("full", **{**kw, "epochs": 10}) == pytest.approx(2 * full)


class _FakeTask:
    selection_metric = "accuracy"

    @staticmethod
    def better(a, b):
        return a > b


def _climb_with(ladder, val_scores, monkeypatch):
    """A _Climb over ``ladder`` whose rungs 'train' to the given validation accuracies."""
    from transferkit.jobs import auto as auto_mod

    climb = auto_mod._Climb.__new__(auto_mod._Climb)
    climb.task, climb.log, climb.budget = _FakeTask(), lambda _m: None, 600.0
    climb.tried, climb.skipped, climb.best, climb.best_model = [], [], None, None
    climb.stop_reason, climb.val_key = "every rung of the ladder was tried", "val_accuracy"
    climb.splits = type("S", (), {"val": [0] * 10})()

    def prepare():
        climb.ladder = list(ladder)

    def train(i, strategy, epochs):
        hist = [{"best_metric": val_scores[strategy], "stopped": None, "steps": 1}]
        return strategy, [], hist, 0.01

    monkeypatch.setattr(climb, "_prepare", prepare)
    monkeypatch.setattr(climb, "_epochs_for", lambda i, s: (1, 0.0))
    monkeypatch.setattr(climb, "_train_rung", train)
    monkeypatch.setattr(auto_mod, "frozen_stages", lambda stages: 0)
    climb.climb()
    return climb


def test_climb_skips_lora_when_full_fine_tuning_is_on_the_ladder(monkeypatch):
    scores = {"linear-probe": 0.70, "partial": 0.69, "lora": 0.75, "full": 0.80}
    climb = _climb_with(["linear-probe", "partial", "lora", "full"], scores, monkeypatch)
    # partial did not improve, yet the climb went on; lora was skipped (full dominates it)
    assert [t["strategy"] for t in climb.tried] == ["linear-probe", "partial", "full"]
    assert [k["strategy"] for k in climb.skipped] == ["lora"] and "full" in climb.skipped[0]["reason"]
    assert climb.best["strategy"] == "full" and climb.best_model == "full"
    # without full on the ladder (few examples per class) lora is tried
    climb = _climb_with(["linear-probe", "partial", "lora"], scores, monkeypatch)
    assert [t["strategy"] for t in climb.tried] == ["linear-probe", "partial", "lora"]


def test_climb_stops_after_two_rungs_in_a_row_without_a_gain(monkeypatch):
    scores = {"linear-probe": 0.70, "partial": 0.69, "gradual": 0.68, "full": 0.99}
    climb = _climb_with(["linear-probe", "partial", "gradual", "full"], scores, monkeypatch)
    assert [t["strategy"] for t in climb.tried] == ["linear-probe", "partial", "gradual"]
    assert climb.best["strategy"] == "linear-probe"
    assert "2 rungs in a row" in climb.stop_reason
    assert climb.skipped == [{"strategy": "full", "reason": "not reached: " + climb.stop_reason}]


# ----------------------------------------------------------------------------- fit_auto


def _npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = np.clip(rng.normal(60 + 60 * y[:, None, None], 25, size=(len(y), 12, 12)), 0, 255).astype(np.uint8)
    path = tmp_path / "bright.npz"
    np.savez(path, x=x, y=y)
    return path


def _auto_cfg(tmp_path: Path, out: str, budget: str = "10m", backbones=(SMALL,)) -> FitConfig:
    return FitConfig(
        data=DataConfig(data=str(_npz(tmp_path)), val_fraction=0.3, test_fraction=0.3),
        strategy="auto", backbones=list(backbones), time_budget=budget,
        train=TrainConfig(epochs=2, batch_size=16, lr=0.01, patience=None),
        cache_dir=str(tmp_path / "cache"), out=str(tmp_path / out),
    )


def _check_explained(result, lines) -> None:
    """The summary and console say what was tried and why the kept model won."""
    s = result.summary
    auto = s["auto"]
    tried = auto["tried"]
    assert tried[0]["strategy"] == "linear-probe"
    names = [t["strategy"] for t in tried]
    assert names == [s for s in auto["ladder"] if s in names]  # in ladder order
    assert sorted([*names, *(k["strategy"] for k in auto["skipped"])]) == sorted(auto["ladder"])
    best = max(tried, key=lambda t: t["val_accuracy"])
    assert s["strategy"] == auto["chosen"] == best["strategy"]
    assert s["metrics"]["val"]["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert f"kept {s['strategy']}" in s["choice"] and "stopped because" in s["choice"]
    assert "only candidate" in s["choice"]
    assert any("kept" in line for line in lines)
    assert (result.run_dir / "summary.json").is_file() and (result.run_dir / "model.safetensors").is_file()
    for t in tried:
        assert t["seconds"] >= 0 and t["estimated_s"] >= 0


def test_fit_auto_explains_its_choice_and_never_looks_at_test_labels(tmp_path, monkeypatch):
    import transferkit.data as data_mod

    real = data_mod.load_splits

    def scrambled(config, **kw):
        splits = real(config, **kw)
        splits.test.y = np.random.default_rng(1).permutation(splits.test.y)[::-1].copy()
        return splits

    cfg_a = _auto_cfg(tmp_path, "a")
    cfg_a.backbone.image_size = 32
    lines: list[str] = []
    a = fit_auto(cfg_a, log=lines.append)
    _check_explained(a, lines)
    monkeypatch.setattr(data_mod, "load_splits", scrambled)
    cfg_b = _auto_cfg(tmp_path, "b")
    cfg_b.backbone.image_size = 32
    b = fit_auto(cfg_b)
    assert a.summary["strategy"] == b.summary["strategy"]
    assert [t["strategy"] for t in a.summary["auto"]["tried"]] == \
        [t["strategy"] for t in b.summary["auto"]["tried"]]
    for ta, tb in zip(a.summary["auto"]["tried"], b.summary["auto"]["tried"], strict=True):
        assert ta["val_accuracy"] == pytest.approx(tb["val_accuracy"])
    # the scrambled test labels did reach the final report (so the patch was in effect)
    assert a.summary["metrics"]["test"]["accuracy"] != b.summary["metrics"]["test"]["accuracy"]


def test_fit_auto_stops_at_a_tiny_budget(tmp_path):
    cfg = _auto_cfg(tmp_path, "tiny", budget="0.01s")
    cfg.backbone.image_size = 32
    s = fit_auto(cfg).summary
    assert [t["strategy"] for t in s["auto"]["tried"]] == ["linear-probe"]
    assert s["strategy"] == "linear-probe"
    assert s["auto"]["skipped"] and "budget" in s["auto"]["stopped_because"]
    assert "budget" in s["choice"]


def test_fit_auto_chooses_the_backbone_by_probe_validation_accuracy(tmp_path):
    cfg = _auto_cfg(tmp_path, "two", budget="0.01s",
                    backbones=(SMALL, "random:timm:resnet10t"))
    cfg.backbone.image_size = 32
    s = fit_auto(cfg).summary
    ranking = s["auto"]["backbone"]["ranking"]
    assert len(ranking) == 2 and [r["rank"] for r in ranking] == [1, 2]
    assert ranking[0]["probe_val_accuracy"] >= ranking[1]["probe_val_accuracy"]
    assert all("logme" in r["scores"] for r in ranking)
    assert s["auto"]["backbone"]["chosen"] == ranking[0]["backbone"]
    assert "best linear-probe validation accuracy" in s["choice"]


def test_choose_backbone_without_validation_data_takes_the_highest_logme(tmp_path):
    from transferkit.data import load_splits
    from transferkit.pipeline.candidates import choose_backbone

    cfg = _auto_cfg(tmp_path, "nv", backbones=(SMALL, "random:timm:resnet10t"))
    cfg.backbone.image_size = 32
    train = load_splits(cfg.data).train
    spec, why, rows = choose_backbone(cfg, train, lambda _m: None, val=train.subset(np.arange(0)))
    assert rows[0]["scores"]["logme"] >= rows[1]["scores"]["logme"] and spec == rows[0]["backbone"]
    assert "highest LogME" in why and "no validation data" in why
    assert "probe_val_accuracy" not in rows[0]


def test_fit_auto_rejects_strategy_params(tmp_path):
    cfg = _auto_cfg(tmp_path, "x")
    cfg.strategy_params = {"blocks": 1}
    with pytest.raises(ConfigError, match="strategy_params"):
        fit_auto(cfg)


def test_fit_routes_auto_and_validates_budget(tmp_path):
    from transferkit.jobs.fit import fit

    with pytest.raises(ConfigError, match="time_budget"):
        fit(data=str(_npz(tmp_path)), strategy="auto", time_budget="soon", log=None,
            out=str(tmp_path / "r"))


def test_rank_on_a_dataset_name_reads_only_train(tmp_path):
    """rank(name) scores the training split; the val split is only for --validate."""
    cfg = DataConfig(data=str(_npz(tmp_path)), val_fraction=0.3, test_fraction=0.3)
    rows = rank(cfg, [_Pixels("good", True)], scores=["logme"], cache_dir=str(tmp_path / "c"))
    from transferkit.data import load_splits

    assert rows[0]["n_train"] == len(load_splits(cfg).train)
    with pytest.raises(DataError):
        rank(_images(0).subset(np.arange(1)), [_Pixels("good", True)], scores=["logme"])


def test_fit_auto_probes_multiscale_features_and_partial_trains_the_pooled_stages(tmp_path):
    cfg = _auto_cfg(tmp_path, "ms")
    cfg.backbone.image_size = 32
    cfg.backbone.pool_stages = 2
    result = fit_auto(cfg)
    assert result.model.backbone.pool_stages == 2  # the probe's multi-scale features, kept by every rung
    tried = [t["strategy"] for t in result.summary["auto"]["tried"]]
    assert tried[:2] == ["linear-probe", "partial"]  # partial ran: it trains the 2 pooled stages + tail
    import yaml

    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    if result.summary["strategy"] == "partial":
        assert saved["strategy_params"]["blocks"] == 3
