"""``transferkit runs``: list and compare recorded runs."""

from __future__ import annotations

import argparse
import json
import sys

from transferkit.cli import COMMANDS


@COMMANDS.register("runs", help="List and compare recorded runs (the SQLite runs index).")
class RunsCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from transferkit.runs_index import ENV_INDEX, SORT_KEYS

        parser.add_argument("--index", help=f"Runs index file (default ${ENV_INDEX} or "
                            "runs/index.sqlite).")
        parser.add_argument("--data", help="Only runs on this target dataset.")
        parser.add_argument("--backbone", help="Only runs with this backbone.")
        parser.add_argument("--strategy", help="Only runs with this strategy.")
        parser.add_argument("--sort", choices=SORT_KEYS, help="Sort by this column (metrics: "
                            "best first). Default: most recent first.")
        parser.add_argument("--limit", type=int, help="Show at most this many runs.")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument("--record", metavar="RUN", nargs="+",
                            help="Record (or refresh) these run directories first.")
        parser.add_argument("--clean", metavar="DIR", nargs="?", const="runs",
                            help="Delete what interrupted runs left in DIR (default runs/): "
                                 "unfinished .<name>.partial runs, checkpoints included, and their "
                                 "lock files -- only where no live process holds the run's lock.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.runs_index import index_path, list_runs, record_run

        if args.clean is not None:
            from transferkit.pipeline.run import clean_stale

            removed = clean_stale(args.clean)
            for path in removed:
                print(f"removed {path}")
            print(f"{len(removed)} leftover(s) of interrupted runs removed from {args.clean}.")
            return 0
        for run in args.record or []:
            record_run(run, args.index)  # a directory that is not a finished run: a clear error
        rows = list_runs(args.index, data=args.data, backbone=args.backbone,
                         strategy=args.strategy, sort=args.sort, limit=args.limit)
        if args.json:
            sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
            return 0
        from rich.table import Table

        from transferkit.cli.output import console as make_console

        console = make_console()
        if not rows:
            console.print(f"No runs recorded in {index_path(args.index)}"
                          + (" matching the filters." if args.data or args.backbone or
                             args.strategy else ". Runs are recorded when `transferkit fit` "
                             "finishes, or with --record RUN."))
            return 0
        table = Table(title=f"runs ({index_path(args.index)})")
        for col in ("run", "data", "backbone", "strategy", "accuracy", "bal. acc.", "macro-F1",
                    "ECE", "gain vs scratch", "time", "recorded"):
            table.add_column(col, justify="right" if col in ("accuracy", "bal. acc.", "macro-F1",
                                                             "ECE", "gain vs scratch", "time")
                             else "left")
        for r in rows:
            name = r["name"] if r["exists"] else f"{r['name']} [dim](deleted)[/dim]"
            table.add_row(name, str(r["data"] or "—"), str(r["backbone"] or "—"),
                          str(r["strategy"] or "—"), _pct(r["accuracy"]),
                          _pct(r["balanced_accuracy"]), _pct(r["macro_f1"]),
                          "—" if r["ece"] is None else f"{r['ece']:.3f}",
                          "—" if r["transfer_gain"] is None else f"{r['transfer_gain'] * 100:+.1f}",
                          "—" if r["total_s"] is None else f"{r['total_s']:.1f} s",
                          str(r["recorded"]))
        console.print(table)
        return 0


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"
