"""``transferkit evaluate RUN --data D``."""

from __future__ import annotations

import argparse
import json

from transferkit.cli import COMMANDS, add_device_argument
from transferkit.cli.output import console as make_console


@COMMANDS.register("evaluate", help="Metrics of a saved run on a dataset: accuracy, balanced "
                   "accuracy, macro-F1, per-class report, confusion matrix, ECE.")
class EvaluateCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run", help="Run directory.")
        parser.add_argument("--data", help="Dataset (default: the run's own data, split exactly as "
                            "the fit split it and checked against the split fingerprint it recorded).")
        parser.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
        parser.add_argument("--text-column")
        parser.add_argument("--label-column")
        parser.add_argument("--skip-bad", action="store_true",
                            help="Skip unreadable files of --data (a run's own data is read as its "
                                 "fit read it: with --skip-bad if the fit had it).")
        parser.add_argument("--label-separator", help="Multi-label: labels joined by this separator "
                            "in the label column (default: the run's own setting).")
        parser.add_argument("--label-columns", help="Multi-label: several 0/1 columns (a,b,c; default: "
                            "the run's own setting).")
        parser.add_argument("--json", action="store_true", help="Print the metrics as JSON.")
        add_device_argument(parser)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from rich.table import Table

        from transferkit.jobs.predict import evaluate

        columns = [c.strip() for c in (args.label_columns or "").split(",") if c.strip()]
        kwargs = {k: v for k, v in (("text_column", args.text_column),
                                    ("label_column", args.label_column),
                                    ("skip_bad", args.skip_bad),
                                    ("label_separator", args.label_separator),
                                    ("label_columns", columns)) if v}
        m = evaluate(args.run, args.data, split=args.split, device=args.device, **kwargs)
        if args.json:
            print(json.dumps(m, indent=2))
            return 0
        console = make_console()
        if "per_class" not in m:  # a task without one class per example: the task's headline
            from transferkit.rundir import read_manifest
            from transferkit.tasks import get_task

            task = get_task(read_manifest(args.run).get("task"))
            console.print(f"{task.headline(m)}  (n={m['n']})")
            return 0
        console.print(f"accuracy {m['accuracy']:.4f}  balanced accuracy {m['balanced_accuracy']:.4f}  "
                      f"macro-F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}  (n={m['n']})")
        table = Table(title="per class")
        for col in ("class", "precision", "recall", "f1", "support"):
            table.add_column(col)
        for name, r in m["per_class"].items():
            table.add_row(name, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                          str(r["support"]))
        console.print(table)
        names = list(m["per_class"])
        cm = Table(title="confusion matrix (rows: true, columns: predicted)")
        cm.add_column("")
        for n in names:
            cm.add_column(n[:8])
        for n, row in zip(names, m["confusion_matrix"], strict=True):
            cm.add_row(n[:12], *map(str, row))
        console.print(cm)
        return 0
