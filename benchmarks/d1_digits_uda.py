"""D1: unsupervised domain adaptation, printed digits (source) -> handwritten digits (target).

Per method: source-only, adapted (checkpoint and lambda chosen by a label-free validator)
and oracle (best checkpoint/lambda by target test accuracy; an upper bound that uses the
labels the method does not get), over several seeds, with wall times. Target test
labels are used only for these figures. The printed source (28x28) is downsampled to the
target's native 8x8 before the backbone (``match_resolution``, off with
``--no-match-resolution``): label-free preprocessing, as MNIST/USPS are resized to one size.

    python benchmarks/d1_digits_uda.py --seeds 3
    python benchmarks/d1_digits_uda.py --quick          # 1 seed, 3 methods, few epochs

The other UDA benchmarks (d2_text_uda.py, fashion_corruption_uda.py) reuse
:func:`run_benchmark` from this file.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

METHODS = ("coral", "mmd", "dann", "cdan", "mcc", "entropy", "coral-transform", "subspace",
           "importance")
QUICK_METHODS = ("cdan", "mcc", "coral-transform")


def machine() -> str:
    cpu = _common.cpu_model()
    import torch

    import transferkit

    return (f"{os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable), {cpu}; "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), transferkit "
            f"{transferkit.__version__}, Python {platform.python_version()}")


def _paired_words(paired: dict[str, Any] | None, against: str = "source-only") -> str:
    """'; vs <against>: <verdict> (p = ...)' from a run's paired test, '' without one."""
    if not paired:
        return ""
    from transferkit.stats import format_p

    return f"; vs {against}: {paired['verdict']} ({format_p(paired['p_value'])})"


def _ms(values: list[float]) -> str:
    if not values:
        return "—"
    mean = statistics.fmean(values) * 100
    std = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}"


def run_benchmark(task: str, title: str, common: dict[str, Any], methods: list[str], seeds: int | list[int],
                  select: str, sweep: bool, out_md: Path, argv: list[str],
                  extra_runs: dict[str, dict[str, Any]] | None = None,
                  skada: list[str] | None = None) -> list[dict[str, Any]]:
    """Run ``adapt`` for every method x seed and write the markdown table to ``out_md``; with
    ``skada`` (method names of :data:`_skada.GRIDS`), skada's methods on the same
    features, per seed, in the same run (their table appended). ``seeds``: a count (seeds
    0 .. n-1) or the seeds themselves; with no ``methods`` only skada's table is written."""
    import torch

    from transferkit.jobs.adapt import adapt

    torch.set_num_threads(2)
    rows: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"{task}-"))
    configs = {m: {"method": m} for m in methods}
    configs.update(extra_runs or {})
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    for label, overrides in configs.items():
        for seed in seed_list:
            t0 = time.perf_counter()
            run = adapt(**{**common, **overrides}, select=select, sweep=sweep, seed=seed,
                        out=str(workdir / f"{label}-{seed}"), log=None)
            wall = time.perf_counter() - t0
            s = run.summary
            row = {"method": label, "seed": seed, "adapted": s["metrics"]["test"]["accuracy"],
                   "adapted_bal": s["metrics"]["test"]["balanced_accuracy"],
                   "source_only": s["baselines"]["source_only"]["test"]["accuracy"],
                   # the plain tool on the same frozen features (absent on end-to-end runs)
                   "source_only_lr": (s["baselines"].get("source_only_logistic") or {}).get("accuracy"),
                   "paired_lr": (s["baselines"].get("source_only_logistic") or {}).get("paired_test"),
                   "oracle": (s["baselines"]["oracle"] or {}).get("test", {}).get("accuracy"),
                   "chosen": next((c["name"] for c in s["selection"]["candidates"] if c.get("chosen")), ""),
                   "wall_s": wall, "features_s": s["timings"]["features_s"],
                   "train_s": s["timings"]["train_s"], "ci": _common.summary_ci(s),
                   "paired": (s.get("adapt") or {}).get("paired_test")}
            rows.append(row)
            print(f"{label:16s} seed {seed}: source-only {row['source_only']:.4f}  adapted "
                  f"{row['adapted']:.4f}  oracle {row['oracle'] or float('nan'):.4f}  "
                  f"({row['chosen']}, {wall:.1f} s)", flush=True)
    if rows:
        _write(task, title, rows, select, sweep, common, out_md, argv)
    else:  # skada's peers only
        out_md.parent.mkdir(parents=True, exist_ok=True)
        out_md.write_text(f"## {task.upper()}: {title} -- skada peers only\n\n- machine: {machine()}\n"
                          f"- command: `python {' '.join(argv)}`; load average at the end: "
                          f"{{load}}\n\n", encoding="utf-8")
    if skada:
        import _skada

        peer_rows = []
        for seed in seed_list:
            peer_rows += _skada.run_skada(_skada.same_features(common, seed), seed, skada)
        lines = _skada.markdown(peer_rows)
        with out_md.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines))
        if not rows:
            out_md.write_text(out_md.read_text(encoding="utf-8").replace("{load}", str(os.getloadavg())),
                              encoding="utf-8")
        print("\n".join(lines))
    return rows


def _write(task: str, title: str, rows: list[dict[str, Any]], select: str, sweep: bool,
           common: dict[str, Any], out_md: Path, argv: list[str]) -> None:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    so_all = [r["source_only"] for r in rows]
    best_gain = max((statistics.fmean([r["adapted"] for r in rs]) - statistics.fmean(
        [r["source_only"] for r in rs]), m) for m, rs in by.items())
    fastest = min(statistics.median([r["wall_s"] for r in rs]) for rs in by.values())
    lines = [f"## {task.upper()}: {title}", "",
             f"- machine: {machine()}",
             f"- command: `python {' '.join(argv)}`; load average at the end: {os.getloadavg()}",
             f"- each transferkit row is `transferkit adapt {_flags(common)} --method M --select {select}"
             f"{' --sweep' if sweep else ''} --seed S` (every other setting adapt's default)",
             "- adapted = checkpoint (and λ) chosen by the validator, never by target labels; oracle "
             "= best checkpoint/λ by target test accuracy (**oracle, uses target labels, an upper "
             "bound, not a result**); time = wall time of the whole adapt run (data, features "
             "(cached after the first run), source-only + adapted training, evaluation)",
             "",
             "- source-only LR = scikit-learn's `LogisticRegression(max_iter=1000)` on the same "
             "standardised frozen features the source-only model reads (the run's "
             "`baselines.source_only_logistic`); the gain is also given against it",
             "",
             "| method | source-only % | source-only LR % | adapted (label-free) % | gain (points) | "
             "gain vs LR | oracle % | median time s | time / fastest |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m, rs in by.items():
        so = [r["source_only"] for r in rs]
        ad = [r["adapted"] for r in rs]
        orc = [r["oracle"] for r in rs if r["oracle"] is not None]
        lr = [r["source_only_lr"] for r in rs if r.get("source_only_lr") is not None]
        gain = (statistics.fmean(ad) - statistics.fmean(so)) * 100
        gain_lr = f"{(statistics.fmean(ad) - statistics.fmean(lr)) * 100:+.1f}" if lr else "—"
        med = statistics.median([r["wall_s"] for r in rs])
        lines.append(f"| {m} | {_ms(so)} | {_ms(lr) if lr else '—'} | {_ms(ad)} | {gain:+.1f} | "
                     f"{gain_lr} | {_ms(orc)} | {med:.1f} | {med / fastest:.2f}× |")
    verdicts = [r["paired"]["verdict"] for r in by[best_gain[1]] if r.get("paired")]
    tally = ", ".join(f"{v} on {verdicts.count(v)}" for v in dict.fromkeys(verdicts))
    helped = verdicts.count("helped")
    # A method is only "best" when it gained on average and its paired test found a gain on a
    # seed; otherwise the line says no method helped (coral-transform on D2 was once named
    # "best" for +0.0 points while answering the majority class).
    head = (f"Best label-free method: **{best_gain[1]}**, " if best_gain[0] > 0 and (helped or not verdicts)
            else f"**No label-free method helped** (the highest mean gain: {best_gain[1]}, ")
    lines += ["", head + f"{best_gain[0] * 100:+.1f} points over "
              f"source-only (source-only over all runs: {_ms(so_all)} %)"
              + (")" if head.startswith("**No") else "")
              + (f"; the paired test against source-only on each seed's shared test set says: {tally} "
                 f"of {len(verdicts)} seeds." if verdicts else "."), "",
              "Per seed (accuracy %, source-only / adapted / oracle, chosen candidate, wall s; the "
              "adapted model's 95 % bootstrap CI on the shared target test set and its paired test "
              "against source-only on the same examples, McNemar):", ""]
    for m, rs in by.items():
        cells = "; ".join(f"seed {r['seed']}: {r['source_only'] * 100:.1f} / {r['adapted'] * 100:.1f}"
                          f" / {(r['oracle'] or 0) * 100:.1f} ({r['chosen']}, {r['wall_s']:.0f} s; adapted "
                          f"95 % CI {_common.ci_cell([r])}{_paired_words(r.get('paired'))}"
                          f"{_paired_words(r.get('paired_lr'), 'source-only LR')})"
                          for r in rs)
        lines.append(f"- {m}: {cells}")
    lines.append("")
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"\nwritten to {out_md}")


def _flags(common: dict[str, Any]) -> str:
    """The adapt command-line flags of ``common`` (the cache directory left out)."""
    def flag(key: str) -> str:  # "source.domain" is the CLI's --source-domain
        return key.replace("_", "-").replace(".", "-")

    return " ".join(f"--{flag(k)}" if v is True else f"--no-{flag(k)}" if v is False
                    else f"--{flag(k)} {v}" for k, v in common.items() if k != "cache_dir")


def explicit(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a benchmark command names beyond the source and target: only what its
    command line gives (everything else is adapt's default, as a user would run it)."""
    given = {"backbone": args.backbone, "image_size": args.image_size, "epochs": args.epochs,
             "cache_dir": args.cache_dir}
    if args.quick and args.epochs is None:
        given["epochs"] = 8
    if args.no_match_resolution:
        given["match_resolution"] = False
    return {k: v for k, v in given.items() if v is not None}


def parser(methods: tuple[str, ...]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed-list", default="", help="Comma-separated seeds to run instead of 0 .. --seeds - 1 "
                   "(e.g. one process per seed, so an interrupted run keeps the seeds it finished).")
    p.add_argument("--quick", action="store_true", help="1 seed, a few methods, fewer epochs.")
    p.add_argument("--methods", default=",".join(methods))
    p.add_argument("--select", default="snd", help="label-free validator: snd, entropy, dev")
    p.add_argument("--sweep", action="store_true", help="sweep λ over 0.1, 0.3, 1, 3 (label-free)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--backbone", default=None, help="adapt's default when not given")
    p.add_argument("--skada", default=None,
                   help="Comma-separated skada peers on the same features (_skada.GRIDS, _skada.DEEP), "
                        "or 'all'; default none.")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default=None, help="Markdown file (default results/<task>.md).")
    p.add_argument("--no-match-resolution", action="store_true",
                   help="Keep each domain's native resolution (printed 28x28, target 8x8); by "
                        "default the source is downsampled to 8x8 first (adapt's "
                        "match_resolution, label-free preprocessing).")
    return p


def seed_list(args: argparse.Namespace) -> int | list[int]:
    """``--seed-list`` as a list, else the count ``--seeds`` (1 with ``--quick``)."""
    if args.seed_list:
        return [int(s) for s in args.seed_list.split(",") if s.strip()]
    return 1 if args.quick else args.seeds


def skada_list(value: str | None) -> list[str] | None:
    """``--skada``: None, 'all' or comma-separated names of _skada.GRIDS and _skada.DEEP."""
    if not value:
        return None
    import _skada

    known = [*_skada.GRIDS, *_skada.DEEP]
    names = known if value == "all" else [v.strip() for v in value.split(",")]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"--skada: unknown {unknown}; known: {', '.join(known)}")
    return names


def main() -> None:
    args = parser(METHODS).parse_args()
    args.out = args.out or str(Path(__file__).parent / "results" / "d1_digits_uda.md")
    methods = list(QUICK_METHODS) if args.quick and args.methods == ",".join(METHODS) else \
        [m for m in args.methods.split(",") if m]
    seeds = seed_list(args)
    common = {"source": "printed-digits", "target": "digits", **explicit(args)}
    run_benchmark("d1", "printed digits → handwritten digits (UDA)", common, methods, seeds,
                  args.select, args.sweep, Path(args.out), sys.argv, skada=skada_list(args.skada))


if __name__ == "__main__":
    main()
