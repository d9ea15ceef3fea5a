"""Where transferkit keeps what it can recompute: feature cache, ONNX exports, file checks."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$TRANSFERKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/transferkit`` (``~/.cache/transferkit``)."""
    if os.environ.get("TRANSFERKIT_CACHE_DIR"):
        return Path(os.environ["TRANSFERKIT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "transferkit"


__all__ = ["default_cache_dir"]
