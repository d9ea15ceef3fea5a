"""The README's results picture: accuracy against wall time for every method of a benchmark
table in ``benchmarks/results/<name>.md`` (default V1, both label budgets), read from the
table as the benchmark wrote it.

    python benchmarks/plot_results.py [--table v1_fewshot_image] [--out docs/img/results.png]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROW = re.compile(r"^\| (?P<method>[^|]+?) \| (?P<acc>[\d.]+) ± (?P<std>[\d.]+) \|(?:[^|]*\|){2} (?P<wall>[\d.]+) \|")


def read_tables(path: Path) -> dict[str, list[tuple[str, float, float, float]]]:
    """{section title: [(method, accuracy %, std, wall s)]} of a results file."""
    tables: dict[str, list[tuple[str, float, float, float]]] = {}
    section = path.stem
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            section = line[4:].strip()
        m = ROW.match(line)
        if m:
            method = m["method"].replace("**best peer**", "").strip()
            tables.setdefault(section, []).append((method, float(m["acc"]), float(m["std"]), float(m["wall"])))
    return tables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="v1_fewshot_image")
    ap.add_argument("--out", type=Path, default=HERE.parent / "docs" / "img" / "results.png")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = read_tables(HERE / "results" / f"{args.table}.md")
    fig, axes = plt.subplots(1, len(tables), figsize=(6 * len(tables), 4.2), squeeze=False)
    for ax, (section, rows) in zip(axes[0], tables.items(), strict=True):
        for method, acc, std, wall in rows:
            ours = method.startswith("transferkit")
            ax.errorbar(wall, acc, yerr=std, fmt="o" if ours else "s", ms=7, capsize=3,
                        color="tab:blue" if ours else "tab:gray")
            ax.annotate(method.replace(" (peer)", ""), (wall, acc), textcoords="offset points", xytext=(6, 4),
                        fontsize=7, color="tab:blue" if ours else "dimgray")
        ax.set_xscale("log")
        ax.set_xlabel("wall seconds, data on disk to test predictions (log)")
        ax.set_ylabel("test accuracy % (mean ± std over seeds)")
        ax.set_title(f"{args.table}: {section}", fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
