"""The label budget of --shots, the default strategy of random-init backbones, keeping the
better stage of a multi-stage strategy, and the plain-tool baselines of classification."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from transferkit.config import FitConfig, from_dict
from transferkit.data import load_splits
from transferkit.pipeline.budget import CARVE, apply_label_budget, labels_line
from transferkit.pipeline.build import default_strategy


def _ids(ds):
    return set(ds.ids)


def test_validation_is_carved_from_the_shots():
    whole = load_splits("breast-cancer-wdbc", shots=10, shots_val=0.0)
    carved = load_splits("breast-cancer-wdbc", shots=10, shots_val=0.2)
    assert len(whole.train) == 20 and len(whole.val) == 0
    assert len(carved.train) == 16 and len(carved.val) == 4  # 2 of each class's 10
    assert np.bincount(carved.val.y).tolist() == [2, 2]
    # the same 20 labelled examples: validation is part of the budget, not extra labels
    assert _ids(carved.train) | _ids(carved.val) == _ids(whole.train)
    assert not _ids(carved.train) & _ids(carved.val)
    assert "carved from them" in carved.describe()["validation"]
    assert list(carved.test.ids) == list(whole.test.ids)  # the test split never moves


def test_max_val_draws_validation_outside_the_shots_and_no_shots_keeps_the_fraction():
    hatch = load_splits("breast-cancer-wdbc", shots=10, shots_val=0.2, max_val=30)
    assert len(hatch.train) == 20 and len(hatch.val) == 30
    assert not _ids(hatch.train) & _ids(hatch.val)
    assert "outside the shots" in hatch.describe()["validation"]
    plain = load_splits("breast-cancer-wdbc", shots_val=0.2)  # no --shots: a fraction, as always
    assert len(plain.val) == 57 and "validation" not in plain.describe()


def test_one_rule_per_family_of_strategy():
    said = []

    def cfg(**data):
        return lambda strategy: from_dict(FitConfig, {"data": {"data": "digits", **data},
                                                      "strategy": strategy})

    with_shots, hatch = cfg(shots=10), cfg(shots=10, max_val=50)
    assert apply_label_budget(with_shots("linear-probe"), said.append).data.shots_val == 0.0
    assert "cross-validation on the shots" in said[-1]
    for name in ("gradual", "full", "partial", "auto"):
        assert apply_label_budget(with_shots(name), said.append).data.shots_val == CARVE
    assert "held out as validation" in said[-1]
    assert apply_label_budget(hatch("gradual"), said.append).data.shots_val is None
    assert "outside the shots" in said[-1]
    assert apply_label_budget(cfg()("gradual"), said.append).data.shots_val is None
    assert labels_line({"train": 80, "val": 20}).endswith("100 (80 train + 20 val)")


def test_a_frozen_encoder_whose_decoder_trains_on_raw_inputs_is_not_said_to_cross_validate():
    """Detection and segmentation train their heads on raw inputs by SGD: no k-fold CV."""
    said = []
    cfg = from_dict(FitConfig, {"data": {"data": "scenes", "shots": 10}, "task": "detection",
                                "strategy": "linear-probe"})
    assert apply_label_budget(cfg, said.append).data.shots_val == 0.0
    assert "cross-validation" not in said[-1] and "full schedule" in said[-1]
    assert "step budget" not in said[-1]  # detection has none
    seg = from_dict(FitConfig, {"data": {"data": "scenes", "shots": 10}, "task": "segmentation",
                                "strategy": "linear-probe",
                                "task_params": {"min_steps": 40, "lr_grid": []}})
    assert apply_label_budget(seg, said.append).data.shots_val == 0.0
    assert "at least 40 optimizer steps each" in said[-1]


def test_a_frozen_decoder_with_a_learning_rate_grid_holds_out_validation_for_it():
    """Segmentation's decoder on cached maps picks its learning rate on validation: 20 % of the
    shots are held out (the end-to-end rule), and the console says what they choose."""
    said = []
    seg = from_dict(FitConfig, {"data": {"data": "scenes", "shots": 10}, "task": "segmentation",
                                "strategy": "linear-probe", "task_params": {"lr_grid": [1e-3, 1e-2]}})
    assert apply_label_budget(seg, said.append).data.shots_val == CARVE
    assert "choosing the decoder's learning rate (task_params.lr_grid) and step" in said[-1]


def test_a_frozen_decoder_with_one_learning_rate_trains_on_every_shot():
    """The default grid is one rate: nothing to choose, so no validation is held out."""
    said = []
    seg = from_dict(FitConfig, {"data": {"data": "scenes", "shots": 10}, "task": "segmentation",
                                "strategy": "linear-probe"})
    assert apply_label_budget(seg, said.append).data.shots_val == 0.0
    assert "no validation split" in said[-1] and "step budget" in said[-1]


def test_random_init_backbones_default_to_full_training():
    assert default_strategy("tabular")[0] == "full"
    assert default_strategy("sequence:cnn")[0] == "full"
    assert default_strategy("efficientnet_lite0")[0] == "linear-probe"
    name, params, why = default_strategy("efficientnet_lite0", pretrained=False)
    assert name == "full" and params == {"backbone_lr_ratio": 1.0} and "--no-pretrained" in why
    assert default_strategy("tabular", weights="w.safetensors")[0] == "linear-probe"


def test_a_fit_without_a_strategy_says_why_it_trains_a_random_backbone_end_to_end(tmp_path):
    import transferkit as tk

    said = []
    run = tk.fit(data="breast-cancer-wdbc", backbone="tabular", epochs=2, out=str(tmp_path / "r"),
                 log=said.append)
    assert run.summary["strategy"] == "full" and "no pretrained weights" in run.summary["choice"]
    assert any("[bold]strategy[/bold] full" in line and "random features" in line for line in said)
    assert run.summary["labels_used"] == {"train": 399, "val": 57}
    assert any("labels used[/bold] 456 (399 train + 57 val)" in line for line in said)
    # the plain tools a practitioner would fit on the same rows, each with its paired test
    for name in ("hist_gradient_boosting", "logistic_regression"):
        base = run.summary["baselines"][name]
        assert base["accuracy"] > 0.9 and base["paired_test"]["baseline"] == name


class _Runner:
    """What keep_better_stage reads of a StageRunner: history, task, log."""

    def __init__(self):
        from transferkit.tasks import get_task

        self.task, self.history, self.said = get_task("classification"), [], []
        self.log, self.kept_stage = self.said.append, None


def test_the_better_stage_on_validation_is_kept():
    from transferkit.pipeline.stages import StageRunner

    runner, model = _Runner(), nn.Linear(2, 2)
    keep = StageRunner.keep_better_stage
    first = {k: v.clone() for k, v in model.state_dict().items()}
    runner.history.append({"stage": "head", "best_metric": 0.695})
    best = keep(runner, model, None, last=False)
    with torch.no_grad():
        model.weight.add_(1.0)  # the second stage trains
    runner.history.append({"stage": "unfrozen", "best_metric": 0.670})
    keep(runner, model, best, last=True)
    assert torch.equal(model.weight, first["weight"])  # the head stage's weights are back
    assert runner.kept_stage["stage"] == "head" and runner.history[-1]["kept"] is False
    assert "kept" in runner.said[-1] and "0.6950" in runner.said[-1]

    runner, model = _Runner(), nn.Linear(2, 2)
    best = (runner.history.append({"stage": "head", "best_metric": 0.6}),
            keep(runner, model, None, last=False))[1]
    with torch.no_grad():
        model.weight.add_(1.0)
    trained = model.weight.clone()
    runner.history.append({"stage": "unfrozen", "best_metric": 0.6})  # a tie keeps the later stage
    keep(runner, model, best, last=True)
    assert torch.equal(model.weight, trained) and runner.kept_stage is None
    assert "a tie keeps the later stage" in runner.said[-1]


def test_text_plain_baseline_is_tfidf_logistic_regression():
    from transferkit.data.dataset import TransferDataset
    from transferkit.tasks._plain import plain_classifiers
    from transferkit.tasks.classification import classification_metrics

    rng = np.random.default_rng(0)
    words = [["great", "tasty", "love"], ["awful", "stale", "hate"]]

    def part(n, split):
        y = rng.integers(0, 2, n)
        x = [" ".join(rng.choice(words[c], 3)) + " food" for c in y]
        return TransferDataset(name="t", modality="text", x=x, y=y, classes=["bad", "good"], split=split)

    base, outputs = plain_classifiers(part(40, "train"), part(50, "test"), classification_metrics)
    assert list(base) == ["tfidf_logistic"] and base["tfidf_logistic"]["accuracy"] > 0.9
    assert outputs["tfidf_logistic"].shape == (50, 2)
    images = SimpleNamespace(modality="image", y=np.array([0, 1]))
    assert plain_classifiers(images, images, classification_metrics) == ({}, {})


@pytest.mark.parametrize("shots", [1])
def test_a_single_shot_leaves_no_validation(shots):
    splits = load_splits("breast-cancer-wdbc", shots=shots, shots_val=0.2)
    assert len(splits.train) == 2 and len(splits.val) == 0
    assert "single shot" in splits.describe()["validation"]
