"""``transferkit cache ls|clear``: inspect or empty the feature cache."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS
from transferkit.cli.output import console as make_console


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@COMMANDS.register("cache", help="List (ls) or delete (clear) cached features and ONNX exports.")
class CacheCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=("ls", "clear"), help="ls: list entries; clear: delete them all.")
        parser.add_argument("--cache-dir", default=None, metavar="DIR",
                            help="Cache folder (default: $TRANSFERKIT_CACHE_DIR or ~/.cache/transferkit).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.features import FeatureCache

        cache = FeatureCache(args.cache_dir)
        if args.action == "clear":
            freed = cache.clear()
            print(f"Cleared the feature cache in {cache.root} ({_size(freed)} freed).")
            return 0
        from rich.table import Table

        entries = cache.ls()
        table = Table(title=f"feature cache: {cache.root}")
        for col in ("key", "backbone", "data", "shape", "size", "created"):
            table.add_column(col)
        for e in entries:
            table.add_row(str(e.get("key", ""))[:12], str(e.get("backbone", "?")),
                          f"{e.get('data', '?')}/{e.get('split', '?')}",
                          "corrupt" if e.get("corrupt") else "x".join(map(str, e.get("shape", []))),
                          _size(e.get("bytes", 0)), str(e.get("created", "")))
        console = make_console()
        console.print(table)
        onnx = cache.onnx_files()
        console.print(f"{len(entries)} feature entries, {len(onnx)} ONNX exports, "
                      f"{_size(cache.size_bytes())} in total.")
        return 0
