"""LogME on n = 1000, d = 1280 with BLAS unpinned vs pinned by ``transferkit._threads``.

On a loaded machine OpenBLAS's spinning threads (one per core, beside torch's pool)
made this score take seconds instead of a fraction of one. ``--busy N`` adds N busy-loop
processes for the measurement (stopped at the end) to load the machine on purpose.

    python benchmarks/blas_threads.py --busy 2        # -> results/blas_threads.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _times(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=0, help="busy-loop processes to run meanwhile")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "blas_threads.md")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from transferkit._threads import thread_budget
    from transferkit.ranking.logme import LogMEScore

    rng = np.random.default_rng(0)
    f = rng.normal(size=(1000, 1280)).astype(np.float32)
    y = rng.integers(0, 10, 1000)
    torch.ones(512, 512) @ torch.ones(512, 512)  # torch's pool is up, as in a run
    score = LogMEScore()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        time.sleep(2 if busy else 0)
        load = os.getloadavg()[0]
        unpinned_threads = os.cpu_count() or 1

        def unpinned() -> None:  # what the score did before: BLAS at its default, one per core
            with threadpool_limits(limits=unpinned_threads, user_api="blas"):
                score._score(*_prepared(score, f, y))

        before = _times(unpinned, args.repeats)
        budget = thread_budget()
        after = _times(lambda: score.score(f, y), args.repeats)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    rows = [("unpinned (BLAS threads = cores)", unpinned_threads, before),
            ("pinned (blas_threads())", budget, after)]
    lines = ["# LogME n=1000, d=1280: BLAS threads\n",
             f"{os.cpu_count()} cores, {args.busy} busy-loop processes added, 1-min load average "
             f"{load:.1f} at the start; {args.repeats} repeats.\n",
             "| BLAS | threads | median s | min s | max s |", "|---|---|---|---|---|"]
    for name, n, t in rows:
        lines.append(f"| {name} | {n} | {np.median(t):.3f} | {min(t):.3f} | {max(t):.3f} |")
    lines.append(f"\nspeed-up of the median: {np.median(before) / np.median(after):.1f}x\n")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n\n`python benchmarks/blas_threads.py --busy "
                        f"{args.busy} --repeats {args.repeats}`\n")


def _prepared(score, f: np.ndarray, y: np.ndarray):
    from transferkit.ranking._base import check_inputs

    fx, yy, k = check_inputs(f, y, score.name)
    return fx, yy, k, None


if __name__ == "__main__":
    main()
