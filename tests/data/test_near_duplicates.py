"""Near-duplicate leakage (data.near_duplicate_threshold): planted near copies across
splits are reported with their ids and similarity; distinct items and exact duplicates
(find_leakage's) are not."""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pandas as pd
import pytest

import transferkit as tk
from transferkit.data import TransferDataset
from transferkit.data.near_duplicates import find_near_duplicates, nearest_cosine
from transferkit.jobs.fit import resolve_config
from transferkit.pipeline.fitting import near_duplicate_warnings


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)


def test_one_pixel_changed_image_is_flagged_and_distinct_images_are_not():
    train_x = _images(12, 0)
    test_x = _images(6, 1)
    test_x[0] = train_x[3]
    test_x[0, 4, 4, 0] ^= 0xFF  # one pixel changed: a new hash, the same image
    test_x[1] = train_x[5]  # an exact duplicate: find_leakage's, not reported again here
    train = TransferDataset("tr", "image", train_x, np.arange(12) % 2, ["a", "b"],
                            ids=[f"train/{i}.png" for i in range(12)])
    test = TransferDataset("te", "image", test_x, np.arange(6) % 2, ["a", "b"],
                           ids=[f"test/{i}.png" for i in range(6)])
    # features here: the centred pixels (a backbone's features in a fit)
    mean = train_x.reshape(12, -1).mean(0)
    feats = {"train": train_x.reshape(12, -1) - mean, "test": test_x.reshape(6, -1) - mean}
    warnings = find_near_duplicates({"train": train, "test": test}, feats, threshold=0.98)
    assert len(warnings) == 1
    w = warnings[0]
    assert w.startswith("near-duplicate leakage: 1 of 6 test examples")
    assert "test test/0.png ~ train train/3.png (" in w and "test/1.png" not in w
    sim, idx = nearest_cosine(feats["test"], feats["train"])
    assert idx[0] == 3 and sim[0] > 0.99 and sim[2:].max() < 0.5  # distinct images stay far
    assert find_near_duplicates({"train": train, "test": test}, feats, threshold=1.0) == []


def test_nearest_cosine_matches_sklearn():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    ref, query = rng.normal(size=(50, 7)), rng.normal(size=(30, 7))
    sim, idx = nearest_cosine(query, ref, chunk=8)
    dist, want = NearestNeighbors(n_neighbors=1, metric="cosine").fit(ref).kneighbors(query)
    assert idx.tolist() == want[:, 0].tolist()
    np.testing.assert_allclose(sim, 1 - dist[:, 0], atol=1e-5)


SNACKS = ["The espresso beans arrived fresh and the crema was thick and sweet.",
          "Our dog refuses every other brand but devours these salmon treats.",
          "Crunchy almonds with a light dusting of sea salt, perfect for hiking.",
          "This green tea tastes grassy and calm, lovely on a rainy afternoon.",
          "The dark chocolate bar melts slowly with notes of cherry and smoke.",
          "Kids loved the honey oat bars and asked for them in every lunchbox.",
          "Peppery olive oil that makes a simple tomato salad taste like summer.",
          "Soft dried mangoes, chewy and bright, with no added sugar at all.",
          "Maple syrup from a small farm, deep amber and wonderfully rich.",
          "Spicy ramen broth that clears your head on a cold winter evening.",
          "The sourdough crackers pair beautifully with sharp aged cheddar.",
          "Fragrant jasmine rice that cooks fluffy every single time."]
STALE = ["The package was torn and half the cookies had crumbled to dust.",
         "Tasted like cardboard; I threw the whole box away after one bite.",
         "Arrived two weeks late and the coffee smelled musty and flat.",
         "The protein powder clumps terribly and leaves a chalky aftertaste.",
         "Far too salty, my throat burned after a handful of these chips.",
         "The jar leaked sticky syrup all over the rest of my order.",
         "Expired three months ago according to the date on the bottom.",
         "These gummies are rock hard and stick painfully to your teeth.",
         "The tea bags burst open in the cup and left grit everywhere.",
         "Bland pasta sauce with a strange metallic taste from the can.",
         "Mouldy bread on arrival, and customer service never replied.",
         "The granola is mostly oats with barely a raisin or nut in sight."]


def test_fit_reports_near_copies_of_training_texts(tmp_path, caplog):
    # time orders the rows: the latest are test; two of them are near copies of training texts
    rows = [(2 * t, text, "great") for t, text in enumerate(SNACKS[:10])]
    rows += [(2 * t + 1, text, "stale") for t, text in enumerate(STALE[:10])]
    rows += [(30, SNACKS[10], "great"), (31, STALE[10], "stale"), (32, SNACKS[11], "great"),
             (33, STALE[11], "stale"),
             (40, SNACKS[2] + " ", "great"),  # trailing space
             (41, STALE[1].replace(";", ","), "stale")]  # punctuation changed
    csv = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=["when", "text", "label"]).to_csv(csv, index=False)
    run = tk.fit(data=str(csv), time_column="when", backbone="minilm", strategy="linear-probe",
                 epochs=1, out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), log=None,
                 overrides=["data.val_fraction=0.1", "data.test_fraction=0.23", "backbone.max_length=32"])
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["data"]["n_test"] == 6
    near = [w for w in summary["warnings"] if w.startswith("near-duplicate leakage")]
    assert len(near) == 1, summary["warnings"]
    assert near[0].startswith("near-duplicate leakage: 2 of 6 test examples")
    assert "reviews[24] ~ train reviews[2]" in near[0] and "reviews[25] ~ train reviews[11]" in near[0]
    # the check reads the cached features: off at 0, and skipped (saying so) without a cache
    splits = tk.data.load_splits(str(csv), time_column="when", val_fraction=0.1, test_fraction=0.23)
    fit_cfg = resolve_config(data=str(csv), backbone="minilm", cache_dir=str(tmp_path / "cache"))
    backbone = run.model.backbone
    assert len(near_duplicate_warnings(fit_cfg, backbone, splits)) == 1
    off = dataclasses.replace(fit_cfg, data=dataclasses.replace(fit_cfg.data, near_duplicate_threshold=0.0))
    assert near_duplicate_warnings(off, backbone, splits) == []
    empty = dataclasses.replace(fit_cfg, cache_dir=str(tmp_path / "empty-cache"))
    with caplog.at_level(logging.DEBUG, logger="transferkit.data"):
        assert near_duplicate_warnings(empty, backbone, splits) == []
    assert "near-duplicate check skipped" in caplog.text


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_bounds(threshold):
    from transferkit.config import DataConfig
    from transferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="near_duplicate_threshold"):
        DataConfig(near_duplicate_threshold=threshold)
