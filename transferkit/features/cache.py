"""The on-disk feature cache: entries, their checks, and the keys they are stored under.

The cache key is the backbone's fingerprint (weights + preprocessing), the data's
content hash and, for intermediate activations, the block index. Entries are ``.npy``
files read memory-mapped, written atomically (temporary file + fsync + rename) with a
JSON manifest written last that holds shape, dtype, size and a CRC-32 of the file.

Threat model of the cache check: a crash or a full disk mid-write never leaves a
readable entry (no manifest, or a temporary name); truncation, a partial copy or bit
rot afterwards changes the size or the CRC-32, so the entry is deleted and recomputed,
never used. A CRC is enough because the cache is not a security boundary: whoever can
write an entry can write its manifest too. Within one process an entry already checked,
whose files were then at least a second old, is trusted again while their size, mtime
and inode are unchanged (any later write moves the mtime), so repeated hits cost no more
than reading the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
import tempfile
import threading
import time
import warnings
import weakref
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.backbones.base import Backbone
from transferkit.cache_dir import default_cache_dir
from transferkit.data.dataset import TransferDataset

CACHE_VERSION = 1


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def file_crc32(path: Path) -> int:
    """CRC-32 of a file, read through mmap (zlib releases the GIL; ~GB/s)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return zlib.crc32(m)


def stat_token(*paths: Path) -> tuple[int, ...]:
    """Size, mtime (ns) and inode of each path: changes whenever a file is rewritten."""
    out: list[int] = []
    for p in paths:
        st = p.stat()
        out += [st.st_size, st.st_mtime_ns, st.st_ino]
    return tuple(out)


# Cache entries checked in this process: key -> stat token of (npy, manifest) when checked.
_VERIFIED: dict[str, tuple[int, ...]] = {}
_VERIFIED_LOCK = threading.Lock()
_QUIESCENT_S = 1.0


def _checksum_ok(path: Path, meta: dict[str, Any]) -> bool:
    if "crc32" in meta:
        return file_crc32(path) == meta["crc32"]
    if "sha256" in meta:  # entries written before the CRC-32 manifests
        return _sha256(path) == meta["sha256"]
    return False


#: called after :meth:`FeatureCache.clear`; modules that keep state tied to cache files
#: (onnx.py: its open sessions) register here, so this module imports none of them
CLEAR_HOOKS: list[Callable[[], None]] = []


class FeatureCache:
    """The on-disk feature cache: ``<dir>/features/<key>.npy`` + ``<key>.json``, and
    ``<dir>/onnx/`` for exported backbones."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.features_dir = self.root / "features"
        self.onnx_dir = self.root / "onnx"

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.features_dir / f"{key}.npy", self.features_dir / f"{key}.json"

    def get(self, key: str) -> np.ndarray | None:
        """The cached array (memory-mapped, read-only), or None when absent or invalid.

        An entry whose file does not match its manifest (size, shape, dtype, checksum) is
        deleted so that it is recomputed.
        """
        npy, manifest = self._paths(key)
        if not (npy.is_file() and manifest.is_file()):
            return None
        try:
            token = stat_token(npy, manifest)
            meta = json.loads(manifest.read_text())
            if meta.get("bytes") != token[0]:
                raise ValueError(f"size {token[0]} bytes, manifest says {meta.get('bytes')}")
            known = _VERIFIED.get(str(npy)) == token
            if not known and not _checksum_ok(npy, meta):
                raise ValueError("checksum mismatch")
            arr = np.load(npy, mmap_mode="r")
            if list(arr.shape) != meta["shape"] or str(arr.dtype) != meta["dtype"]:
                raise ValueError("shape mismatch")
            if not known and time.time() - max(token[1], token[4]) / 1e9 > _QUIESCENT_S:
                # Remembered only for files untouched for a while, so that any later write
                # gets a later mtime even on file systems with coarse (jiffy) timestamps.
                with _VERIFIED_LOCK:
                    _VERIFIED[str(npy)] = token
            return arr
        except (OSError, ValueError, KeyError) as exc:
            with _VERIFIED_LOCK:
                _VERIFIED.pop(str(npy), None)
            warnings.warn(f"Feature cache entry {key} is corrupt ({exc}); recomputing it.", stacklevel=3)
            self.remove(key)
            return None

    def put(self, key: str, array: np.ndarray, info: dict[str, Any] | None = None) -> Path:
        """Store ``array`` atomically under ``key`` with its manifest."""
        self.features_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.features_dir, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(array))
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return self.publish(tmp, key, tuple(array.shape), str(array.dtype), info)

    def writer(self, key: str, rows: int, info: dict[str, Any] | None = None) -> EntryWriter:
        """An entry of ``rows`` float32 rows written batch by batch (see :class:`EntryWriter`)."""
        return EntryWriter(self, key, rows, info)

    def shard_writer(self, key: str, rank: int, rows: int) -> ShardWriter:
        """Process ``rank``'s ``rows`` rows of an entry computed by several processes."""
        return ShardWriter(self, key, rank, rows)

    def shard_path(self, key: str, rank: int) -> Path:
        return self.features_dir / f"{key}.shard{rank}.npy.tmp"

    def join_shards(self, key: str, sizes: list[int], info: dict[str, Any] | None = None) -> Path:
        """The entry ``key`` made of its shards' files (see :func:`join_shards`)."""
        return join_shards(self, key, sizes, info)

    def publish(self, tmp: str, key: str, shape: tuple[int, ...], dtype: str,
                info: dict[str, Any] | None = None) -> Path:
        """Move the finished ``.npy`` file ``tmp`` (written and fsynced in ``features_dir``)
        under ``key``, then write its manifest; ``tmp`` is removed if that fails."""
        npy, manifest = self._paths(key)
        try:
            meta = {"key": key, "shape": list(shape), "dtype": dtype,
                    "bytes": os.path.getsize(tmp), "crc32": file_crc32(Path(tmp)),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "version": CACHE_VERSION, **(info or {})}
            os.replace(tmp, npy)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        # The manifest goes last: an entry without one is never read.
        fd, tmp = tempfile.mkstemp(dir=self.features_dir, suffix=".json.tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp, manifest)
        return npy

    def remove(self, key: str) -> None:
        with _VERIFIED_LOCK:
            _VERIFIED.pop(str(self._paths(key)[0]), None)
        for p in self._paths(key):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def ls(self) -> list[dict[str, Any]]:
        """One dict per entry: key, backbone, data, shape, dtype, bytes, created."""
        out = []
        if self.features_dir.is_dir():
            for manifest in sorted(self.features_dir.glob("*.json")):
                try:
                    meta = json.loads(manifest.read_text())
                except (OSError, ValueError):
                    meta = {"key": manifest.stem, "corrupt": True}
                out.append(meta)
        return out

    def forget_checks(self) -> None:
        """Forget which entries this process has checked: the next hit re-reads the CRC-32."""
        with _VERIFIED_LOCK:
            _VERIFIED.clear()

    def onnx_files(self) -> list[Path]:
        return sorted(self.onnx_dir.glob("*.onnx")) if self.onnx_dir.is_dir() else []

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file()) if self.root.is_dir() else 0

    def clear(self) -> int:
        """Delete every feature entry and ONNX export; returns the bytes freed."""
        freed = self.size_bytes()
        for d in (self.features_dir, self.onnx_dir):
            if d.is_dir():
                shutil.rmtree(d)
        self.forget_checks()
        for hook in CLEAR_HOOKS:  # e.g. the onnxruntime sessions opened on the deleted exports
            hook()
        return freed


class EntryWriter:
    """One cache entry written as its rows come: into a memory-mapped temporary ``.npy``
    (sized on the first batch), published by :meth:`commit` as :meth:`FeatureCache.put`
    publishes (fsync, CRC-32, rename, manifest last); :meth:`abort` removes it. Rows never
    all sit in memory, so extracting a dataset larger than memory needs only disk."""

    def __init__(self, cache: FeatureCache, key: str, rows: int, info: dict[str, Any] | None = None) -> None:
        self.cache, self.key, self.rows, self.info = cache, key, rows, info
        self._arr: np.memmap | None = None
        self._tmp: str | None = None

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Store ``values[j]`` as row ``rows[j]`` of the entry."""
        if self._arr is None:
            self.cache.features_dir.mkdir(parents=True, exist_ok=True)
            self._tmp = self._new_file()
            self._arr = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=np.float32,
                                                  shape=(self.rows, *values.shape[1:]))
        self._arr[rows] = values

    def _new_file(self) -> str:
        fd, tmp = tempfile.mkstemp(dir=self.cache.features_dir, suffix=".npy.tmp")
        os.close(fd)
        return tmp

    def commit(self) -> np.ndarray:
        """Publish the entry; returns it memory-mapped, read-only."""
        if self._arr is None or self._tmp is None:
            raise ValueError(f"Cache entry {self.key} was committed before any row was written.")
        shape, dtype = tuple(self._arr.shape), str(self._arr.dtype)
        self._arr.flush()
        self._arr = None  # unmaps the file
        with open(self._tmp, "rb+") as f:
            os.fsync(f.fileno())
        npy = self.cache.publish(self._tmp, self.key, shape, dtype, self.info)
        self._tmp = None
        return np.load(npy, mmap_mode="r")

    def abort(self) -> None:
        self._arr = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


class ShardWriter(EntryWriter):
    """Process ``rank``'s rows of an entry computed by several processes, written as they
    come into ``<key>.shard<rank>.npy.tmp``; :meth:`FeatureCache.join_shards` (main
    process) copies the shards into the entry. :meth:`commit` only makes the file durable."""

    def __init__(self, cache: FeatureCache, key: str, rank: int, rows: int) -> None:
        super().__init__(cache, key, rows)
        self.rank = rank

    def _new_file(self) -> str:
        return str(self.cache.shard_path(self.key, self.rank))

    def commit(self) -> np.ndarray:
        if self._arr is None or self._tmp is None:
            raise ValueError(f"Shard {self.rank} of cache entry {self.key} was committed before any row was written.")
        self._arr.flush()
        self._arr = None
        with open(self._tmp, "rb+") as f:
            os.fsync(f.fileno())
        return np.load(self._tmp, mmap_mode="r")


JOIN_ROWS = 8192  # rows copied at a time from a shard into the entry


def join_shards(cache: FeatureCache, key: str, sizes: list[int], info: dict[str, Any] | None = None) -> Path:
    """Copy the shard files of ``key`` (rank order, ``sizes`` rows each) block by block into
    the entry, publish it, and delete the shards (also when a shard is missing or short)."""
    shards = [cache.shard_path(key, r) for r, n in enumerate(sizes) if n]
    writer = cache.writer(key, sum(sizes), info)
    try:
        row = 0
        for path, n in zip(shards, [n for n in sizes if n], strict=True):
            part = np.load(path, mmap_mode="r")
            if len(part) != n:
                raise ValueError(f"shard {path.name} holds {len(part)} rows, expected {n}")
            for start in range(0, n, JOIN_ROWS):
                block = np.asarray(part[start:start + JOIN_ROWS])
                writer.write(np.arange(row + start, row + start + len(block)), block)
            row += n
            del part
        writer.commit()
        return cache._paths(key)[0]
    except BaseException:
        writer.abort()
        raise
    finally:
        for path in shards:
            with contextlib.suppress(OSError):
                path.unlink()


# --------------------------------------------------------------------------- cache keys


_FINGERPRINTS: weakref.WeakKeyDictionary[Backbone, tuple[Any, str]] = weakref.WeakKeyDictionary()


def backbone_fingerprint(backbone: Backbone) -> str:
    """``backbone.fingerprint()`` (a SHA-256 of every weight + the preprocessing), memoised.

    Hashing every weight costs tens of milliseconds per call (more for big models) while a
    frozen backbone does not change. The memo is keyed on the preprocessing description
    and, per tensor, its storage address, version counter, shape and dtype: every in-place
    change (optimiser steps, ``load_state_dict``, ``copy_``) bumps the version counter and
    a replaced tensor has a new address, so either re-hashes. Writes through ``.data``
    bypass version counters: call :func:`forget_fingerprint` after those.
    """
    if type(backbone).fingerprint is not Backbone.fingerprint:
        return backbone.fingerprint()  # a subclass's own definition: no assumptions
    token = (repr(sorted(backbone.describe().items())),
             tuple((k, t.data_ptr(), t._version, tuple(t.shape), t.dtype)
                   for k, t in backbone.state_dict(keep_vars=True).items()))
    memo = _FINGERPRINTS.get(backbone)
    if memo is not None and memo[0] == token:
        return memo[1]
    fp = backbone.fingerprint()
    _FINGERPRINTS[backbone] = (token, fp)
    return fp


def forget_fingerprint(backbone: Backbone) -> None:
    """Drop the memoised fingerprint of ``backbone`` (after writing weights through ``.data``)."""
    _FINGERPRINTS.pop(backbone, None)


def cache_key(backbone: Backbone, data: TransferDataset, upto_block: int | None = None,
              bf16: bool = False) -> str:
    """Backbone fingerprint (weights + preprocessing) + data content + block + precision."""
    parts = [f"v{CACHE_VERSION}", backbone_fingerprint(backbone), data.content_hash(), str(upto_block),
             str(bf16)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


__all__ = ["CACHE_VERSION", "EntryWriter", "FeatureCache", "ShardWriter", "join_shards", "backbone_fingerprint", "cache_key", "default_cache_dir",
           "file_crc32", "forget_fingerprint", "stat_token"]
