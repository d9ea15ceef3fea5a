"""A generated multimodal table from offline data, with controlled noise.

``digit-rows``: one row per scikit-learn handwritten digit (1,797) --

* ``photo``: the digit's 8x8 image, written as a 32x32 grey PNG;
* ``caption``: "a handwritten <word>", naming the right digit with probability 0.6, else
  another digit drawn uniformly;
* ``ink``: a weakly informative number, ``digit + N(0, 3^2)``;
* ``pen``: a category that carries no information (one of four, uniform);
* ``label``: the digit.

Each of photo, caption and ink is missing (empty cell) in 20 % of the rows, independently.
Deterministic for a seed; written once per seed into a folder and reused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the built-in tables ``transferkit multimodal --data NAME`` generates, by name
GENERATED = ("digit-rows",)
#: what `transferkit datasets` says of each
DESCRIPTIONS = {"digit-rows": "1,797 rows of a digit photo, a caption right with p = 0.6, a noisy "
                              "number and an uninformative category; 20 % missing per modality"}
#: each generated table's column kinds (``--columns`` when none is given): the caption is a
#: text, though its few distinct sentences would be detected as a category
COLUMNS = {"digit-rows": "image=photo,text=caption,number=ink,category=pen"}
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CAPTION_CORRECT = 0.6
MISSING = 0.2
INK_NOISE = 3.0


def digit_rows(folder: str | Path, seed: int = 0) -> Path:
    """Write ``digit-rows`` (see the module docstring) under ``folder``; returns the CSV path."""
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = Path(folder)
    table = folder / "digit-rows.csv"
    if table.is_file():
        return table
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    rng = np.random.default_rng(seed)
    y = digits.target.astype(int)
    n = len(y)
    wrong = (y + rng.integers(1, 10, size=n)) % 10
    said = np.where(rng.random(n) < CAPTION_CORRECT, y, wrong)
    rows = []
    for i in range(n):
        name = f"photos/{i:04d}.png"
        pixels = (digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
        Image.fromarray(pixels).resize((32, 32), Image.NEAREST).save(folder / name)
        rows.append({"photo": name, "caption": f"a handwritten {WORDS[said[i]]}",
                     "ink": round(float(y[i] + rng.normal(0.0, INK_NOISE)), 4),
                     "pen": ("red", "blue", "black", "green")[int(rng.integers(0, 4))], "label": int(y[i])})
    frame = pd.DataFrame(rows)
    for column in ("photo", "caption", "ink"):
        frame.loc[rng.random(n) < MISSING, column] = None
    tmp = table.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(table)  # complete or absent
    return table


__all__ = ["CAPTION_CORRECT", "COLUMNS", "DESCRIPTIONS", "GENERATED", "INK_NOISE", "MISSING", "WORDS", "digit_rows"]
