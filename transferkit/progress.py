"""Whether progress bars show, and the one bar that extraction and prediction use.

The command line turns bars on for the command it runs when stderr is a terminal and
``--quiet`` was not given (:func:`cli_progress`); library calls stay silent unless they
ask (``progress=True``). ``TRANSFERKIT_NO_PROGRESS=1`` turns every bar off. This module
imports neither torch nor rich at import time, so building the CLI parser stays fast.

>>> with cli_progress(True):  # doctest: +SKIP
...     extract_features("efficientnet_lite0", data)  # shows a bar on a terminal
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Callable, Iterator

_WANTED: contextvars.ContextVar[bool] = contextvars.ContextVar("transferkit_progress", default=False)


def progress_wanted(explicit: bool | None = None) -> bool:
    """``explicit`` when given, else whether the running CLI command shows bars; never
    when ``TRANSFERKIT_NO_PROGRESS`` is set or stderr is not a terminal."""
    if os.environ.get("TRANSFERKIT_NO_PROGRESS") or not sys.stderr.isatty():
        return False
    return _WANTED.get() if explicit is None else bool(explicit)


@contextlib.contextmanager
def cli_progress(on: bool) -> Iterator[None]:
    """Within the block, calls that were not told otherwise show progress bars (``on``)."""
    token = _WANTED.set(bool(on))
    try:
        yield
    finally:
        _WANTED.reset(token)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A transient rich bar of ``total`` items; yields ``advance(n)``. A no-op when not
    ``enabled``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


__all__ = ["cli_progress", "progress_bar", "progress_wanted"]
