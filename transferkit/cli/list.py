"""``transferkit list NOUN``: what can be chosen by name, read from the registries.

Each noun is a registry (``"module:ATTRIBUTE"``), so a new registry is one line in
:data:`REGISTRIES` and a new entry in a registry shows up by itself. ``datasets`` and
``models`` hand over to the commands that already list them.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from transferkit.cli import COMMANDS
from transferkit.errors import ConfigError
from transferkit.registry import Registry, unknown_name_message

#: noun -> "module:REGISTRY"; the module is imported only when its noun is listed.
REGISTRIES: dict[str, str] = {
    "tasks": "transferkit.tasks:TASKS",
    "strategies": "transferkit.strategies:STRATEGIES",
    "alignments": "transferkit.alignment:ALIGNMENTS",
    "validators": "transferkit.validation:VALIDATORS",
    "mappings": "transferkit.mapping:MAPPINGS",
    "adapters": "transferkit.mapping:INPUT_ADAPTERS",
    "scores": "transferkit.ranking:SCORES",
    "shallow": "transferkit.shallow:SHALLOW",
    "backbones": "transferkit.backbones:BACKBONES",
}
#: nouns that another command lists: noun -> command (it gets this command's --json).
DELEGATES: dict[str, str] = {"datasets": "datasets", "models": "models"}


def nouns() -> list[str]:
    """Every noun ``transferkit list`` knows, sorted."""
    return sorted([*REGISTRIES, *DELEGATES])


def registry(noun: str) -> Registry[Any]:
    """The registry listed by ``noun``."""
    module, _, attribute = REGISTRIES[noun].partition(":")
    return getattr(importlib.import_module(module), attribute)


def rows(noun: str) -> list[dict[str, Any]]:
    """One row per registered name: name, help, aliases, config options and, where the
    entry declares them, the forms a user types (``usage``) and its built-ins."""
    from transferkit.options import options

    reg = registry(noun)
    out = []
    for name in reg.names():
        entry = reg.entry(name)
        out.append({
            "name": name, "help": entry.help, "aliases": reg.aliases(name),
            "options": options(entry.config) if entry.config is not None else [],
            "usage": list(getattr(entry.obj, "usage", ())),
            "builtins": sorted(getattr(entry.obj, "builtins", {})),
        })
    return out


def _print(noun: str, table: list[dict[str, Any]], verbose: bool) -> None:
    width = max(len(r["name"]) for r in table) if table else 0
    print(f"{len(table)} {noun}:")
    for r in table:
        also = f" (also: {', '.join(r['aliases'])})" if r["aliases"] else ""
        print(f"  {r['name']:<{width}}  {r['help']}{also}")
        if not verbose:
            continue
        if r["usage"]:
            print(f"  {'':<{width}}    names: {', '.join(r['usage'])}")
        if r["builtins"]:
            print(f"  {'':<{width}}    built-ins: {', '.join(r['builtins'])}")
        for o in r["options"]:
            print(f"  {'':<{width}}    {o['key']} = {o['default']!r} ({o['rule'] or o['type']}): "
                  f"{o['help']}")
    if not verbose and any(r["options"] or r["usage"] for r in table):
        print(f"Options, defaults and bounds: transferkit list {noun} --verbose")


@COMMANDS.register("list", help="List what can be chosen by name: " + ", ".join(nouns()) + ".")
class ListCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("noun", nargs="?", metavar="NOUN",
                            help=f"What to list: {', '.join(nouns())}.")
        parser.add_argument("--verbose", "-v", action="store_true",
                            help="Also each entry's config keys with defaults and bounds.")
        parser.add_argument("--json", action="store_true", help="Print the list as JSON.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        if args.noun is None:
            print(f"transferkit list NOUN, where NOUN is one of: {', '.join(nouns())}.")
            return 0
        noun = str(args.noun).strip().lower()
        if noun in DELEGATES:
            return int(COMMANDS.get(DELEGATES[noun]).run(args) or 0)
        if noun not in REGISTRIES:
            raise ConfigError(unknown_name_message("list", args.noun, nouns()))
        table = rows(noun)
        if args.json:
            print(json.dumps(table, indent=1, default=str))
        else:
            _print(noun, table, args.verbose)
        return 0
