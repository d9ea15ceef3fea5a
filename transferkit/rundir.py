"""The run directory: one folder that is complete on its own.

``config.yaml``, ``transferkit.json`` (what predict/serve need), ``model.safetensors``,
``metrics.jsonl``, ``summary.json``, ``report.html`` and ``checkpoints/``. Files are
written atomically (temporary file + rename), so an interrupted run never leaves a
half-written file behind (and a whole run is written into a ``.<name>.partial`` sibling,
renamed into place when complete: see :class:`transferkit.pipeline.run.Run`).
:class:`RunDirLock` keeps a second process out of a directory in use, and :class:`MetricsLog` appends to ``metrics.jsonl`` (and rewinds it on resume).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from transferkit.errors import RunDirError, UnsafeFileError

FORMAT_VERSION = 1
MANIFEST = "transferkit.json"
WEIGHTS = "model.safetensors"
SUMMARY = "summary.json"
CONFIG = "config.yaml"
#: the test set's true and predicted values of a regression run (for the report)
TEST_PREDICTIONS = "test_predictions.npz"


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


def read_json(path: str | Path) -> Any:
    """A run directory's JSON file; a corrupt one is a RunDirError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"'{path}' is corrupt ({exc}). Re-run the fit that wrote it.") from None


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
    manifest = read_json(path)
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


# --------------------------------------------------------------------------- lock and metrics log

LOCK_NAME = ".lock"
_held: dict[str, int] = {}
_held_guard = threading.Lock()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def lock_is_live(path: str | Path) -> bool:
    """Whether the lock file ``path`` is held: by a live process of this host, or by any
    process of another host (which cannot be checked from here)."""
    try:
        owner = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return False  # unreadable: stale, as RunDirLock treats it
    if owner.get("host") != socket.gethostname():
        return True
    return _pid_alive(int(owner.get("pid", -1)))


def make_run_dir(run_dir: Path) -> None:
    """Create ``run_dir`` (and its parents), or say in one line why it cannot be."""
    try:
        existing = next((p for p in (run_dir, *run_dir.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise RunDirError(f"Cannot write the run directory '{run_dir}': '{existing}' is a file, not "
                              "a folder. Pass --out with a new or existing folder.")
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # read-only, a name over the file system's limit, ...
        raise RunDirError(f"Cannot create the run directory '{_short_path(run_dir)}': "
                          f"{exc.strerror or exc}. Pass --out with a writable folder and a shorter "
                          "name.") from None


def _short_path(path: Path, limit: int = 120) -> str:
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class RunDirLock:
    """An exclusive lock on a run directory, held by one process at a time.

    The lock is a file holding the owner's PID and host: ``<run_dir>/.lock``, or ``path``
    (a job's :class:`~transferkit.pipeline.run.Run` locks the run name with
    ``<parent>/.<name>.lock``, beside the directory it renames into place). A second
    process that tries to write the same directory gets a :class:`RunDirError`; a lock
    left by a dead process (same host) is taken over. Re-entrant within one process, so
    the pipeline can hold it around several trainer stages::

        with RunDirLock("runs/x"):
            ...
    """

    def __init__(self, run_dir: str | Path, path: str | Path | None = None) -> None:
        self.run_dir = Path(run_dir)
        #: the lock file: ``<run_dir>/.lock``, or ``path`` (a run's lock sits beside it)
        self.path = Path(path) if path is not None else self.run_dir / LOCK_NAME
        self._key = str(self.path.resolve())

    def _owner(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return {"pid": -1, "host": socket.gethostname()}  # unreadable: treat as stale

    def acquire(self) -> RunDirLock:
        with _held_guard:
            if _held.get(self._key):
                _held[self._key] += 1
                return self
            make_run_dir(self.path.parent)
            me = {"pid": os.getpid(), "host": socket.gethostname()}
            for _ in range(3):
                try:
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    pass
                except OSError as exc:  # a name over the file system's limit, read-only, ...
                    raise RunDirError(f"Cannot create the run directory '{_short_path(self.run_dir)}' "
                                      f"(its lock file): {exc.strerror or exc}. Pass --out with a "
                                      "writable folder and a shorter name.") from None
                else:
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        json.dump(me, fh)
                    _held[self._key] = 1
                    return self
                # the lock file exists: whose is it?
                owner = self._owner()
                if owner is None:
                    continue  # released meanwhile: try again
                pid, host = int(owner.get("pid", -1)), owner.get("host")
                if host == me["host"] and pid != os.getpid() and _pid_alive(pid):
                    raise RunDirError(
                        f"Run directory '{self.run_dir}' is in use by process {pid} on {host} "
                        f"(lock file {self.path}). Wait for it to finish, or choose another "
                        "--out directory."
                    ) from None
                if host != me["host"]:
                    raise RunDirError(
                        f"Run directory '{self.run_dir}' is locked by process {pid} on host "
                        f"{host}. If that run is dead, delete {self.path}; otherwise choose "
                        "another --out directory."
                    ) from None
                # A stale lock (dead process, or an earlier crash of this one).
                self.path.unlink(missing_ok=True)
                continue
            raise RunDirError(f"Could not lock run directory '{self.run_dir}' ({self.path}); "
                              "another process keeps taking it. Choose another --out directory.")

    def release(self) -> None:
        with _held_guard:
            count = _held.get(self._key, 0)
            if count > 1:
                _held[self._key] = count - 1
                return
            _held.pop(self._key, None)
            owner = self._owner()
            if owner is not None and int(owner.get("pid", -1)) == os.getpid():
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class MetricsLog:
    """Appends one JSON object per evaluation to ``metrics.jsonl``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")
            fh.flush()

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def truncate_after(self, stage: str, step: int) -> None:
        """Drop this stage's records after ``step`` (written after the checkpoint a run
        resumes from, so they will be written again)."""
        if not self.path.exists():
            return
        keep = [r for r in self.read() if not (r.get("stage") == stage and r.get("step", 0) > step)]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
        os.replace(tmp, self.path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def partial_directory(run_dir: str | Path) -> Path:
    """``<parent>/.<name>.partial``: where a run is written until it is complete."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.partial"


def run_name(run_dir: str | Path) -> str:
    """A run directory's name; a run still being written (``.<name>.partial``) is ``<name>``."""
    name = Path(run_dir).name
    return name[1:-len(".partial")] if name.startswith(".") and name.endswith(".partial") else name
