"""printed-digits-angle: the printed digits' rotation angle as a built-in regression target."""

from __future__ import annotations

import numpy as np
import pytest

import transferkit as tk
from transferkit.data import DATASETS
from transferkit.data.builtin.printed_digits import render_printed_digits


def _need() -> None:
    if not DATASETS.get("printed-digits-angle").available():
        pytest.skip("printed-digits-angle needs matplotlib's fonts")


def test_the_angles_are_the_ones_the_images_were_rotated_by():
    _need()
    angles: list[float] = []
    x, y = render_printed_digits(n_per_class=3, seed=0, angles=angles)
    x0, y0 = render_printed_digits(n_per_class=3, seed=0)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)  # recording angles changes no image
    assert len(angles) == len(y) and min(angles) >= -15 and max(angles) <= 15
    info = DATASETS.get("printed-digits-angle").info()
    assert info["task"] == "regression" and info["modality"] == "image"


def test_fit_on_the_angle_with_an_image_backbone(tmp_path):
    _need()
    run = tk.fit(data="printed-digits-angle", backbone="timm:mobilenetv3_small_050", pretrained=False,
                 image_size=32, shots=120, max_val=60, max_test=80, strategy="linear-probe",
                 out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), log=None)
    s = run.summary
    assert s["task"] == "regression" and s["data"]["n_train"] == 120
    assert {"r2", "rmse", "mae"} <= set(s["metrics"]["test"]) and "mean" in s["baselines"]
    pred = np.asarray(tk.load(run.run_dir).predict(render_printed_digits(n_per_class=2, seed=5)[0]))
    assert pred.shape == (20,) and np.isfinite(pred).all() and np.abs(pred).max() < 45  # degrees
