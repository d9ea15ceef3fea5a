"""transferkit's messages through :mod:`logging` (logger ``"transferkit"``).

A job called from Python without ``log=`` sends its progress lines to
``logging.getLogger("transferkit")`` at INFO (silent until the application configures
logging), and the training loop's per-evaluation lines at DEBUG. The command line prints
the progress lines itself; ``--verbose`` (DEBUG) or ``--log-level LEVEL`` also shows the
logger's records on stderr.

>>> import logging; logging.basicConfig(level=logging.INFO)  # doctest: +SKIP
>>> tk.fit(data="digits", shots=10)   # its progress lines now reach the root handler  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re

LOGGER = logging.getLogger("transferkit")
LEVELS = ("debug", "info", "warning", "error")
_MARKUP = re.compile(r"\[/?[a-z ]+\]")


def plain(message: str) -> str:
    """``message`` without rich markup (``[bold]...[/bold]``)."""
    return _MARKUP.sub("", message)


def library_log(message: str) -> None:
    """A job's progress line, for callers that did not pass ``log``: INFO on the logger."""
    LOGGER.info(plain(message))


def detail_log(message: str) -> None:
    """The training loop's per-evaluation lines: DEBUG on the logger."""
    LOGGER.debug(plain(message))


def configure_cli_logging(level: str | None) -> None:
    """Show the logger's records of ``level`` and above on stderr (the CLI's --log-level)."""
    if level is None:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level.upper())


__all__ = ["LEVELS", "LOGGER", "configure_cli_logging", "detail_log", "library_log", "plain"]
