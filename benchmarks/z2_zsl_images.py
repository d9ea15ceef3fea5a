"""Z2 -- zero-shot image classification: Fashion-MNIST, 5 seen / 5 unseen classes.

``transferkit zeroshot`` with the built-in fixed split (unseen: Pullover, Dress, Sandal,
Shirt, Bag), EfficientNet-Lite0 multi-scale features, MiniLM embeddings of each class's
published name (lower-cased) averaged over 7 generic photo templates (CLIP-style prompt
ensembling), optionally with a one-line dictionary description per class
(``examples/zeroshot/fashion_mnist_descriptions.txt``), 300 training images per seen class
(drawn with the seed), the first 5000 images of the official test set. ESZSL's gamma and
lambda are chosen by leave-two-seen-classes-out on the seen classes' training images (10
folds); nothing is chosen on unseen or test images. Methods: ESZSL (closed form), DeViSE
(hinge rank loss), ConSE (the backbone's own ImageNet probabilities, top 10 names; no
training) and a random Gaussian map (the control). ZSL: per-class mean accuracy on the
unseen classes among the unseen classes (chance 20 %). GZSL: per-class mean accuracy of
seen and unseen images among all 10 classes and their harmonic mean H, with calibrated
stacking chosen on held-out seen classes. Digits (number words) are the negative control.
``--transductive``: every run also reads the unlabelled test images (never their labels) and
refits its map by 5 rounds of self-training (``zeroshot --transductive``); rows say so.

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

DESCRIPTIONS = str(Path(__file__).resolve().parent.parent / "examples" / "zeroshot" / "fashion_mnist_descriptions.txt")
#: (data, method, label text, seeds: None = --seeds; ConSE learns nothing and is deterministic)
RUNS = (("fashion-mnist", "eszsl", "names", None), ("fashion-mnist", "eszsl", "names+descriptions", None),
        ("fashion-mnist", "devise", "names", None), ("fashion-mnist", "devise", "names+descriptions", None),
        ("fashion-mnist", "random", "names", None), ("fashion-mnist", "conse", "names", 1),
        ("digits", "eszsl", "names", None), ("digits", "random", "names", None))


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seeds", type=int, default=3)
    args.add_argument("--max-test", type=int, default=5000)
    args.add_argument("--only", default="", help="Comma-separated methods to run (default: all).")
    args.add_argument("--data", default="", help="Only this dataset (default: both).")
    args.add_argument("--text", default="", help="Only this label text: names or names+descriptions.")
    args.add_argument("--text-backbone", default="minilm",
                      help="The label space's text encoder (zeroshot --text-backbone): minilm or wordllama.")
    args.add_argument("--transductive", action="store_true",
                      help="zeroshot --transductive: self-training on the unlabelled test images.")
    args.add_argument("--out", default=str(_common.RESULTS_DIR / "z2_zsl_images.md"))
    opts = args.parse_args()
    _common.setup(install=False)
    import tempfile

    from transferkit.jobs.zeroshot import zeroshot
    from transferkit.zeroshot import ZSL_METHODS

    tmp = Path(tempfile.mkdtemp(prefix="z2-"))

    lines = ["# Z2 -- zero-shot image classification (Fashion-MNIST 5 seen / 5 unseen; digits control)", "",
             __doc__.split("\n\n", 1)[1].split("    python")[0].strip(), "",
             f"Seeds: {opts.seeds}. Machine: {json.dumps(_common.machine())}.", "",
             "| data | method | label text | seeds | ZSL acc (unseen) | std | chance | GZSL seen | GZSL unseen "
             "| GZSL H | H without stacking | params (leave-classes-out) | leave-classes-out score | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    only = {m for m in opts.only.split(",") if m}
    for data, method, text, n_seeds in RUNS:
        if (only and method not in only) or (opts.data and data != opts.data) or (opts.text and text != opts.text):
            continue
        results, seconds, params = [], [], []
        trains = ZSL_METHODS.entry(method).obj.trains  # the controls learn no map to self-train
        for seed in range(n_seeds or opts.seeds):
            t0 = time.perf_counter()
            per_class = 300 if data == "fashion-mnist" else 90
            run = zeroshot(data=data, method=method, seed=seed, per_class=per_class, log=lambda _m: None,
                           max_test=opts.max_test if data == "fashion-mnist" else None,
                           class_descriptions=DESCRIPTIONS if "descriptions" in text else None,
                           text_backbone=opts.text_backbone, transductive=opts.transductive and trains,
                           out=str(tmp / f"{data}-{method}-{text}-{seed}"))
            results.append(run.summary["zeroshot"])
            params.append(run.summary["zeroshot"]["params"])
            seconds.append(time.perf_counter() - t0)
        zsl = [r["zsl_accuracy"] for r in results]

        def mean(key: str, sub: str, rs: list = results) -> float:
            return statistics.mean(r[key][sub] for r in rs)

        scores = [r["selection"]["score"] for r in results if (r.get("selection") or {}).get("score") is not None]
        lco = f"{statistics.mean(scores):.3f}" if scores else "-"
        chosen = "; ".join(",".join(f"{k}={v:g}" for k, v in p.items()) for p in params) or "-"
        how = f"{text} ({opts.text_backbone}{', transductive' if opts.transductive and trains else ''})"
        row = (f"| {data} | {method} | {how} | {len(zsl)} | {statistics.mean(zsl):.4f} | "
               f"{statistics.stdev(zsl) if len(zsl) > 1 else 0.0:.4f} | {results[0]['zsl_chance']:.2f} | "
               f"{mean('gzsl', 'acc_seen'):.4f} | {mean('gzsl', 'acc_unseen'):.4f} | {mean('gzsl', 'h'):.4f} | "
               f"{mean('gzsl_no_stacking', 'h'):.4f} | {chosen} | {lco} | {statistics.mean(seconds):.1f} |")
        lines.append(row)
        print(row, flush=True)
    lines += ["", f"Command: `python benchmarks/z2_zsl_images.py --seeds {opts.seeds}"
              + "".join(f" --{k} {v}" for k, v in (("only", opts.only), ("data", opts.data), ("text", opts.text),
                                                  ("text-backbone", opts.text_backbone)) if v)
              + (" --transductive" if opts.transductive else "")
              + "`", ""]
    Path(opts.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
