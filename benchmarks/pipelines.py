"""The three worked pipelines of issue 5: pretrain on a source, fit on a small target.

    python benchmarks/pipelines.py --seeds 3                      # all three
    python benchmarks/pipelines.py --pipeline digits --seeds 3    # one of them
    python benchmarks/pipelines.py --quick                        # short budgets, for checking

Pipelines (each: pretrain once on the source, then per seed fit the target with few
labels, beside the same architecture trained on the target alone with the same budget):

- digits: printed-digits -> pretrain timm:resnet10t (32 px, random init) -> digits,
  10 labels per class;
- wdbc: breast-cancer-wdbc (30 features) -> pretrain the tabular MLP -> breast-cancer-biopsy
  (9 features), 5 labels per class, through the tabular input adapter (task H1);
- credit: credit-default (balance, income, student) -> pretrain the tabular MLP ->
  credit-card (11 features; `income` matches by name), 10 labels per class.

Writes benchmarks/results/pipelines.md (machine, versions, command, per-seed figures,
mean ± std, wall times, gain over the target alone, and a plain verdict per pipeline).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PIPELINES: dict[str, dict[str, Any]] = {
    "digits": {
        "source": "printed-digits", "target": "digits", "shots": 10,
        "arch": "timm:resnet10t", "image_size": 32,
        "pretrain": {"epochs": 10, "lr": 3e-3, "batch_size": 64},
        "fit": {"epochs": 30, "lr": 3e-3, "batch_size": 32},
        "strategies": ["linear-probe", "full"],
        "command": ("transferkit pretrain --data printed-digits --arch timm:resnet10t --image-size 32 "
                    "--epochs 10 --lr 0.003 --batch-size 64 --out runs/printed-digits && "
                    "transferkit fit --data digits --shots 10 --backbone runs/printed-digits "
                    "--strategy full --epochs 30 --lr 0.003 --set strategy_params.backbone_lr_ratio=1.0"),
    },
    "wdbc": {
        "source": "breast-cancer-wdbc", "target": "breast-cancer-biopsy", "shots": 5,
        "arch": "tabular", "image_size": None,
        "pretrain": {"epochs": 60, "lr": 3e-3, "batch_size": 32},
        "fit": {"epochs": 60, "lr": 3e-3, "batch_size": 32},
        "strategies": ["full"],
        "command": ("transferkit pretrain --data breast-cancer-wdbc --arch tabular --epochs 60 "
                    "--lr 0.003 --out runs/wdbc && transferkit fit --data breast-cancer-biopsy "
                    "--shots 5 --backbone runs/wdbc --strategy full --epochs 60 --lr 0.003 "
                    "--set strategy_params.backbone_lr_ratio=1.0"),
    },
    "credit": {
        "source": "credit-default", "target": "credit-card", "shots": 10,
        "arch": "tabular", "image_size": None,
        "pretrain": {"epochs": 20, "lr": 3e-3, "batch_size": 64},
        "fit": {"epochs": 60, "lr": 3e-3, "batch_size": 32},
        "strategies": ["full"],
        "command": ("transferkit pretrain --data credit-default --arch tabular --epochs 20 --lr 0.003 "
                    "--batch-size 64 --out runs/credit-default && transferkit fit --data credit-card "
                    "--shots 10 --backbone runs/credit-default --strategy full --epochs 60 --lr 0.003 "
                    "--set strategy_params.backbone_lr_ratio=1.0"),
    },
}


def machine() -> str:
    cpu = _common.cpu_model()
    import sklearn
    import timm
    import torch

    import transferkit

    return (f"{os.cpu_count()} cores ({cpu}), torch.set_num_threads({torch.get_num_threads()}); "
            f"Python {platform.python_version()}, torch {torch.__version__}, timm {timm.__version__}, "
            f"scikit-learn {sklearn.__version__}, transferkit {transferkit.__version__}")


#: --fresh-head: the transferred rows start from a fresh head even when the source run's classes
#: are the target's (``--set backbone.keep_head=false``; by default the source's head is kept then)
FRESH_HEAD: list[str] = []


def _fit(work: Path, tag: str, p: dict[str, Any], backbone: str, strategy: str, seed: int,
         pretrained: bool, quick: bool) -> dict[str, Any]:
    from transferkit.jobs.fit import fit

    f = dict(p["fit"])
    if quick:
        f["epochs"] = max(3, f["epochs"] // 5)
    t0 = time.perf_counter()
    run = fit(data=p["target"], shots=p["shots"], seed=seed, backbone=backbone, strategy=strategy,
              pretrained=pretrained, image_size=p["image_size"], epochs=f["epochs"], lr=f["lr"],
              batch_size=f["batch_size"], out=str(work / f"{tag}-{strategy}-s{seed}"), overwrite=True,
              cache_dir=str(work / "cache"),
              overrides=([] if strategy != "full" else ["strategy_params.backbone_lr_ratio=1.0"])
              + (FRESH_HEAD if pretrained else []),
              log=None)
    test = run.summary["metrics"]["test"]
    return {"accuracy": test["accuracy"], "balanced_accuracy": test["balanced_accuracy"],
            "seconds": time.perf_counter() - t0, "ci": _common.summary_ci(run.summary),
            "run": str(run.run_dir)}


def run_pipeline(name: str, seeds: list[int], work: Path, quick: bool) -> dict[str, Any]:
    from transferkit.jobs.compare import compare_runs
    from transferkit.jobs.pretrain import pretrain

    p = PIPELINES[name]
    pre = dict(p["pretrain"])
    if quick:
        pre["epochs"] = max(2, pre["epochs"] // 5)
    t0 = time.perf_counter()
    src = pretrain(p["source"], p["arch"], work / f"{name}-source", epochs=pre["epochs"], lr=pre["lr"],
                   batch_size=pre["batch_size"], image_size=p["image_size"], seed=0, log=None,
                   overrides=[f"cache_dir={work / 'cache'}"])
    pretrain_s = time.perf_counter() - t0
    rows: dict[str, list[dict[str, Any]]] = {}
    for seed in seeds:
        for strategy in p["strategies"]:
            rows.setdefault(f"transferred ({strategy})", []).append(
                _fit(work, f"{name}-tr", p, str(src.run_dir), strategy, seed, True, quick))
        # the target alone: the same architecture from random init, same budget, every layer trains
        alone = _fit(work, f"{name}-alone", p, p["arch"], "full", seed, False, quick)
        rows.setdefault("target alone (full, random init)", []).append(alone)
        for strategy in p["strategies"]:  # the paired test on the shared test split, per seed
            row = rows[f"transferred ({strategy})"][-1]
            row["paired"] = compare_runs(row["run"], alone["run"], seed=seed)
        print(f"  {name} seed {seed}: " + ", ".join(
            f"{k} {v[-1]['accuracy']:.4f}" for k, v in rows.items()), flush=True)
    return {"name": name, "pretrain_s": pretrain_s,
            "source_accuracy": src.summary["metrics"]["test"]["accuracy"], "rows": rows}


def _ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f}"


def _paired_cell(rows: list[dict[str, Any]]) -> str:
    """Each seed's paired test in a cell: the difference and McNemar's p, '—' for no test."""
    return ", ".join(f"{100 * r['paired']['diff']:+.1f} (p = {r['paired']['p_value']:.2g})"
                     if r.get("paired") else "—" for r in rows)


def seed_verdict(tests: list[dict[str, Any]]) -> str:
    """The pipeline's sentence from its per-seed paired tests (McNemar, p < 0.05): "transfer
    helped" only when every seed's test says so, "negative transfer" only when every seed's
    test says so; otherwise how many seeds each way -- never the sign of the mean gain alone."""
    kinds = [t["verdict"] for t in tests]
    n = len(kinds)
    if kinds and all(k == "helped" for k in kinds):
        return f"transfer helped on all {n} seeds (each seed's paired test, p < 0.05)."
    if kinds and all(k == "negative" for k in kinds):
        return f"negative transfer on all {n} seeds (each seed's paired test, p < 0.05)."
    counts = {k: kinds.count(k) for k in ("helped", "no detectable difference", "negative")}
    return (f"not shown to help: helped on {counts['helped']} of {n} seeds, no detectable difference on "
            f"{counts['no detectable difference']}, negative on {counts['negative']} (each seed's paired "
            "test on the shared test split, McNemar p < 0.05).")


def report(results: list[dict[str, Any]], seeds: list[int], command: str, quick: bool) -> str:
    lines = ["# Worked pipelines (issue 5): pretrain on a source, fit a small target", "",
             f"Machine: {machine()}", "", f"Command: `{command}`" + ("  (quick budgets)" if quick else ""),
             "", f"Seeds: {seeds}. Test splits are fixed; the seed draws the few-shot sample and the "
             "initialisation. Accuracies in %, mean ± std over seeds.", "", _common.CI_NOTE, ""]
    for res in results:
        p = PIPELINES[res["name"]]
        alone = [r["accuracy"] for r in res["rows"]["target alone (full, random init)"]]
        lines += [f"## {res['name']}: {p['source']} -> {p['target']} ({p['shots']} labels per class)", "",
                  f"One command: `{p['command']}`", "",
                  f"Source model: {p['arch']}, source test accuracy {100 * res['source_accuracy']:.1f} %, "
                  f"pretraining {res['pretrain_s']:.1f} s.", "",
                  "| model | accuracy | balanced accuracy | per seed (accuracy) | per-seed 95 % CI | gain "
                  "over target alone (points) | paired test per seed vs target alone | wall s (median) | "
                  "time ratio to target alone |",
                  "|---|---|---|---|---|---|---|---|---|"]
        t_alone = statistics.median(r["seconds"] for r in res["rows"]["target alone (full, random init)"])
        best_gain, verdicts = None, {}
        for label, rows in res["rows"].items():
            acc = [r["accuracy"] for r in rows]
            gain = 100 * (statistics.mean(acc) - statistics.mean(alone))
            t = statistics.median(r["seconds"] for r in rows)
            if label.startswith("transferred"):
                best_gain = gain if best_gain is None else max(best_gain, gain)
                verdicts[label] = [r["paired"] for r in rows]
            lines.append(f"| {label} | {_ms(acc)} | {_ms([r['balanced_accuracy'] for r in rows])} | "
                         + ", ".join(f"{100 * a:.1f}" for a in acc)
                         + f" | {_common.ci_cell(rows)} | {gain:+.1f} | {_paired_cell(rows)} | {t:.1f} | "
                         f"{t / t_alone:.2f} |")
        lines += ["", *[f"Verdict ({label}): {seed_verdict(tests)}" for label, tests in verdicts.items()],
                  "", "Per seed (the paired test's sentence, transferred = A, target alone = B):", "",
                  *[f"- {label}, seed {seed}: {t['sentence']}" for label, tests in verdicts.items()
                    for seed, t in zip(seeds, tests, strict=True)], ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipeline", choices=[*PIPELINES, "all"], default="all")
    parser.add_argument("--seeds", type=int, default=3, help="Number of seeds (>= 3 for the table).")
    parser.add_argument("--quick", action="store_true", help="A fifth of the epochs (for checking).")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipelines.md"))
    parser.add_argument("--workdir", default=None, help="Where run directories go (default: a temp dir).")
    parser.add_argument("--fresh-head", action="store_true", help="--set backbone.keep_head=false on the "
                        "transferred rows (a fresh head even when the source's classes are the target's).")
    args = parser.parse_args(argv)
    if args.fresh_head:
        FRESH_HEAD.append("backbone.keep_head=false")

    import torch

    torch.set_num_threads(2)
    names = list(PIPELINES) if args.pipeline == "all" else [args.pipeline]
    seeds = list(range(args.seeds))
    command = "python benchmarks/pipelines.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="tk-pipelines-") as tmp:
        work = Path(args.workdir or tmp)
        results = []
        for name in names:
            print(f"pipeline {name}", flush=True)
            results.append(run_pipeline(name, seeds, work, args.quick))
    text = report(results, seeds, command, args.quick)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
