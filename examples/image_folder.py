"""Transfer to your own image folder: one sub-folder per class, a few images each.

Builds a small folder of handwritten-digit PNGs (scikit-learn's digits: every machine has
them), fits EfficientNet-Lite0 features with a linear probe, prints the test metrics and
the baselines, and predicts two files with the saved run.

    python examples/image_folder.py [WORKDIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

import transferkit as tk


def make_folder(root: Path, per_class: int = 12) -> Path:
    """<root>/photos/<class>/<n>.png for the digits 0-4 (8x8 greyscale, upscaled)."""
    digits = load_digits()
    folder = root / "photos"
    for label in range(5):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        rows = np.flatnonzero(digits.target == label)[:per_class]
        for i, row in enumerate(rows):
            pixels = (digits.images[row] * (255 / 16)).astype(np.uint8)
            Image.fromarray(pixels).resize((32, 32), Image.NEAREST).save(folder / str(label) / f"{i}.png")
    return folder


def main(workdir: str = "example-runs") -> None:
    root = Path(workdir)
    folder = make_folder(root)
    run = tk.fit(data=str(folder), backbone="efficientnet_lite0", strategy="linear-probe",
                 out=str(root / "image-run"), overwrite=True, log=None)
    test = run.summary["metrics"]["test"]
    print(f"test accuracy {test['accuracy']:.1%} (balanced {test['balanced_accuracy']:.1%}); "
          f"majority class {run.summary['baselines']['majority']['accuracy']:.1%}")
    model = tk.load(run.run_dir)
    files = [str(folder / "3" / "0.png"), str(folder / "1" / "0.png")]
    for path, label in zip(files, model.predict(files), strict=True):
        print(f"{path}: {label}")


if __name__ == "__main__":
    main(*sys.argv[1:])
