"""The command-line tool: ``transferkit <command> ...``.

Thin by design: each command is one module in this package that registers a class with
``add_arguments(parser)`` and ``run(args) -> int`` and calls the public API. Errors a
user can cause (:class:`~transferkit.errors.TransferkitError`) print one clear line and
exit with status 2; anything else is reported in one line as an internal error (status
1). No bare traceback reaches the user unless ``TRANSFERKIT_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from collections.abc import Sequence
from typing import Any

from transferkit.errors import TransferkitError
from transferkit.options import configure, flags, rule
from transferkit.progress import cli_progress
from transferkit.registry import Registry

COMMANDS: Registry[Any] = Registry("command", package="transferkit.cli")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--config``, ``--set`` and every field flag of the config dataclass ``cls``."""
    parser.add_argument("--config", metavar="YAML", help="YAML file with configuration keys "
                        "(flags and --set override it).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override one configuration key, e.g. --set train.lr=0.001 (repeatable).")
    seen: set[str] = set()
    for flag, key, f, tp in flags(cls):
        if flag in seen:
            continue
        seen.add(flag)
        dest = "cfg__" + key.replace(".", "__")
        help_text = flag_help(f, tp)
        if tp is bool or tp == (bool | None):  # a switch (None: the option's automatic rule)
            parser.add_argument(flag, dest=dest, action="store_const", const=True, default=None,
                                help=help_text)
        else:
            parser.add_argument(flag, dest=dest, default=None, metavar=key.split(".")[-1].upper(),
                                help=help_text)


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` / ``--log-level``: also show the ``transferkit`` logger's records."""
    from transferkit.logs import LEVELS

    parser.add_argument("--log-level", choices=LEVELS, default=None,
                        help="Show transferkit's log records of this level and above on stderr "
                        "(debug adds the training loop's per-evaluation lines). Default: none.")
    with contextlib.suppress(argparse.ArgumentError):  # a command's own --verbose (list) stays
        parser.add_argument("--verbose", "-v", action="store_const", const="debug", dest="log_level",
                            help="The same as --log-level debug.")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device`` for the commands that load a run (predict, evaluate, serve)."""
    from transferkit.devices import DEVICE_HELP

    parser.add_argument("--device", default="auto", help=DEVICE_HELP + " Default: auto.")


def flag_help(f: Any, tp: Any) -> str:
    """A config flag's help: its text, then what it accepts and its default, from the one
    declaration (``option(...)``), so ``--help`` and the checks never disagree."""
    import dataclasses

    text = f.metadata.get("help", "").rstrip()
    if tp is bool or tp == (bool | None):
        return text
    accepts = rule(f, tp)
    default = f.default if f.default is not dataclasses.MISSING else None
    extra = [f"Accepts {accepts}." if accepts else "", f"Default: {default}."]
    return " ".join([text, *[e for e in extra if e]]).replace("%", "%%")


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration flags the user gave, by dotted key (the dests that
    ``add_config_arguments`` gives them)."""
    return {k[len("cfg__"):].replace("__", "."): v for k, v in vars(args).items()
            if k.startswith("cfg__") and v is not None}


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """Defaults < --config YAML < flags < --set overrides (through the one front door)."""
    return configure(cls, getattr(args, "config", None), getattr(args, "overrides", []),
                     **flag_values(args))


def build_parser() -> argparse.ArgumentParser:
    from transferkit import __version__

    parser = argparse.ArgumentParser(
        prog="transferkit",
        description="Deep transfer learning: carry a pretrained model to your small dataset, "
        "and prove it helped.",
    )
    parser.add_argument("--version", action="version", version=f"transferkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS.names():
        entry = COMMANDS.entry(name)
        p = sub.add_parser(name, help=entry.help, description=entry.help)
        entry.obj.add_arguments(p)
        add_logging_arguments(p)
        p.set_defaults(_command=entry.obj)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``transferkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_command", None):
        parser.print_help()
        return 1
    from transferkit.logs import configure_cli_logging

    configure_cli_logging(getattr(args, "log_level", None))
    try:
        # bars on a terminal unless --quiet (or --json: output meant for a program)
        with cli_progress(not (getattr(args, "quiet", False) or getattr(args, "json", False))):
            return int(args._command.run(args) or 0)
    except TransferkitError as exc:
        if os.environ.get("TRANSFERKIT_DEBUG"):
            raise
        print(f"transferkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`transferkit datasets --json | head`)
        _silence_stdout()
        return 0
    except Exception as exc:  # a bug in transferkit or a library: one line, not a traceback
        if os.environ.get("TRANSFERKIT_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.errno in FILESYSTEM_ERRNOS:  # the disk, not a bug
            print(f"transferkit {args.command}: error: {filesystem_message(exc)}", file=sys.stderr)
            return 2
        print(f"transferkit {args.command}: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug. Rerun with TRANSFERKIT_DEBUG=1 to see the traceback, and report it.",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"transferkit {args.command}: interrupted; rerun with --resume to continue.",
              file=sys.stderr)
        return 130


#: errors of the file system rather than of transferkit: a full disk, a quota, a read-only
#: mount, a permission, too many open files -- said in words with what to do, exit 2
FILESYSTEM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                               errno.EMFILE, errno.ENFILE})


def filesystem_message(exc: OSError) -> str:
    """A file-system error in words: what failed, on which file, and what to do."""
    where = f" writing or reading '{exc.filename}'" if exc.filename else ""
    advice = {errno.ENOSPC: "free disk space (the feature cache can be cleared with `transferkit "
                            "cache clear`) or write the run elsewhere with --out",
              errno.EDQUOT: "free space within your quota, or write the run elsewhere with --out",
              errno.EROFS: "the file system is read-only: write the run elsewhere with --out (and "
                           "the cache with --set cache_dir=...)",
              errno.EMFILE: "too many open files: raise the limit (ulimit -n) or lower train.num_workers",
              errno.ENFILE: "too many open files on the system: retry when fewer are open"}
    todo = advice.get(exc.errno, "check the permissions of that path, or write elsewhere with --out")
    return (f"the operating system refused{where}: {exc.strerror or exc}. To fix: {todo}. An "
            "interrupted fit keeps its checkpoints in the run's .partial folder; rerun with --resume "
            "to continue it.")


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush into the closed pipe
    does not print "Exception ignored ... BrokenPipeError" (the recipe of Python's docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (captured in a test)
        pass
