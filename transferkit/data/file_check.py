"""Checking image files before training: in parallel, with the results cached.

Every file of an image folder is decoded once before training starts (header, pixel
limit, then every byte, as :func:`~transferkit.data.decode.read_image` does) on a thread
pool sized to this process's share of the cores. Only the result stays in memory: the
digest of the decoded pixels (the dataset's content key) or the error.

Results are cached in ``<cache dir>/data/checks.sqlite`` by absolute path, size, mtime
and ctime (and the decoder's version), so a second load of an unchanged folder decodes
nothing; ``revalidate=True`` (``--revalidate``) checks every file again. The cache dir is
the one given (``cache_dir=``), else the one a command's ``--cache-dir`` set for the data it
loads (:func:`check_cache_dir`), else :func:`~transferkit.cache_dir.default_cache_dir`.

Blind spot: a file whose bytes change while its size, mtime and ctime all stay the same.
An in-place edit whose mtime is set back afterwards (``touch -d``, ``os.utime``) is still
seen, because the ctime moves and cannot be set back; a system clock set back, or a file
system that keeps no ctime (some network mounts), can hide an edit: pass ``--revalidate``
there. Files changed in the last two seconds are checked but not cached, since a coarse
timestamp may not move on a second write within the same tick.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transferkit._threads import process_cores
from transferkit.cache_dir import default_cache_dir
from transferkit.data.dataset import item_digest
from transferkit.data.decode import PixelLimitError, read_image
from transferkit.errors import DataError
from transferkit.progress import progress_bar, progress_wanted

CHECK_VERSION = 1
_QUIESCENT_S = 2.0
_CHUNK = 256  # files per parallel round (and per cache transaction)
_ROOT: ContextVar[str | None] = ContextVar("transferkit_check_cache_dir", default=None)


@contextlib.contextmanager
def check_cache_dir(cache_dir: str | Path | None) -> Iterator[None]:
    """Within the block, file checks are cached under ``cache_dir`` (None: unchanged).

    How a command's ``--cache-dir`` reaches the data it loads: ``with
    check_cache_dir(cfg.cache_dir): load_splits(cfg.data)``.
    """
    token = _ROOT.set(str(cache_dir)) if cache_dir else None
    try:
        yield
    finally:
        if token is not None:
            _ROOT.reset(token)


@dataclass(frozen=True)
class FileCheck:
    """The result of checking one file: the digest of its decoded pixels, or its error."""

    path: str
    digest: str | None = None
    pixels: int = 0
    error: str | None = None
    over_limit: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def check_image(path: str, max_pixels: int | None) -> FileCheck:
    """Decode ``path`` completely; its pixel digest, or the error (returned, not raised)."""
    try:
        arr = read_image(path, max_pixels)
    except PixelLimitError as exc:
        return FileCheck(path, error=str(exc), over_limit=True)
    except DataError as exc:
        return FileCheck(path, error=str(exc))
    return FileCheck(path, digest=item_digest(arr), pixels=int(arr.shape[0] * arr.shape[1]))


def _decoder() -> str:
    import PIL

    return f"{CHECK_VERSION}/Pillow {PIL.__version__}"


class CheckCache:
    """The SQLite table of file checks. A cache that cannot be opened or written is
    skipped with a warning: every file is then checked, nothing is lost but time."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        chosen = cache_dir or _ROOT.get()
        root = Path(chosen).expanduser() if chosen else default_cache_dir()
        self.path = root / "data" / "checks.sqlite"
        self._db: sqlite3.Connection | None = None
        self._off = False

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and not self._off:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
                self._db.execute("CREATE TABLE IF NOT EXISTS checks (path TEXT PRIMARY KEY, size INTEGER, "
                                 "mtime_ns INTEGER, ctime_ns INTEGER, decoder TEXT, digest TEXT, "
                                 "pixels INTEGER, error TEXT)")
            except (sqlite3.Error, OSError) as exc:
                self._disable(exc)
        return self._db

    def _disable(self, exc: Exception) -> None:
        warnings.warn(f"The file-check cache '{self.path}' cannot be used ({exc}); every image is "
                      "checked on every load. Delete the file, or set TRANSFERKIT_CACHE_DIR to a "
                      "writable folder.", stacklevel=4)
        self._off, self._db = True, None

    def lookup(self, paths: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """path -> (size, mtime_ns, ctime_ns, decoder, digest, pixels, error) of the cached ones."""
        db = self._connect()
        if db is None or not paths:
            return {}
        try:
            rows = db.execute(f"SELECT * FROM checks WHERE path IN ({','.join('?' * len(paths))})",
                              list(paths)).fetchall()
        except sqlite3.Error as exc:
            self._disable(exc)
            return {}
        return {r[0]: tuple(r[1:]) for r in rows}

    def store(self, rows: list[tuple[Any, ...]]) -> None:
        db = self._connect()
        if db is None or not rows:
            return
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            self._disable(exc)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _check_one(path: str, cached: tuple[Any, ...] | None, max_pixels: int | None,
               decoder: str) -> tuple[FileCheck, tuple[Any, ...] | None]:
    """(the check of ``path``, the cache row to store or None)."""
    try:
        st = os.stat(path)
        token: tuple[int, int, int] | None = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        token = None  # read_image names the missing file
    if token is not None and cached is not None and cached[:4] == (*token, decoder):
        digest, pixels, error = cached[4:]
        if error is not None:
            return FileCheck(path, error=error), None
        if max_pixels is None or pixels <= max_pixels:
            return FileCheck(path, digest=digest, pixels=pixels), None
    check = check_image(path, max_pixels)
    if token is None or check.over_limit or time.time() - max(token[1], token[2]) / 1e9 < _QUIESCENT_S:
        return check, None  # over the limit: decided by the header, the decode is still unknown
    return check, (path, *token, decoder, check.digest, check.pixels, check.error)


def check_images(paths: Sequence[str], max_pixels: int | None, *, revalidate: bool = False,
                 stop_at_error: bool = True, cache_dir: str | Path | None = None,
                 threads: int | None = None) -> list[FileCheck]:
    """The checks of ``paths`` (absolute paths), in order, decoded in parallel unless cached.

    With ``stop_at_error`` the pass ends after the round that found a bad file (the result
    is then shorter than ``paths``); ``revalidate`` ignores the cached results. Under
    ``accelerate launch`` with N processes each process checks a contiguous 1/N of the files
    (on its share of the cores); every process gets all the checks, and the main process
    alone writes the new results to the cache.
    """
    from transferkit._dist import gather_slices, my_slice, process_state

    state = process_state()
    cache = CheckCache(cache_dir)
    try:
        mine = my_slice(len(paths), state)
        lo, hi = (int(mine[0]), int(mine[-1]) + 1) if len(mine) else (0, 0)
        checks, rows = _check_slice(paths[lo:hi], max_pixels, revalidate, stop_at_error, cache,
                                    threads or process_cores(), store=state is None)
        if state is None:
            return checks
        out: list[FileCheck] = []
        for part_checks, part_rows in gather_slices((checks, rows), state):
            if state.is_main_process:
                cache.store(part_rows)  # one writer: no two processes contend for the file
            out.extend(part_checks)
            if stop_at_error and any(not c.ok for c in part_checks):
                break  # the checks in order up to the first bad file's round, as one process gives
        state.wait_for_everyone()  # the cache is written before any process reads it again
        return out
    finally:
        cache.close()


def _check_slice(paths: Sequence[str], max_pixels: int | None, revalidate: bool, stop_at_error: bool,
                 cache: CheckCache, threads: int, store: bool) -> tuple[list[FileCheck], list[tuple[Any, ...]]]:
    """(checks of ``paths`` in order, the cache rows not stored: all of them unless ``store``)."""
    decoder = _decoder()
    out: list[FileCheck] = []
    pending: list[tuple[Any, ...]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool, \
            progress_bar(progress_wanted() and len(paths) > _CHUNK, len(paths), "checking images") as tick:
        for start in range(0, len(paths), _CHUNK):
            chunk = list(paths[start:start + _CHUNK])
            known = {} if revalidate else cache.lookup(chunk)
            results = list(pool.map(_check_one, chunk, [known.get(p) for p in chunk],
                                    [max_pixels] * len(chunk), [decoder] * len(chunk)))
            rows = [row for _, row in results if row is not None]
            if store:
                cache.store(rows)
            else:
                pending.extend(rows)
            out.extend(check for check, _ in results)
            tick(len(chunk))
            if stop_at_error and any(not check.ok for check, _ in results):
                break
    return out, pending


__all__ = ["CHECK_VERSION", "CheckCache", "FileCheck", "check_cache_dir", "check_image", "check_images"]
