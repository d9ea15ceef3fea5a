"""``transferkit models``: the built-in backbones and whether their weights are installed."""

from __future__ import annotations

import argparse
import json

from transferkit.cli import COMMANDS
from transferkit.cli.output import console as make_console


@COMMANDS.register("models", help="List the built-in backbones and whether their weights are available.")
class ModelsCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the list as JSON.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.backbones import list_models

        rows = list_models()
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        from rich.table import Table

        table = Table(title="transferkit built-in backbones")
        for col in ("name", "family", "modality", "feature dim", "params", "weights", "description"):
            table.add_column(col)
        for r in rows:
            weights = "[green]available[/]" if r["available"] else f"[red]missing[/]: {r['install']}"
            table.add_row(r["name"], r["family"], r["modality"], str(r["feature_dim"]),
                          f"{r['params'] / 1e6:.1f}M", weights, r["description"])
        console = make_console()
        console.print(table)
        console.print("Also: timm:<name> (any timm model), hf:<name or folder>, tabular[:<sizes>], "
                      "sequence:cnn|lstm, or a run directory.")
        return 0
