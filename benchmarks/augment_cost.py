"""What train-time augmentation costs and gives on V1 (Fashion-MNIST, 100 labels per class,
EfficientNet-Lite0 at 64 px, gradual fine-tuning), as the commands users type:

    transferkit fit --data fashion-mnist --shots 100 --strategy gradual --image-size 64 --max-test 2000
      ... (a) as is: the head on cached features, then the top blocks on cached activations
      ... (b) --augment light: the same (cached stages are not augmented; nothing reads raw images)
      ... (c) --augment light --set train.augment_cached=true: every stage on raw, augmented images

    python benchmarks/augment_cost.py [--seeds 1]      # -> results/augment_cost.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = ["fit", "--data", "fashion-mnist", "--shots", "100", "--strategy", "gradual", "--image-size", "64",
        "--max-test", "2000", "--quiet"]
ARMS = {"cached, no augmentation": [], "--augment light (cached stages stay unaugmented)": ["--augment", "light"],
        "--augment light + train.augment_cached=true (raw images)":
            ["--augment", "light", "--set", "train.augment_cached=true"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "augment_cost.md")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRANSFERKIT_NO_PROGRESS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = ["--cache-dir", str(Path(tmp) / "cache")]
        for seed in range(args.seeds):
            for arm, extra in ARMS.items():
                out = Path(tmp) / f"{abs(hash(arm))}-{seed}"
                cmd = [sys.executable, "-m", "transferkit", *BASE, "--seed", str(seed), *extra, "--out", str(out),
                       *cache]
                load = os.getloadavg()[0]
                t = time.perf_counter()
                subprocess.run(cmd, check=True, env=env)
                wall = time.perf_counter() - t
                s = json.loads((out / "summary.json").read_text())
                rows.append((arm, seed, s["metrics"]["test"]["accuracy"], s["timings"]["train_s"], wall, load))
                print(rows[-1], flush=True)
    lines = ["# Train-time augmentation on V1 (Fashion-MNIST 100/class, gradual, 64 px)", "",
             f"- command: `transferkit {' '.join(BASE[:-1])} --seed S` + the arm's flags; one shared feature "
             "cache (extraction is measured once, in the first arm)",
             f"- machine: {os.cpu_count()} cores; load = 1-minute load average when the arm started", "",
             "| arm | seed | test accuracy | training s | wall s | load |", "|---|---|---|---|---|---|"]
    lines += [f"| {a} | {s} | {acc * 100:.1f} % | {tr:.1f} | {w:.1f} | {ld:.2f} |" for a, s, acc, tr, w, ld in rows]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
