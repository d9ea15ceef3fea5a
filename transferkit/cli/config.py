"""``transferkit config``: the reference of every configuration key."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS
from transferkit.cli.output import console as make_console
from transferkit.config import FitConfig, describe, to_dict


@COMMANDS.register("config", help="Print the configuration reference, or a default YAML file.")
class ConfigCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--yaml", action="store_true", help="Print a complete default YAML file.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        if args.yaml:
            import yaml

            print(yaml.safe_dump(to_dict(FitConfig()), sort_keys=False), end="")
            return 0
        from rich.table import Table

        table = Table(title="transferkit fit configuration keys")
        for col in ("key", "type", "default", "help"):
            table.add_column(col)
        for key, tp, default, help_text in describe(FitConfig):
            table.add_row(key, tp, repr(default), help_text)
        make_console().print(table)
        return 0
