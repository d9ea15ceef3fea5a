"""Multimodal rows: column kinds, masks for missing cells, feature-level and late fusion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferkit.errors import ConfigError
from transferkit.multimodal import ColumnFeatures, concat_fusion, late_fusion, parse_columns
from transferkit.multimodal.columns import detect_kind, encode_columns


def _columns(seed: int = 0):
    """Two informative columns (an 'image' and a 'number'), 30 % of the image cells missing."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], 60)
    centres = rng.normal(size=(3, 6)) * 3
    image = centres[y] + rng.normal(size=(len(y), 6))
    number = (y + 0.3 * rng.normal(size=len(y)))[:, None]
    present = rng.random(len(y)) > 0.3
    image[~present] = 0.0
    cols = [ColumnFeatures("photo", "image", image.astype(np.float32), present, "test"),
            ColumnFeatures("ink", "number", number.astype(np.float32), np.ones(len(y), bool), "test")]
    order = rng.permutation(len(y))
    return cols, y, np.sort(order[:120]), np.sort(order[120:140]), np.sort(order[140:])


def test_rows_missing_the_image_still_predict_in_both_fusions():
    cols, y, train, val, test = _columns()
    missing = test[~cols[0].present[test]]
    assert len(missing) >= 5
    concat = concat_fusion(cols, y, train, val, 3)
    late, own = late_fusion(cols, y, train, val, 3)
    for probs in (concat, late):
        assert np.isfinite(probs[missing]).all() and np.allclose(probs.sum(1), 1.0)
        assert (probs[missing].argmax(1) == y[missing]).mean() >= 0.8  # the number column carries them
    # late fusion: a row without an image is the number column's own prediction
    assert np.allclose(late[missing], own["ink"][missing])
    assert np.isnan(own["photo"][missing]).all()


def test_a_row_with_no_column_gets_the_training_prior():
    cols, y, train, val, test = _columns()
    for c in cols:
        c.present[test[0]] = False
    late, _ = late_fusion(cols, y, train, val, 3)
    assert np.allclose(late[test[0]], np.bincount(y[train], minlength=3) / len(train))


def test_column_kinds_are_detected_or_named_and_numbers_standardised(tmp_path):
    frame = pd.DataFrame({"photo": ["a.png", "b.PNG", None], "title": ["x " * i for i in range(1, 4)],
                          "w": [1.0, None, 3.0], "c": ["r", "g", "r"], "label": [0, 1, 0]})
    assert detect_kind(frame["photo"]) == "image" and detect_kind(frame["w"]) == "number"
    assert parse_columns("number=w,category=c", frame, "label") == {"w": "number", "c": "category"}
    with pytest.raises(ConfigError, match=r"column 'price'.*Columns: photo, title, w, c, label"):
        parse_columns("number=price", frame, "label")
    cols = encode_columns(frame, {"w": "number", "c": "category"}, np.array([0, 2]), tmp_path)
    assert cols[0].present.tolist() == [True, False, True]
    assert np.allclose(cols[0].x[:, 0], [-1.0, 0.0, 1.0])  # (v - 2) / 1 from the training rows
    assert cols[1].x.tolist() == [[1.0], [0.0], [1.0]]  # 'g' never seen in training: all zeros
