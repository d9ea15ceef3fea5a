"""Transferability scores rank tags per word: each word is one example, padding left out."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.data.tags import IGNORE
from transferkit.ranking import SCORES


@pytest.mark.parametrize("name", ["logme", "hscore"])
def test_a_score_of_tags_is_the_score_of_the_words(name: str) -> None:
    rng = np.random.default_rng(0)
    y = np.array([[0, 1, 2, IGNORE], [1, 0, IGNORE, IGNORE], [2, 2, 0, 1]] * 10)  # (30, 4)
    f = rng.normal(size=(30, 4, 6)) + y[..., None].clip(0) * 0.5
    f[y == IGNORE] = 0.0  # padding: zero vectors, which must not count as words
    words = y != IGNORE
    scorer = SCORES.build(name)
    assert SCORES.get(name).supports("tags")
    assert scorer.score_targets(f, y, "tags") == pytest.approx(scorer.score(f[words], y[words]))
