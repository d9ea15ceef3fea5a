"""Speed and memory budgets of the commands users type (not timed tests).

Each row runs a README command as a user would, in its own process, and measures its
wall time, the training time on cached features and the extraction time as the run's
``summary.json`` reports them, and the process's peak resident set size (``ru_maxrss`` of
the child, read by a small wrapper process so that each command is measured alone).
Memory-mapped feature-cache pages count toward RSS here when they are touched; nothing is
excluded, so the figure is an upper bound.

Budgets (the "every command a user types ends well" issue):

- ``transferkit adapt --source printed-digits --target digits --method cdan --select snd``:
  training time on cached features <= 30 s on 2 cores (extraction reported separately);
- ``transferkit fit --data <200 grey 25x25 PNGs in two class folders> --backbone
  efficientnet_lite0 --strategy auto``: peak RSS <= 2 GB;
- ``transferkit fit --data fashion-mnist --shots 100 --strategy auto``: peak RSS <= 4 GB.

    python benchmarks/budgets.py                      # all rows -> results/budgets.md
    python benchmarks/budgets.py --rows adapt-cdan    # one row
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
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RESULTS_DIR, machine  # noqa: E402

WRAPPER = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
           "rc = subprocess.run(sys.argv[1:]).returncode; "
           "print(json.dumps({'rc': rc, 'wall_s': time.perf_counter() - t, "
           "'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))")


def make_png_folder(root: Path, n: int = 200, size: int = 25, seed: int = 0) -> Path:
    """``n`` greyscale ``size`` x ``size`` PNGs in two class folders: bright squares vs rings."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        label = "rings" if i % 2 else "squares"
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        cy, cx, r = rng.integers(8, size - 8, 2).tolist() + [int(rng.integers(3, 7))]
        dist = np.hypot(yy - cy, xx - cx)
        shape = (np.abs(dist - r) < 1.2) if label == "rings" else (np.maximum(abs(yy - cy), abs(xx - cx)) < r)
        img = np.clip(rng.normal(40, 15, (size, size)) + 180 * shape, 0, 255).astype(np.uint8)
        Image.fromarray(img, mode="L").save(folder / f"{i:03d}.png")
    return root


def run_row(name: str, argv: list[str], out: Path, budget: dict[str, float]) -> dict[str, Any]:
    """Run one command in a wrapper process; its measured figures and the run's timings."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True, env=env)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    timings = summary.get("timings") or {}
    shown, skip = [], False
    for a in argv[3:]:  # what the user types: transferkit <command> ..., without --out/--cache-dir/--quiet
        if skip:
            skip = False
        elif a in ("--out", "--cache-dir"):
            skip = True
        elif a != "--quiet":
            shown.append(a if "/" not in a else "<folder>")
    row = {"row": name, "command": "transferkit " + " ".join(shown),
           "rc": measured["rc"], "wall_s": round(measured["wall_s"], 1),
           "peak_rss_mb": round(measured["peak_rss_mb"]), "features_s": timings.get("features_s"),
           "train_s": timings.get("train_s"), "load_before": round(load, 2), "budget": budget,
           "test_accuracy": ((summary.get("metrics") or {}).get("test") or {}).get("accuracy")}
    row["met"] = all((row.get(k) is not None and row[k] <= v) for k, v in budget.items()) and row["rc"] == 0
    print(json.dumps(row), flush=True)
    return row


def rows(work: Path) -> dict[str, tuple[list[str], Path, dict[str, float]]]:
    cli = [sys.executable, "-m", "transferkit"]
    cache = ["--cache-dir", str(work / "cache")]
    pngs = make_png_folder(work / "pngs")
    return {
        "adapt-cdan": (cli + ["adapt", "--source", "printed-digits", "--target", "digits", "--method",
                              "cdan", "--select", "snd", "--out", str(work / "adapt"), "--quiet", *cache],
                       work / "adapt", {"train_s": 30.0}),
        "fit-auto-200png": (cli + ["fit", "--data", str(pngs), "--backbone", "efficientnet_lite0",
                                   "--strategy", "auto", "--out", str(work / "png"), "--quiet", *cache],
                            work / "png", {"peak_rss_mb": 2048.0}),
        "fit-auto-fmnist-100": (cli + ["fit", "--data", "fashion-mnist", "--shots", "100", "--strategy",
                                       "auto", "--out", str(work / "fmnist"), "--quiet", *cache],
                                work / "fmnist", {"peak_rss_mb": 4096.0}),
    }


def write(results: list[dict[str, Any]], out: Path, argv: list[str]) -> None:
    m = machine()
    lines = ["# Speed and memory budgets of the commands users type", "",
             f"- machine: {m.get('cores')} cores, {m.get('cpu')}; command: `python benchmarks/budgets.py "
             f"{' '.join(argv)}`".rstrip(), "- each command also gets --out and --cache-dir (a fresh "
             "cache: extraction included) and --quiet", "- peak RSS: `ru_maxrss` of the command's process (touched "
             "memory-mapped cache pages included); times from the run's summary.json", "",
             "| row | command | budget | wall s | extraction s | training s | peak RSS MB | met | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        budget = ", ".join(f"{k} <= {v:g}" for k, v in r["budget"].items())
        lines.append(f"| {r['row']} | `{r['command']}` | {budget} | {r['wall_s']} | {r['features_s']} | "
                     f"{r['train_s']} | {r['peak_rss_mb']} | {'yes' if r['met'] else '**no**'} | "
                     f"{r['load_before']} |")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default="adapt-cdan,fit-auto-200png,fit-auto-fmnist-100")
    p.add_argument("--out", default=str(RESULTS_DIR / "budgets.md"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = rows(Path(tmp))
        results = []
        for name in [r.strip() for r in args.rows.split(",") if r.strip()]:
            cmd, out, budget = table[name]
            t0 = time.perf_counter()
            results.append(run_row(name, cmd, out, budget))
            print(f"# {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    write(results, Path(args.out), sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
