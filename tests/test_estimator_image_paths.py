"""TransferClassifier takes a list of image paths as images (not as texts)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from transferkit.errors import DataError
from transferkit.estimator import TransferClassifier


@pytest.fixture
def photos(tmp_path):
    digits = load_digits()
    paths, labels = [], []
    for label in (0, 1):
        for i, row in enumerate(np.flatnonzero(digits.target == label)[:15]):
            path = tmp_path / f"{label}_{i}.png"
            size = 24 + 4 * (i % 3)  # files of different sizes
            Image.fromarray((digits.images[row] * 15).astype(np.uint8)).resize((size, size)).save(path)
            paths.append(str(path))
            labels.append(f"digit-{label}")
    return paths, np.array(labels)


def test_image_paths_are_read_as_images(photos):
    paths, y = photos
    clf = TransferClassifier(backbone="efficientnet_lite0", strategy="linear-probe", seed=0)
    clf.fit(paths, y)
    assert clf.modality_ == "image"
    pred = clf.predict(paths[:4])
    assert list(pred) == list(y[:4])  # 0 and 1 apart are easy
    assert clf.predict_proba(paths[-2:]).shape == (2, 2)


def test_a_missing_image_file_is_named(photos):
    paths, y = photos
    clf = TransferClassifier(backbone="efficientnet_lite0", strategy="linear-probe", modality="image")
    with pytest.raises(DataError, match="do not exist.*nope.png"):
        clf.fit([*paths[:-1], paths[0].replace("0_0.png", "nope.png")], y)
