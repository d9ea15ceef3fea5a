"""The few exception types transferkit raises.

Every error a user can cause is a :class:`TransferkitError` whose message names the
parameter, file or row at fault, says what was expected, and how to fix it. The
subclasses also derive from the built-in type a Python user would expect
(``ValueError``, ``FileNotFoundError`` ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


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
