"""``write_rows``: a tiny multimodal table for the tests: a 16x16 grey image (dark or light by class, missing
every ``missing_every``-th row), a number tied to the class, a colour, the label."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def write_rows(root: Path, n: int, *, seed: int, missing_every: int, weight_gap: float,
               random_colour: bool, grey: tuple[int, int]) -> Path:
    """``root/rows.csv`` and ``root/img/<i>.png``; class 1 is 'light' (grey[1]), 0 'dark' (grey[0])."""
    from PIL import Image

    (root / "img").mkdir()
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        Image.fromarray(np.full((16, 16), grey[label], dtype=np.uint8)).save(root / "img" / f"{i}.png")
        weight = label * weight_gap + rng.normal()
        colour = rng.choice(["red", "blue"]) if random_colour else ("red" if label else "blue")
        rows.append({"photo": f"img/{i}.png" if i % missing_every else None, "weight": weight,
                     "colour": colour, "label": ("dark", "light")[label]})
    pd.DataFrame(rows).to_csv(root / "rows.csv", index=False)
    return root


@pytest.fixture(scope="session")
def rows_writer() -> Callable[..., Path]:
    """:func:`write_rows`, for the test modules' table fixtures."""
    return write_rows
