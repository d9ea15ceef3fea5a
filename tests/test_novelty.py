"""The novelty detector: Mahalanobis score against a hand computation, conformal p-values,
the false-alarm rate at the chosen level, and a far input flagged."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.errors import RunDirError
from transferkit.novelty import NoveltyDetector, with_columns


def _gaussian(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(99).normal(size=(12, 12))  # one fixed correlated Gaussian
    return rng.normal(size=(n, 12)) @ mix + 3.0


def test_the_score_is_the_mahalanobis_distance_and_the_p_value_counts_calibration_scores():
    from sklearn.covariance import LedoitWolf

    x_fit, x_cal = _gaussian(300, 0), _gaussian(9, 1)
    det = NoveltyDetector(level=0.1).fit(x_fit, x_cal)
    mean, scale = x_fit.mean(0), x_fit.std(0) + 1e-6
    lw = LedoitWolf().fit((x_fit - mean) / scale)
    x = _gaussian(5, 2)
    z = (x - mean) / scale
    assert np.allclose(det.score(x), [v @ lw.precision_ @ v for v in z], rtol=1e-5)  # stored as float32
    assert np.allclose(det.score(x), lw.mahalanobis(z), rtol=1e-5)  # sklearn's squared distance
    cal = np.sort(det.score(x_cal))
    assert np.allclose(det.calibration_, cal)
    # p = (1 + #{calibration scores >= s}) / (n + 1), by hand for three scores
    probe = np.array([cal[0] - 1.0, cal[4], cal[-1] + 1.0])
    det_scores = det.score
    det.score = lambda _x: probe  # type: ignore[method-assign]
    assert np.allclose(det.p_values(None), [10 / 10, (1 + 5) / 10, 1 / 10])
    assert det.flags(None).tolist() == [False, False, True]
    det.score = det_scores  # type: ignore[method-assign]


def test_in_distribution_inputs_are_flagged_at_the_chosen_rate_and_far_ones_always():
    det = NoveltyDetector(level=0.05).fit(_gaussian(400, 3), _gaussian(400, 4))
    fresh = det.flags(_gaussian(5000, 5)).mean()
    assert abs(fresh - 0.05) < 0.03  # exchangeable inputs: the level, up to the calibration draw
    far = _gaussian(20, 6) + 25.0
    assert det.flags(far).all() and det.p_values(far).max() == pytest.approx(1 / 401)
    rows = with_columns([{"class": "a"}], det.columns(far[:1]))
    assert rows == [{"class": "a", "ood_p_value": round(1 / 401, 6), "out_of_distribution": True}]
    assert with_columns(rows, None) is rows


def test_a_saved_detector_reads_back_the_same_and_refuses_an_edited_file(tmp_path):
    det = NoveltyDetector(level=0.2).fit(_gaussian(100, 7), _gaussian(30, 8))
    info = det.save(tmp_path / "novelty.safetensors")
    assert info["n_calibration"] == 30 and info["can_flag"] and info["level"] == 0.2
    again = NoveltyDetector.load(tmp_path, info)
    x = _gaussian(50, 9)
    assert np.array_equal(again.p_values(x), det.p_values(x))
    (tmp_path / "novelty.safetensors").write_bytes(b"x" + (tmp_path / "novelty.safetensors").read_bytes()[1:])
    with pytest.raises(RunDirError, match="checksum"):
        NoveltyDetector.load(tmp_path, info)
    with pytest.raises(Exception, match="level"):
        NoveltyDetector(level=1.5)
