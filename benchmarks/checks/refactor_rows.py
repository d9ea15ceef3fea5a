"""The transferkit rows of three benchmarks' ``--quick`` runs, without their peers.

Before/after check of the engine refactor: runs exactly the transferkit arm that
``--quick`` runs in

- ``benchmarks/v1_fewshot_image.py --quick``: ``run_transferkit(recipe, shots=10, seed=0,
  n_test=500, work)`` for every recipe of ``TK_RECIPES`` (1 seed, 10/class, 500 test images);
- ``benchmarks/t1_fewshot_text.py --quick``: ``run_transferkit(recipe, shots=8, seed=0, work)``
  for every recipe of ``TK_RECIPES`` (1 seed, 8/class only, no T2; every recipe runs at 8/class);
- ``benchmarks/d1_digits_uda.py --quick``: ``run_benchmark("d1", ..., common, QUICK_METHODS,
  seeds=1, select="snd", sweep=False, ...)`` with the ``common`` dict ``main()`` builds for
  ``--quick`` (efficientnet_lite0, image_size 64, mapping mlp, 8 epochs, match_resolution),
  except ``cache_dir``, which is private here.

and prints every per-seed figure at full precision. The benchmark modules are imported
from ``--repo`` (default: the current directory), and so is transferkit: run it from the
checkout to measure::

    git worktree add /tmp/before <commit> && cd /tmp/before && python <this checkout>/benchmarks/checks/refactor_rows.py v1 > v1.txt

The scripts are not edited and their Markdown results are not written (d1's table goes to
``--out-dir``). Peers (SetFit, timm loops, sklearn) are skipped: the refactor does not touch them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _setup(repo: Path, cache: Path) -> None:
    sys.path.insert(0, str(repo / "benchmarks"))
    sys.path.insert(0, str(repo))
    os.environ["TRANSFERKIT_CACHE_DIR"] = str(cache)  # private feature cache
    os.environ["TRANSFERKIT_RUNS_INDEX"] = str(cache / "runs-index.sqlite")  # keep ./runs' index clean
    os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")
    import _common

    _common.setup(install=False)  # 2 threads, offline hub; never pip-installs here
    import transferkit

    where = Path(transferkit.__file__).resolve()
    if repo.resolve() not in where.parents:
        raise SystemExit(f"transferkit was imported from {where}, not from {repo}")
    print(f"# transferkit {transferkit.__version__} from {where.parent}", flush=True)
    print(f"# torch threads {__import__('torch').get_num_threads()}, load {os.getloadavg()}", flush=True)


def _row(bench: str, setting: str, name: str, seed: int, summary: dict[str, Any], wall: float) -> None:
    test = summary["metrics"]["test"]
    timings = summary.get("timings", {})
    print(json.dumps({"bench": bench, "setting": setting, "method": name, "seed": seed,
                      "accuracy": f"{test['accuracy']:.6f}",
                      "balanced_accuracy": f"{test['balanced_accuracy']:.6f}",
                      "macro_f1": f"{test.get('macro_f1', float('nan')):.6f}",
                      "ece": f"{test.get('ece', float('nan')):.6f}", "n_test": test.get("n"),
                      "wall_s": round(wall, 2), "features_s": timings.get("features_s"),
                      "train_s": timings.get("train_s")}), flush=True)


def v1(work: Path) -> None:
    import v1_fewshot_image as v1m

    shots, seed, n_test = 10, 0, 500  # --quick: seeds [0], shots [10], 500 test images
    for name, recipe in v1m.TK_RECIPES.items():
        t0 = time.perf_counter()
        summary = v1m.run_transferkit(recipe, shots, seed, n_test, work)
        _row("v1", f"{shots}/class", name, seed, summary, time.perf_counter() - t0)


def t1(work: Path) -> None:
    import t1_fewshot_text as t1m

    shots, seed = 8, 0  # --quick: seeds [0], the first of "8,16", no T2
    for name, recipe in t1m.TK_RECIPES.items():
        t0 = time.perf_counter()
        summary = t1m.run_transferkit(recipe, shots, seed, work)
        _row("t1", f"T1 {shots}/class", name, seed, summary, time.perf_counter() - t0)


def d1(work: Path, cache: Path, out_dir: Path) -> None:
    import d1_digits_uda as d1m

    # what d1_digits_uda.main() builds for `--quick` (no other flags), with a private cache
    common = {"source": "printed-digits", "target": "digits", "backbone": "efficientnet_lite0",
              "image_size": 64, "mapping": "mlp", "epochs": 8, "cache_dir": str(cache / "d1"),
              "match_resolution": True}
    rows = d1m.run_benchmark("d1", "printed digits → handwritten digits (UDA)", common,
                             list(d1m.QUICK_METHODS), 1, "snd", False, out_dir / "d1_table.md",
                             ["benchmarks/d1_digits_uda.py", "--quick", "(transferkit rows driver)"])
    for r in rows:
        print(json.dumps({"bench": "d1", **{k: (f"{v:.6f}" if isinstance(v, float) and k in (
            "adapted", "adapted_bal", "source_only", "oracle") else v) for k, v in r.items()}}),
            flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", choices=("v1", "t1", "d1"))
    p.add_argument("--repo", default=".", help="Checkout whose benchmarks/ and transferkit to use.")
    p.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "refactor-rows-cache"), help="Private feature cache root.")
    p.add_argument("--out-dir", default=".", help="Where d1's Markdown table goes.")
    args = p.parse_args()
    repo = Path(args.repo).resolve()
    cache = Path(args.cache) / args.bench
    cache.mkdir(parents=True, exist_ok=True)
    _setup(repo, cache)
    work = Path(tempfile.mkdtemp(prefix=f"tk-rows-{args.bench}-", dir=str(cache)))
    t0 = time.perf_counter()
    if args.bench == "v1":
        v1(work)
    elif args.bench == "t1":
        t1(work)
    else:
        d1(work, cache, Path(args.out_dir))
    print(f"# total {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
