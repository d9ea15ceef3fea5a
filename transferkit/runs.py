"""Compatibility shim, removed once api.py moves: the runs index is ``transferkit.runs_index``."""

from transferkit.runs_index import *  # noqa: F403
