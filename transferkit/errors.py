"""The few exception types transferkit raises.

Every error a user can cause is a :class:`TransferkitError` whose message names the
parameter, file or row at fault, says what was expected, and how to fix it. The
subclasses also derive from the built-in type a Python user would expect
(``ValueError``, ``FileNotFoundError`` ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib


class TransferkitError(Exception):
    """Base class of every error transferkit raises on purpose."""


class ConfigError(TransferkitError, ValueError):
    """A parameter, flag or configuration key is missing, unknown or out of range."""


class DataError(TransferkitError, ValueError):
    """Input data cannot be read or does not have the expected form."""


class BackboneError(TransferkitError, ValueError):
    """A backbone cannot be built or its weights cannot be loaded."""


class OfflineError(BackboneError):
    """Something must be downloaded but the machine is offline."""


class NotFittedError(TransferkitError, AttributeError):
    """An estimator was used before ``fit`` was called."""


class TrainingError(TransferkitError, RuntimeError):
    """Training cannot continue (non-finite loss, diverged, interrupted state)."""


class RunDirError(TransferkitError, FileNotFoundError):
    """A run directory is missing, incomplete, locked or from an unknown version."""


class UnsafeFileError(TransferkitError, ValueError):
    """A file would need unpickling (arbitrary code execution) to be loaded."""


# --------------------------------------------------------------------------- messages


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_name_message(kind: str, name: str, choices: list[str]) -> str:
    """The one wording for an unknown name, with a suggestion and the valid names."""
    return (
        f"Unknown {kind} '{name}'.{did_you_mean(name, choices)} "
        f"Available: {', '.join(sorted(choices))}."
    )
