"""Scale -- ``fit --backbone tabular`` on a generated table of millions of rows (issue #25).

The table has 20 numeric columns (float, 4 significant digits) and 5 categorical ones
(``c0`` .. ``c4`` with 50, 40, 30, 20 and 10 categories), 3 classes set by a noisy linear
rule of both; it is written to a CSV in chunks, then the command a user would type runs in
a child process: ``transferkit fit --data FILE --backbone tabular`` with the overrides
listed in the report. Peak memory is the child's ``ru_maxrss`` (its peak resident set,
every page it touched: the process has no memory-mapped cache here).

    python benchmarks/scale_table.py --rows 5000000   # results/scale.md (fit's defaults)
    python benchmarks/scale_table.py --rows 50000 --epochs 1     # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CATEGORIES = (50, 40, 30, 20, 10)


def write_table(path: Path, rows: int, chunk: int = 250_000) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    w = rng.normal(size=20)
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        num = rng.normal(size=(n, 20)).astype(np.float32)
        cats = [rng.integers(0, k, size=n) for k in CATEGORIES]
        score = num @ w + 0.5 * (cats[0] % 3) - 0.5 * (cats[4] % 2) + rng.normal(scale=0.5, size=n)
        label = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
        frame = pd.DataFrame({f"x{j}": num[:, j] for j in range(20)})
        for j, (k, c) in enumerate(zip(CATEGORIES, cats, strict=True)):
            frame[f"c{j}"] = np.array([f"k{i}" for i in range(k)])[c]
        frame["label"] = np.array(["low", "mid", "high"])[label]
        frame.to_csv(path, mode="a" if start else "w", header=start == 0, index=False, float_format="%.4g")


def _status_mib(pid: int, field: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_timed(cmd: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """Run ``cmd``; its output lines stamped with the elapsed seconds and the child's
    VmRSS / VmHWM at that moment (echoed to stderr as they come)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timeline = []
    for line in proc.stdout:  # type: ignore[union-attr]
        stamp = (f"{time.perf_counter() - t:7.1f} s  rss {_status_mib(proc.pid, 'VmRSS'):5.0f}  "
                 f"hwm {_status_mib(proc.pid, 'VmHWM'):5.0f} | {line.rstrip()}")
        timeline.append(stamp)
        print(stamp, file=sys.stderr, flush=True)
    return proc.wait(), timeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--epochs", type=int, help="--epochs of fit (default: not given, fit's default)")
    ap.add_argument("--csv", help="an existing CSV written by this script (not regenerated)")
    ap.add_argument("--out", default=str(HERE / "results" / "scale.md"))
    ap.add_argument("extra", nargs="*", help="more fit arguments after --, e.g. -- --max-steps 1000")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tk-table-", dir=os.environ.get("TMPDIR", "/tmp")))
    try:
        csv = Path(args.csv) if args.csv else work / "table.csv"
        t = time.perf_counter()
        if not args.csv:
            write_table(csv, args.rows)
        gen_s = time.perf_counter() - t
        given = ["--epochs", str(args.epochs)] if args.epochs else []
        cmd = ["transferkit", "fit", "--data", str(csv), "--backbone", "tabular", *given,
               "--out", str(work / "runs"), "--cache-dir", str(work / "cache")]
        env = {**os.environ, "PYTHONPATH": str(HERE.parent), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2",
               "PYTHONUNBUFFERED": "1"}
        cmd += args.extra
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        code, timeline = run_timed([sys.executable, "-m", "transferkit", *cmd[1:]], env)
        wall = time.perf_counter() - t
        load1 = os.getloadavg()[0]
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        lines = [
            f"## A table of {args.rows:,} rows: `fit --backbone tabular`", "",
            f"{args.rows:,} rows x (20 numeric + 5 categorical with 10-50 categories + label), "
            f"CSV {csv.stat().st_size / 2**20:.0f} MiB" + (f" (written in {gen_s:.0f} s)" if not args.csv else "")
            + f". Command: `{' '.join(cmd[:3])} table.csv {' '.join(c for c in cmd[4:] if 'tk-table-' not in c and c not in ('--out', '--cache-dir'))}` (+ --out/--cache-dir in a "
            f"temporary folder); exit code {code}. Load average {load0:.1f} at the start, {load1:.1f} "
            f"at the end, on 2 shared CPUs.", "",
            "| measure | value |", "|---|---|",
            f"| wall time, whole command (read, check, split, train, evaluate, baselines, write) | {wall:.0f} s |",
            f"| peak RSS of the command (ru_maxrss of the child) | {peak:.0f} MiB |", "",
            "Its console lines, each with the seconds since the start and the child's resident set "
            "(VmRSS) and peak (VmHWM) in MiB when it was printed (a phase ends where the next line "
            "begins):", "", "```", *timeline, "```", "",
        ]
        out = Path(args.out)
        with open(out, "a") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
