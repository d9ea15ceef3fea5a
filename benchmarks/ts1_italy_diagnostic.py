"""TS1 diagnostic: why does the pretrained encoder not help on italy-power-demand? Reads the
target's TRAINING series only (the archive's TRAIN file: train + validation splits); the
TEST file's series are loaded with the splits and never used.

The source is the one the TS1 benchmark pretrains for this target, as a user would::

    transferkit pretrain --data osuleaf,acsf1,pickup-gesture-wiimote-z,gunpoint,arrowhead@24 \
        --arch sequence:cnn --epochs 40 --out <work>/source

Each backbone's frozen features of the 67 training series are probed few-shot inside them:
R draws of K series per class as the labelled set (the rest as the evaluation set), a
standardised logistic regression (C = 1, the same for every backbone) and nearest-centroid on
the standardised features. Backbones: the pretrained source encoder; the same architecture
with random weights (3 seeds); MiniRocket (frozen random convolutions); the raw 24 values.
Also: the source's own accuracy (how much it learned at 24 steps), and how far the source
sets' series are squeezed to reach 24 steps.

    python benchmarks/ts1_italy_diagnostic.py            # -> results/ts1_italy_diagnostic.md
    python benchmarks/ts1_italy_diagnostic.py --run RUN_DIR       # reuse a source pretrained as above
    python benchmarks/ts1_italy_diagnostic.py --source gunpoint,pickup-gesture-wiimote-z@24 \
        --out results/ts1_italy_diagnostic_short.md              # only the least-squeezed sets
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's transferkit

SOURCE = "osuleaf,acsf1,pickup-gesture-wiimote-z,gunpoint,arrowhead@24"
TARGET = "italy-power-demand"


def probe(x: np.ndarray, y: np.ndarray, k: int, repeats: int = 50) -> tuple[float, float]:
    """(logistic accuracy, nearest-centroid accuracy), mean over ``repeats`` draws of ``k``
    labelled series per class; the rest of the series are the evaluation set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    lr, nc = [], []
    for _ in range(repeats):
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in np.unique(y)])
        rest = np.setdiff1d(np.arange(len(y)), idx)
        sc = StandardScaler().fit(x[idx])
        a, b = sc.transform(x[idx]), sc.transform(x[rest])
        lr.append(LogisticRegression(C=1.0, max_iter=2000).fit(a, y[idx]).score(b, y[rest]))
        cents = np.stack([a[y[idx] == c].mean(0) for c in np.unique(y)])
        pred = np.unique(y)[np.argmin(((b[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)]
        nc.append(float((pred == y[rest]).mean()))
    return float(np.mean(lr)), float(np.mean(nc))


def main() -> None:
    import transferkit as tk
    from transferkit.backbones import create_backbone
    from transferkit.data import load_splits
    from transferkit.features import extract_features

    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="ts1-italy-"))
    splits = load_splits(TARGET)
    from transferkit.data.dataset import TransferDataset

    tr, va = splits.train, splits.val  # the TRAIN file (the test split is the TEST file: unused)
    pool = TransferDataset(TARGET, tr.modality, np.concatenate([tr.x, va.x]), np.concatenate([tr.y, va.y]),
                           tr.classes, split="train")
    y = np.asarray(pool.y)
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", default=None, help="Reuse a source run pretrained from --source.")
    p.add_argument("--source", default=SOURCE, help="The source's --data (default: TS1's).")
    p.add_argument("--out", default=str(HERE / "results" / "ts1_italy_diagnostic.md"))
    args = p.parse_args()
    source = Path(args.run) if args.run else Path(
        tk.pretrain(args.source, "sequence:cnn", str(work / "source"), epochs=40, log=None).run_dir)
    src = json.loads((source / "summary.json").read_text())
    rows: dict[str, np.ndarray] = {"pretrained source encoder": extract_features(str(source), pool,
                                                                             use_cache=False)}
    for seed in range(3):
        import torch

        torch.manual_seed(seed)
        rows[f"sequence:cnn, random weights (seed {seed})"] = extract_features(create_backbone("sequence:cnn"),
                                                                              pool, use_cache=False)
    rocket = create_backbone("minirocket")
    rocket.adapt_to(pool)  # its biases from the 67 training series (label-free)
    rows["minirocket (frozen)"] = extract_features(rocket, pool, use_cache=False)
    rows["raw 24 values"] = np.asarray(pool.x, dtype=np.float64).reshape(len(pool.x), -1)
    lines = ["# TS1 diagnostic: italy-power-demand, frozen features probed inside the TRAIN file", "",
             "`python benchmarks/ts1_italy_diagnostic.py` (the archive's TEST series are never used). "
             f"{len(y)} training series, {len(np.unique(y))} classes; 50 draws of K labelled series per "
             "class, the rest evaluate; standardised features; logistic regression C = 1 / nearest "
             "centroid.", "",
             f"Source: `transferkit pretrain --data {args.source} --arch sequence:cnn --epochs 40`: "
             f"{len(src['data']['classes'])} classes, source test accuracy "
             f"{100 * src['metrics']['test']['accuracy']:.1f} %.", "",
             "| features | dim | K=5 logistic | K=5 centroid | K=10 logistic | K=10 centroid |",
             "|---|---|---|---|---|---|"]
    for name, x in rows.items():
        x = np.nan_to_num(np.asarray(x, dtype=np.float64))
        a5, c5 = probe(x, y, 5)
        a10, c10 = probe(x, y, 10)
        lines.append(f"| {name} | {x.shape[1]} | {100 * a5:.1f} | {100 * c5:.1f} | {100 * a10:.1f} | {100 * c10:.1f} |")
        print(lines[-1], flush=True)
    from transferkit.data.builtin._base import DATASETS

    squeeze = []
    for name in args.source.split("@")[0].split(","):
        s = load_splits(name).train
        x = s.x
        length = x.shape[1] if isinstance(x, np.ndarray) and x.ndim == 3 else int(np.median([len(v) for v in x]))
        squeeze.append(f"{name} {length} -> 24 ({length / 24:.0f}x)")
        assert name in DATASETS  # a built-in
    lines += ["", "Source series squeezed to the target's length (linear resampling): " + "; ".join(squeeze) + ".",
              "", f"Wall {time.perf_counter() - t0:.0f} s."]
    out = Path(args.out)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
