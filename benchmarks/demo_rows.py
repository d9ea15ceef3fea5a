"""The demo's rows as a results table: what ``make demo`` (``transferkit demo``) prints, with
every baseline its runs recorded beside them (majority class, from scratch, the plain tools:
TF-IDF + logistic regression on texts, HistGradientBoosting and logistic regression on
tables), so RESULTS.md states what a user's ``make demo`` shows.

    python benchmarks/demo_rows.py                       # runs `transferkit demo` (minutes)
    python benchmarks/demo_rows.py --from runs/demo      # the run directories a demo wrote
    python benchmarks/demo_rows.py --from runs/demo --extra "WDBC (defaults)=runs/wdbc"

``--extra TITLE=RUN_DIR`` adds a row for any other fit's run directory (e.g.
``transferkit fit --data breast-cancer-wdbc``, whose summary holds the table baselines).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def _pct(value: Any) -> str:
    return f"{value * 100:.1f} %" if isinstance(value, (int, float)) else "—"


def row(title: str, summary: dict[str, Any], seconds: float | None) -> str:
    """One Markdown row: test accuracy and balanced accuracy, labels used, each baseline's
    test accuracy, the floor warning (if any), seconds."""
    test = summary["metrics"]["test"]
    used = summary.get("labels_used") or {}
    bases = []
    for name, b in sorted((summary.get("baselines") or {}).items()):
        # plain baselines (majority, the plain tools) hold their test metrics; scratch under "test"
        acc = (b.get("accuracy", (b.get("test") or {}).get("accuracy")) if isinstance(b, dict) else None)
        if acc is not None:
            bases.append(f"{name} {_pct(acc)}")
    floor = "; ".join(w for w in summary.get("warnings", []) if "floor" in w.lower() or "chance" in w.lower()
                      or "majority" in w.lower()) or "—"
    used_s = (f"{sum(v for v in used.values() if isinstance(v, (int, float)))} "
              f"({used.get('train', 0)} + {used.get('val', 0)} val)") if used else "—"
    secs = f"{seconds:.0f}" if seconds is not None else "—"
    return (f"| {title} | {_pct(test.get('accuracy'))} | {_pct(test.get('balanced_accuracy'))} | {used_s} | "
            f"{', '.join(bases) or '—'} | {floor} | {secs} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", default=None, help="A folder `transferkit demo --out` wrote.")
    ap.add_argument("--extra", action="append", default=[], help="TITLE=RUN_DIR of another fit.")
    ap.add_argument("--out", default=str(_common.RESULTS_DIR / "demo.md"))
    args = ap.parse_args()
    _common.setup(install=False)
    from transferkit.cli.demo import DEMO_RUNS

    load_start = os.getloadavg()
    rows: list[tuple[str, dict[str, Any], float | None]] = []
    missing: list[str] = []
    if args.source is None:
        from transferkit.cli.demo import run_demo

        out = Path("runs/demo-bench")
        t0 = time.perf_counter()
        for r in run_demo(DEMO_RUNS, out):
            rows.append((r["title"], r["summary"], r["seconds"]))
        source = f"`transferkit demo --out {out}` (run by this script, {time.perf_counter() - t0:.0f} s)"
    else:
        for i, (title, kwargs) in enumerate(DEMO_RUNS):
            run = Path(args.source) / f"{i + 1}-{kwargs['strategy']}"
            if not (run / "summary.json").is_file():  # a demo stopped early: said, not skipped
                missing.append(title)
                continue
            s = json.loads((run / "summary.json").read_text())
            rows.append((title, s, (s.get("timings") or {}).get("total_s")))
        source = f"the run directories of `transferkit demo --out {args.source}`"
    for extra in args.extra:
        title, _, run = extra.partition("=")
        s = json.loads((Path(run) / "summary.json").read_text())
        rows.append((title, s, (s.get("timings") or {}).get("total_s")))
    lines = ["# Demo rows: what `make demo` prints, with the baselines its runs recorded", "",
             f"- source: {source}; extra rows: {', '.join(args.extra) or 'none'}",
             f"- machine: {_common.cpu_model()}, {os.cpu_count()} cores; load average at the start "
             f"{tuple(round(x, 1) for x in load_start)}, at the end {tuple(round(x, 1) for x in os.getloadavg())}",
             "- every row is the command a user types (the demo's recipes: `transferkit/cli/demo.py`); "
             "labels used = train + validation, all out of the shots; baselines on the same test split",
             "",
             "| run | accuracy | balanced acc. | labels used | baselines (test accuracy) | floor warning | s |",
             "|---|---|---|---|---|---|---|"]
    lines += [row(t, s, sec) for t, s, sec in rows]
    lines += [f"| {t} | not finished | | | | | |" for t in missing]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
