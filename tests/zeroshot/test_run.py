"""A zero-shot run is a normal run directory: predict, evaluate and serve read it; and the
pieces that make it (label embeddings, the folded linear map, leave-classes-out)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch

from transferkit.zeroshot import ZSL_METHODS
from transferkit.zeroshot.labels import class_texts, class_word, embed_classes
from transferkit.zeroshot.select import class_folds, leave_classes_out


def test_class_embedding_is_the_renormalised_mean_over_templates_and_description():
    table = {"a photo of a t-shirt or top.": [1.0, 0.0], "a {}": [0.0, 1.0],
             "a t-shirt or top": [0.6, 0.8], "t-shirt or top: short sleeves": [0.0, 1.0]}
    embed = lambda texts: np.array([table.get(t, [0.0, 1.0]) for t in texts])  # noqa: E731
    assert class_word("T-shirt/top") == "t-shirt or top" and class_word("ankle_boot") == "ankle boot"
    assert class_texts("T-shirt/top", ["a photo of a {}.", "a {}"], "short sleeves") == [
        "a photo of a t-shirt or top.", "a t-shirt or top", "t-shirt or top: short sleeves"]
    s = embed_classes(embed, ["T-shirt/top"], ["a photo of a {}.", "a {}"], ["short sleeves"])
    mean = (np.array([1.0, 0.0]) + np.array([0.6, 0.8]) + np.array([0.0, 1.0])) / 3
    assert np.allclose(s[0], mean / np.linalg.norm(mean))
    assert np.allclose(embed_classes(embed, ["T-shirt/top"], ["a {}"]), [[0.6, 0.8]])  # deterministic


def test_leave_classes_out_never_fits_on_the_classes_it_scores():
    folds = class_folds(np.array([0, 1, 2, 4, 6]))
    assert len(folds) == 10 and all(not set(r) & set(h) and len(h) == 2 for r, h in folds)
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(5, 6))
    y = np.repeat(np.arange(5), 20)
    x = protos[y] @ rng.normal(size=(6, 12)) + 0.05 * rng.normal(size=(100, 12))
    s = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    seen = np.arange(5)
    fitted_on: list[np.ndarray] = []

    class Spy(ZSL_METHODS.entry("eszsl").obj):
        def fit(self, x_, y_, s_, space, seed=0):
            fitted_on.append(x_)
            return super().fit(x_, y_, s_, space, seed)

    from transferkit.zeroshot.eszsl import ESZSLConfig

    out = leave_classes_out(lambda p: Spy(ESZSLConfig(**p)), {"gamma": (1.0, 100.0), "lam": (0.1,)},
                            x, x, y, seen, s, None)
    assert out["folds"] == 10 and len(out["scores"]) == 2 and out["params"]["gamma"] in (1.0, 100.0)
    for (rest, _held), rows in zip([f for f in class_folds(seen) for _ in range(2)], fitted_on, strict=True):  # only the other classes' rows
        assert len(rows) == 60 and np.array_equal(rows, x[np.isin(y, rest)])
    assert out["score"] > 0.8  # a linear world: held-out classes are named right


@pytest.fixture(scope="module")
def zeroshot_run(tmp_path_factory):
    from transferkit.jobs.zeroshot import zeroshot

    out = tmp_path_factory.mktemp("zs") / "run"
    classes = [str(i) for i in range(10)] + ["ten"]
    # 40 per class: 8 held-out images per seen class calibrate the out-of-distribution flag
    result = zeroshot(data="digits", per_class=40, max_test=60, out=str(out), classes=classes,
                      templates=["a photo of the number {}."], log=lambda _m: None)
    return out, result


def test_zeroshot_writes_a_run_that_predicts_evaluates_and_serves(zeroshot_run):
    from transferkit.data import load_splits
    from transferkit.jobs.predict import evaluate, load

    run, result = zeroshot_run
    for name in ("config.yaml", "model.safetensors", "transferkit.json", "summary.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["command"] == "zeroshot" and summary["zeroshot"]["unseen"] == ["5", "6", "7", "8", "9"]
    assert summary["labels_used"]["unseen"] == 0 and summary["zeroshot"]["selection"]["folds"] == 10
    predictor = load(run)
    assert predictor.classes == [str(i) for i in range(10)] + ["ten"]  # seen + unseen + a new name
    test = load_splits("digits", max_test=60).test
    probs = predictor.predict_proba([test.input(i) for i in range(len(test))])
    assert probs.shape == (60, 11) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    acc = float((probs.argmax(axis=1) == np.asarray(test.y)).mean())
    assert acc == pytest.approx(summary["metrics"]["test"]["accuracy"], abs=1e-9)
    again = evaluate(run)  # the run's own test split, rebuilt from config.yaml and fingerprint-checked
    assert again["data"]["fingerprint_checked"] and again["accuracy"] == pytest.approx(acc, abs=1e-9)

    from fastapi.testclient import TestClient
    from PIL import Image

    from transferkit.serve import create_app

    buf = io.BytesIO()
    Image.fromarray(np.asarray(test.input(0), dtype=np.uint8)).save(buf, format="PNG")
    reply = TestClient(create_app(run)).post("/predict", json={"images": [base64.b64encode(buf.getvalue()).decode()]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["predictions"][0]["class"] in predictor.classes
    assert set(reply.json()["predictions"][0]) >= {"ood_p_value", "out_of_distribution"}
    assert TestClient(create_app(run)).get("/metadata").json()["novelty"]["level"] == 0.05


def test_a_noise_image_is_flagged_out_of_distribution_and_unseen_digits_mostly_are_not(zeroshot_run):
    from transferkit.data import load_splits
    from transferkit.jobs.predict import load

    run, result = zeroshot_run
    novelty = result.summary["zeroshot"]["novelty"]
    assert novelty["level"] == 0.05 and novelty["n_calibration"] == 40 and novelty["can_flag"]
    predictor = load(run)
    test = load_splits("digits", max_test=60).test
    images = [np.asarray(test.input(i)) for i in range(len(test))]
    noise = np.random.default_rng(0).integers(0, 256, size=images[0].shape, dtype=np.uint8)
    rows = predictor.prediction_rows([noise] + images)
    assert rows[0]["out_of_distribution"] and rows[0]["ood_p_value"] == pytest.approx(1 / 41, abs=1e-6)
    unseen = np.isin(np.asarray(test.y), [5, 6, 7, 8, 9])
    flagged = np.array([r["out_of_distribution"] for r in rows[1:]])
    assert flagged[unseen].mean() < 0.5  # classes it never saw, of the same kind of image
    assert novelty["flagged"]["unseen_test"] == pytest.approx(flagged[unseen].mean())


def test_the_saved_model_reproduces_the_protocol_scores(zeroshot_run):
    run, result = zeroshot_run
    z = result.summary["zeroshot"]
    model = result.model
    w, b = model.head.weight.detach().double().numpy(), model.head.bias.detach().double().numpy()
    seen = np.isin(result.summary["zeroshot"]["predict_classes"], z["seen"])
    temperature = z["stacking"]["temperature"]  # fitted on the leave-one-class-out folds
    assert temperature > 0
    assert np.allclose(b[seen], -z["stacking"]["gamma"] / temperature, atol=1e-5) and np.allclose(b[~seen], 0.0)
    assert np.allclose(np.linalg.norm(w, axis=1), np.linalg.norm(w, axis=1)[0], atol=1e-4)  # one scale
    with torch.no_grad():
        x = torch.randn(3, model.mapping.in_dim)
        assert torch.allclose(model.forward_features(x), model.head(model.mapping.linear(x)))


def test_the_zero_shot_temperature_minimises_the_held_out_folds_nll():
    from transferkit.tasks._calibration import nll
    from transferkit.zeroshot.protocol import fold_temperature

    rng = np.random.default_rng(0)
    folds = []
    for _ in range(3):  # over-confident scores: right 60 % of the time, margins of ~6
        y = rng.integers(0, 3, 50)
        z = rng.normal(0, 1, (50, 3))
        right = rng.random(50) < 0.6
        z[np.arange(50), np.where(right, y, (y + 1) % 3)] += 6.0
        folds.append((z, y, np.array([0, 1])))
    t = fold_temperature(folds, gamma=0.5)
    logits = np.concatenate([f[0] - 0.5 * np.isin(np.arange(3), f[2]) for f in folds])
    labels = np.concatenate([f[1] for f in folds])
    assert t > 1.5  # softened
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * 0.9), nll(logits, labels, t * 1.1)) + 1e-9


def test_wordllama_label_space_embeds_class_texts_offline_and_runs_the_job(tmp_path):
    pytest.importorskip("wordllama")
    from transferkit.jobs.zeroshot import ZeroShotConfig, _label_space, wordllama_encoder, zeroshot

    raw = wordllama_encoder()(["a dress", "a dress", "a sandal"])
    assert raw.shape == (3, 256) and np.allclose(raw[0], raw[1]) and not np.allclose(raw[0], raw[2])
    embed, _ = _label_space(ZeroShotConfig(text_backbone="wordllama"))
    unit = embed(["a dress", "a sandal"])
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0)
    assert np.allclose(unit[0], raw[0] / np.linalg.norm(raw[0]))
    result = zeroshot(data="digits", per_class=20, max_test=40, out=str(tmp_path / "run"),
                      text_backbone="wordllama", log=lambda _m: None)
    section = result.summary["zeroshot"]
    assert section["text_backbone"] == "wordllama" and 0.0 <= section["zsl_accuracy"] <= 1.0


def test_transductive_run_saves_the_self_trained_map_and_says_what_it_read(tmp_path):
    from transferkit.data import load_splits
    from transferkit.jobs.predict import load
    from transferkit.jobs.zeroshot import zeroshot

    result = zeroshot(data="digits", per_class=40, max_test=60, out=str(tmp_path / "run"), transductive=True,
                      templates=["a photo of the number {}."], log=lambda _m: None)
    z, used = result.summary["zeroshot"], result.summary["labels_used"]
    rounds = z["self_training"]["rounds"]
    assert z["self_training"]["pool"] == 60 and len(rounds) == 5
    assert all(set(r["pseudo_labelled"]) <= set(z["unseen"]) for r in rounds)
    assert used["pseudo_labelled_test_images"] == sum(rounds[-1]["pseudo_labelled"].values()) > 0
    test = load_splits("digits", max_test=60).test
    probs = load(tmp_path / "run").predict_proba([test.input(i) for i in range(len(test))])
    acc = float((probs.argmax(axis=1) == np.asarray(test.y)).mean())
    assert acc == pytest.approx(result.summary["metrics"]["test"]["accuracy"], abs=1e-9)  # the refitted map
