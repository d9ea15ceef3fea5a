"""The run directory: one folder that is complete on its own.

``config.yaml``, ``transferkit.json`` (what predict/serve need), ``model.safetensors``,
``metrics.jsonl``, ``summary.json``, ``report.html`` and ``checkpoints/``. Files are
written atomically (temporary file + rename), so an interrupted run never leaves a
half-written file behind.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from transferkit.errors import RunDirError, UnsafeFileError

FORMAT_VERSION = 1
MANIFEST = "transferkit.json"
WEIGHTS = "model.safetensors"
SUMMARY = "summary.json"
CONFIG = "config.yaml"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def versions() -> dict[str, str]:
    """Versions of the libraries a run depends on (recorded in transferkit.json)."""
    import importlib.metadata as md

    from transferkit import __version__

    out = {"transferkit": __version__, "python": platform.python_version()}
    for pkg in ("torch", "timm", "transformers", "peft", "accelerate", "numpy", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Read and check ``transferkit.json`` of a run directory."""
    run = Path(run_dir)
    if not run.is_dir():
        raise RunDirError(f"Run directory '{run}' does not exist. Pass the folder that "
                          "`transferkit fit` wrote (e.g. runs/<name>).")
    path = run / MANIFEST
    if not path.is_file():
        raise RunDirError(f"'{run}' is not a complete run directory: {MANIFEST} is missing. "
                          "Re-run `transferkit fit` to write it again.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"'{path}' is corrupt ({exc}). Re-run the fit that wrote it.") from None
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        wrote = manifest.get("versions", {}).get("transferkit", "an unknown version")
        raise RunDirError(
            f"'{run}' was written by transferkit {wrote} (run format {version}); this "
            f"transferkit reads run formats up to {FORMAT_VERSION}. Upgrade transferkit."
        )
    return manifest


def check_weights_file(path: str | Path) -> Path:
    """Refuse anything but a safetensors file where weights are expected."""
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"Weights file '{path}' is missing. The run directory is incomplete; "
                          "re-run the fit that wrote it.")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(9)
    # safetensors: an 8-byte little-endian header length, then a JSON header
    if len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < size:
        return path
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise UnsafeFileError(
            f"'{path}' is a pickle/zip file, not safetensors. transferkit never unpickles "
            "files it did not ask for, because unpickling can run arbitrary code. Convert "
            "trusted weights with safetensors.torch.save_file."
        )
    raise RunDirError(f"Weights file '{path}' is not a valid safetensors file (truncated or "
                      "corrupt). Re-run the fit that wrote it.")
    return path
