"""``transferkit demo``: the main job on built-in offline data, in a few minutes."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transferkit.cli import COMMANDS
from transferkit.cli.output import console as make_console

# (title, fit keyword arguments); every run uses the fixed test split of its dataset and, with
# --shots, the label budget a user gets (validation out of the shots; no --max-val)
DEMO_RUNS = [
    ("Fashion-MNIST 10/class, EfficientNet-Lite0, linear probe",
     {"data": "fashion-mnist", "backbone": "efficientnet_lite0", "strategy": "linear-probe",
      "shots": 10, "image_size": 64, "max_test": 2000, "epochs": 100}),
    ("Fashion-MNIST 10/class, EfficientNet-Lite0, gradual fine-tuning",
     {"data": "fashion-mnist", "backbone": "efficientnet_lite0", "strategy": "gradual",
      "shots": 10, "image_size": 64, "max_test": 2000, "epochs": 5,
      "compare": ["scratch"]}),
    ("fine-foods 16/class (train products -> other products), MiniLM, linear probe",
     {"data": "fine-foods", "backbone": "minilm", "strategy": "linear-probe", "shots": 16,
      "epochs": 100}),
    # the few-shot text recipe (README): top 3 layers on cached activations, LP-FT
    ("fine-foods 16/class, MiniLM, partial fine-tuning (top 3 layers)",
     {"data": "fine-foods", "backbone": "minilm", "strategy": "partial", "shots": 16,
      "strategy_params": {"blocks": 3}, "pool_stages": 2, "epochs": 8, "batch_size": 8}),
]


def run_demo(runs: Sequence[tuple[str, dict[str, Any]]], out: str | Path,
             console: Any = None) -> list[dict[str, Any]]:
    """Fit every ``(title, fit keywords)`` of ``runs`` under ``out`` and print the demo table
    (and any floor warning under it); returns one row per run: title, summary, seconds, run
    directory and the floor warning (None when the model clears it)."""
    from transferkit.jobs.fit import fit

    console = console or make_console()
    rows = []
    for i, (title, kwargs) in enumerate(runs):
        console.rule(title)
        t0 = time.perf_counter()
        result = fit(out=str(Path(out) / f"{i + 1}-{kwargs['strategy']}"), overwrite=True, **kwargs)
        rows.append({"title": title, "summary": result.summary, "seconds": time.perf_counter() - t0,
                     "run": str(result.run_dir), "floor": floor_of(result.summary)})
    print_table(rows, console)
    return rows


def floor_of(summary: dict[str, Any]) -> str | None:
    """The task's floor warning for a run's summary (None: the model clears its floor)."""
    from transferkit.tasks import get_task

    meta = {"classes": (summary.get("data") or {}).get("classes")}
    return get_task(summary["task"]).floor_warning(summary["metrics"], summary["baselines"], meta)


def print_table(rows: list[dict[str, Any]], console: Any) -> None:
    """The demo table: test accuracy, balanced accuracy, the labels each run read (train +
    validation), from scratch and time; below it, each below-the-floor row's warning."""
    from rich.table import Table

    table = Table(title="transferkit demo (test split, never used for training or selection)")
    for col in ("task", "accuracy", "balanced acc.", "labels used", "from scratch", "time", "run"):
        table.add_column(col)
    for r in rows:
        s = r["summary"]
        test = s["metrics"]["test"]
        used = s.get("labels_used") or {}
        scratch = (s["baselines"].get("scratch") or {}).get("test", {}).get("accuracy")
        table.add_row(r["title"], f"{test['accuracy'] * 100:.1f} %", f"{test['balanced_accuracy'] * 100:.1f} %",
                      f"{sum(used.values())} ({used.get('train', 0)} + {used.get('val', 0)} val)",
                      f"{scratch * 100:.1f} %" if scratch is not None else "—",
                      f"{r['seconds']:.0f} s", r["run"])
    console.print(table)
    for r in rows:
        if r["floor"]:
            console.print(f"[bold red]{r['title']}: {r['floor']}[/bold red]")


@COMMANDS.register("demo", help="Run the main job on built-in offline data and print a table "
                   "(accuracy vs from scratch, time).")
class DemoCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", default="runs/demo", help="Folder for the demo's run directories (a demo run "
                            "there replaces the one an earlier demo wrote).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        run_demo(DEMO_RUNS, args.out)
        return 0
