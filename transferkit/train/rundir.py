"""Run-directory plumbing for the loop: the lock and ``metrics.jsonl``."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from transferkit.errors import RunDirError

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


class RunDirLock:
    """An exclusive lock on a run directory, held by one process at a time.

    The lock is a file ``<run_dir>/.lock`` holding the owner's PID and host. A second
    process that tries to write the same directory gets a :class:`RunDirError`; a lock
    left by a dead process (same host) is taken over. Re-entrant within one process, so
    the pipeline can hold it around several trainer stages::

        with RunDirLock("runs/x"):
            ...
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
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
            self.run_dir.mkdir(parents=True, exist_ok=True)
            me = {"pid": os.getpid(), "host": socket.gethostname()}
            for _ in range(3):
                try:
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
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
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(me, fh)
                _held[self._key] = 1
                return self
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
