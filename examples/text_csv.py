"""Transfer to your own CSV of texts: a text column and a label column.

Writes a small CSV of product-review snippets, fits the built-in MiniLM sentence encoder
with a linear probe, prints the test metrics beside the baselines, and classifies two new
texts with the saved run.

    python examples/text_csv.py [WORKDIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

import transferkit as tk

PRAISE = ["works great", "love it", "excellent quality", "highly recommend", "five stars, perfect",
          "exactly as described", "my kids adore it", "best purchase this year", "fantastic value",
          "arrived fast and works well"]
COMPLAINTS = ["broke after a day", "waste of money", "stopped working", "poor quality", "very disappointed",
              "arrived damaged", "does not fit", "returned it immediately", "cheap plastic, cracked",
              "customer service never answered"]
THINGS = ["blender", "headphones", "backpack", "lamp", "kettle", "phone case"]


def make_csv(root: Path) -> Path:
    rows = [{"review": f"The {thing}: {text}.", "sentiment": label}
            for thing in THINGS
            for texts, label in ((PRAISE, "positive"), (COMPLAINTS, "negative"))
            for text in texts]
    root.mkdir(parents=True, exist_ok=True)
    path = root / "reviews.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def main(workdir: str = "example-runs") -> None:
    root = Path(workdir)
    path = make_csv(root)
    run = tk.fit(data=str(path), text_column="review", label_column="sentiment", backbone="minilm",
                 strategy="linear-probe", max_length=32, out=str(root / "text-run"), overwrite=True, log=None)
    test = run.summary["metrics"]["test"]
    print(f"test accuracy {test['accuracy']:.1%} (balanced {test['balanced_accuracy']:.1%}); "
          f"labels used: {run.summary['labels_used']}")
    model = tk.load(run.run_dir)
    for text, label in zip(["Absolutely love this toaster", "It fell apart in a week"],
                           model.predict(["Absolutely love this toaster", "It fell apart in a week"]),
                           strict=True):
        print(f"{text!r}: {label}")


if __name__ == "__main__":
    main(*sys.argv[1:])
