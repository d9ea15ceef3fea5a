"""The zeroshot job warns when its unseen-class accuracy is not above chance."""

from __future__ import annotations

from scipy.stats import binomtest

from transferkit.jobs.zeroshot import chance_warning


def test_below_chance_is_a_warning_naming_the_figures() -> None:
    text = chance_warning({"zsl_accuracy": 0.188, "zsl_chance": 0.2}, 5000)
    assert text is not None and "not above chance" in text and "18.8%" in text and "20.0%" in text


def test_clearly_above_chance_passes() -> None:
    assert chance_warning({"zsl_accuracy": 0.30, "zsl_chance": 0.2}, 5000) is None


def test_a_small_test_set_needs_evidence_not_a_point_estimate() -> None:
    # 3 of 10 right against chance 0.2: one-sided binomial p = P(X >= 3) = 0.322
    assert abs(binomtest(3, 10, 0.2, alternative="greater").pvalue - 0.3222) < 1e-3
    text = chance_warning({"zsl_accuracy": 0.30, "zsl_chance": 0.2}, 10)
    assert text is not None and "p = 0.322" in text
