"""The linear probe's head solver, measured: SGD (the training loop) against L-BFGS with
cross-validated L2 (the default since issue 21), with transferkit's defaults otherwise
(the default validation split included), on V1 (Fashion-MNIST, EfficientNet-Lite0, 64 px,
10 labels/class, first 2,000 test images) and T1 (fine-foods, all-MiniLM-L6-v2, 8
labels/class, all test reviews). One feature cache per task (the solvers share the
features); the time given is the head stage's own time.

    python benchmarks/checks/probe_solver.py --seeds 3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

import transferkit as tk

TASKS = {
    "V1 fashion-mnist 10/class": dict(data="fashion-mnist", backbone="efficientnet_lite0", shots=10,
                                      image_size=64, max_test=2000),
    "T1 fine-foods 8/class": dict(data="fine-foods", backbone="minilm", shots=8),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--solvers", default="sgd,lbfgs",
                   help="Comma-separated; 'default' passes no solver (e.g. for a version without one).")
    args = p.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="probe-solver-"))
    print("| task | solver | seed | test accuracy | balanced accuracy | majority | head stage s | C |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.tasks.split(","):
        kw = dict(TASKS[name])
        rows: dict[str, list[tuple[float, float]]] = {}
        for seed in range(args.seeds):
            for solver in args.solvers.split(","):
                run = tk.fit(strategy="linear-probe", seed=seed, out=str(work / "run"), overwrite=True,
                             cache_dir=str(work / name.split()[0]), log=None,
                             strategy_params={} if solver == "default" else {"solver": solver}, **kw)
                s = run.summary
                test, stage = s["metrics"]["test"], s["stages"][0]
                rows.setdefault(solver, []).append((test["accuracy"], test["balanced_accuracy"]))
                c = (stage.get("solver") or {}).get("c", "")
                print(f"| {name} | {solver} | {seed} | {test['accuracy']:.4f} | "
                      f"{test['balanced_accuracy']:.4f} | {s['baselines']['majority']['accuracy']:.4f} | "
                      f"{stage['seconds']:.2f} ({stage['steps']} steps, {stage['stopped']}) | {c} |",
                      flush=True)
        for solver, vals in rows.items():
            a = np.array(vals)
            print(f"| {name} | {solver} | mean ± std | {a[:, 0].mean():.4f} ± {a[:, 0].std():.4f} | "
                  f"{a[:, 1].mean():.4f} ± {a[:, 1].std():.4f} | | | |", flush=True)


if __name__ == "__main__":
    main()
