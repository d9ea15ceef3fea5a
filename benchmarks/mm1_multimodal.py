"""M1 -- multimodal rows: each modality alone vs feature-level vs late fusion (digit-rows).

``transferkit multimodal`` on the generated ``digit-rows`` table (scikit-learn's digits as
32x32 PNGs; a caption naming the right digit with probability 0.6; ``ink = digit + N(0, 9)``;
an uninformative category ``pen``; 20 % of photos, captions and ink values missing,
independently), generated once with table seed 0 and split (stratified) with 3 split seeds:
60 % train / 10 % val (the heads' L2 strength) / 30 % test. "Alone" is one column's own head,
evaluated on *all* test rows (the training class frequencies where the column is missing),
so it is comparable with the fusions row for row; the column's accuracy on the rows that
have it is given beside it.

    python benchmarks/mm1_multimodal.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seeds", type=int, default=3)
    args.add_argument("--out", default=str(_common.RESULTS_DIR / "mm1_multimodal.md"))
    opts = args.parse_args()
    _common.setup(install=False)
    from transferkit.features.cache import default_cache_dir
    from transferkit.jobs.multimodal import multimodal
    from transferkit.multimodal.synthetic import digit_rows

    table = digit_rows(default_cache_dir() / "generated" / "digit-rows-seed0", seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="mm1-"))
    columns = "image=photo,text=caption,number=ink,category=pen"
    results, seconds = [], []
    for seed in range(opts.seeds):
        t0 = time.perf_counter()
        run = multimodal(data=str(table), columns=columns, seed=seed, out=str(tmp / f"s{seed}"))
        results.append(run.summary["multimodal"])
        seconds.append(time.perf_counter() - t0)
        print(json.dumps({k: v["accuracy"] for k, v in results[-1]["fusion"].items()}), flush=True)
    lines = ["# M1 -- multimodal rows: the generated `digit-rows` table", "",
             __doc__.split("\n\n", 1)[1].split("    python")[0].strip(), "",
             f"Seeds: {opts.seeds} split seeds (mean ± sd). Machine: {json.dumps(_common.machine())}.", "",
             "| model | test accuracy (all test rows) | balanced accuracy | accuracy on the rows that have the column |",
             "|---|---|---|---|"]
    for column in results[0]["columns"]:
        info = [r["columns"][column] for r in results]
        if info[0]["alone_all_test_rows"] is None:
            continue
        lines.append(f"| {column} alone ({info[0]['kind']}, {info[0]['encoder']}, "
                     f"{info[0]['missing']:.0%} missing) | "
                     f"{_mean_sd([i['alone_all_test_rows']['accuracy'] for i in info])} | "
                     f"{_mean_sd([i['alone_all_test_rows']['balanced_accuracy'] for i in info])} | "
                     f"{_mean_sd([i['alone_on_present_test_rows']['accuracy'] for i in info])} |")
    for name in results[0]["fusion"]:
        f = [r["fusion"][name] for r in results]
        lines.append(f"| {name} fusion | {_mean_sd([x['accuracy'] for x in f])} | "
                     f"{_mean_sd([x['balanced_accuracy'] for x in f])} | - |")
    best_single = max(statistics.mean(r["columns"][c]["alone_all_test_rows"]["accuracy"] for r in results)
                      for c in results[0]["columns"] if results[0]["columns"][c]["alone_all_test_rows"])
    best_fusion = max(statistics.mean(r["fusion"][n]["accuracy"] for r in results) for n in results[0]["fusion"])
    lines += ["", f"Best fusion {best_fusion:.4f} vs best single modality {best_single:.4f}: "
              f"{(best_fusion - best_single) * 100:+.1f} points (target: +2).", "",
              "Each seed's paired test (McNemar on that seed's test rows) of each fusion against the "
              "best single column, chosen on the validation rows:", "",
              *[f"- seed {i}: " + "; ".join(p["sentence"] for p in r.get("paired", {}).values())
                for i, r in enumerate(results)],
              "", "Rows that miss a column (fusion accuracy on them, mean over seeds):", "",
              "| fusion | " + " | ".join(f"without {c}" for c in results[0]["columns"]) + " |",
              "|---|" + "---|" * len(results[0]["columns"])]
    for name in results[0]["fusion"]:
        cells = []
        for c in results[0]["columns"]:
            vals = [r["fusion"][name]["missing"][c] for r in results if r["fusion"][name]["missing"][c]["n"]]
            cells.append(f"{statistics.mean(v['accuracy'] for v in vals):.4f} (n≈{vals[0]['n']})" if vals else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Seconds per seed: {_mean_sd(seconds)}.", "",
              f"Command: `python benchmarks/mm1_multimodal.py --seeds {opts.seeds}`", ""]
    Path(opts.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
