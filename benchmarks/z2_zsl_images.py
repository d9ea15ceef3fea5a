"""Z2 -- zero-shot image classification: Fashion-MNIST, 5 seen / 5 unseen classes.

``transferkit zeroshot`` with the built-in fixed split (unseen: Pullover, Dress, Sandal,
Shirt, Bag), EfficientNet-Lite0 multi-scale features, MiniLM embeddings of the class words
in "a photo of a {}.", 300 training images per seen class (drawn with the seed), the first
5000 images of the official test set. Methods: ESZSL (closed form), DeViSE (hinge rank
loss), ConSE (the backbone's own ImageNet probabilities, top 10 names; no training) and a
random Gaussian map (the control). ZSL: per-class mean accuracy on the unseen classes among
the unseen classes (chance 20 %). GZSL: per-class mean accuracy of seen and unseen images
among all 10 classes and their harmonic mean H, with calibrated stacking chosen on held-out
seen classes. Digits (number words) are the negative control: a word says nothing about
a digit's shape.

    python benchmarks/z2_zsl_images.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

RUNS = (("fashion-mnist", "eszsl"), ("fashion-mnist", "devise"), ("fashion-mnist", "conse"),
        ("fashion-mnist", "random"), ("digits", "eszsl"), ("digits", "random"))


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seeds", type=int, default=3)
    args.add_argument("--max-test", type=int, default=5000)
    args.add_argument("--out", default=str(_common.RESULTS_DIR / "z2_zsl_images.md"))
    opts = args.parse_args()
    _common.setup(install=False)
    from transferkit.jobs.zeroshot import zeroshot

    lines = ["# Z2 -- zero-shot image classification (Fashion-MNIST 5 seen / 5 unseen; digits control)", "",
             __doc__.split("\n\n", 1)[1].split("    python")[0].strip(), "",
             f"Seeds: {opts.seeds}. Machine: {json.dumps(_common.machine())}.", "",
             "| data | method | ZSL acc (unseen) | std | chance | GZSL seen | GZSL unseen | GZSL H "
             "| H without stacking | seconds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for data, method in RUNS:
        results, seconds = [], []
        for seed in range(opts.seeds):
            t0 = time.perf_counter()
            per_class = 300 if data == "fashion-mnist" else 90
            results.append(zeroshot(data=data, method=method, seed=seed, per_class=per_class,
                                    max_test=opts.max_test if data == "fashion-mnist" else None))
            seconds.append(time.perf_counter() - t0)
        zsl = [r["zsl_accuracy"] for r in results]

        def mean(key: str, sub: str, rs: list = results) -> float:
            return statistics.mean(r[key][sub] for r in rs)

        row = (f"| {data} | {method} | {statistics.mean(zsl):.4f} | "
               f"{statistics.stdev(zsl) if len(zsl) > 1 else 0.0:.4f} | {results[0]['zsl_chance']:.2f} | "
               f"{mean('gzsl', 'acc_seen'):.4f} | {mean('gzsl', 'acc_unseen'):.4f} | {mean('gzsl', 'h'):.4f} | "
               f"{mean('gzsl_no_stacking', 'h'):.4f} | {statistics.mean(seconds):.1f} |")
        lines.append(row)
        print(row, flush=True)
    lines += ["", f"Command: `python benchmarks/z2_zsl_images.py --seeds {opts.seeds}`", ""]
    Path(opts.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
