"""``transferkit demo``: the main job on built-in offline data, in a few minutes."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from transferkit.cli import COMMANDS
from transferkit.cli.output import console as make_console

# (title, fit keyword arguments); every run uses the fixed test split of its dataset
DEMO_RUNS = [
    ("Fashion-MNIST 10/class, EfficientNet-Lite0, linear probe",
     {"data": "fashion-mnist", "backbone": "efficientnet_lite0", "strategy": "linear-probe",
      "shots": 10, "image_size": 64, "max_test": 2000, "max_val": 500, "epochs": 100}),
    ("Fashion-MNIST 10/class, EfficientNet-Lite0, gradual fine-tuning",
     {"data": "fashion-mnist", "backbone": "efficientnet_lite0", "strategy": "gradual",
      "shots": 10, "image_size": 64, "max_test": 2000, "max_val": 200, "epochs": 5,
      "compare": ["scratch"]}),
    ("fine-foods 16/class (train products -> other products), MiniLM, linear probe",
     {"data": "fine-foods", "backbone": "minilm", "strategy": "linear-probe", "shots": 16,
      "epochs": 100}),
    # the few-shot text recipe (README): top 3 layers on cached activations, LP-FT
    ("fine-foods 16/class, MiniLM, partial fine-tuning (top 3 layers)",
     {"data": "fine-foods", "backbone": "minilm", "strategy": "partial", "shots": 16,
      "strategy_params": {"blocks": 3}, "pool_stages": 2, "epochs": 8, "batch_size": 8}),
]


@COMMANDS.register("demo", help="Run the main job on built-in offline data and print a table "
                   "(accuracy vs from scratch, time).")
class DemoCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", default="runs/demo", help="Folder for the demo's run directories (a demo run "
                            "there replaces the one an earlier demo wrote).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from rich.table import Table

        from transferkit.jobs.fit import fit

        console = make_console()
        rows = []
        for i, (title, kwargs) in enumerate(DEMO_RUNS):
            console.rule(title)
            t0 = time.perf_counter()
            result = fit(out=str(Path(args.out) / f"{i + 1}-{kwargs['strategy']}"), overwrite=True,
                         **kwargs)
            s = result.summary
            scratch = (s["baselines"].get("scratch") or {}).get("test", {}).get("accuracy")
            rows.append((title, s["metrics"]["test"]["accuracy"],
                         s["metrics"]["test"]["balanced_accuracy"], scratch,
                         time.perf_counter() - t0, str(result.run_dir)))
        table = Table(title="transferkit demo (test split, never used for training or selection)")
        for col in ("task", "accuracy", "balanced acc.", "from scratch", "time", "run"):
            table.add_column(col)
        for title, acc, bacc, scratch, secs, run in rows:
            table.add_row(title, f"{acc * 100:.1f} %", f"{bacc * 100:.1f} %",
                          f"{scratch * 100:.1f} %" if scratch is not None else "—",
                          f"{secs:.0f} s", run)
        console.print(table)
        return 0
