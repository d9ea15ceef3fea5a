from __future__ import annotations

import pytest

from transferkit.train import lr_factor


def test_cosine_warms_up_linearly_then_decays_to_zero() -> None:
    f = lr_factor("cosine", 100, 0.1)
    assert [f(s) for s in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5)
    assert f(99) < 0.001
    values = [f(s) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_onecycle_starts_low_peaks_and_ends_far_below_the_start() -> None:
    f = lr_factor("onecycle", 100, 0.3)
    assert f(0) < 0.1 and f(29) == pytest.approx(1.0)
    assert f(99) < f(0) / 100


def test_constant_after_warmup_and_no_warmup() -> None:
    f = lr_factor("constant", 10, 0.2)
    assert [f(s) for s in range(4)] == pytest.approx([0.5, 1.0, 1.0, 1.0])
    assert lr_factor("cosine", 10, 0.0)(0) == 1.0
