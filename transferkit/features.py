"""Frozen-backbone features, computed once and cached on disk.

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

>>> import transferkit as tk  # doctest: +SKIP
>>> feats = tk.extract_features("efficientnet_lite0", tk.data.load("digits"))
>>> feats.shape
(1797, 1280)
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import mmap
import os
import platform
import shutil
import tempfile
import threading
import time
import warnings
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.backbones.base import Backbone
from transferkit.data.dataset import TransferDataset
from transferkit.errors import ConfigError

BACKENDS = ("auto", "torch", "onnx")
CACHE_VERSION = 1
ONNX_TOLERANCE = 1e-4


def default_cache_dir() -> Path:
    """``$TRANSFERKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/transferkit`` (``~/.cache/transferkit``)."""
    if os.environ.get("TRANSFERKIT_CACHE_DIR"):
        return Path(os.environ["TRANSFERKIT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "transferkit"


def physical_cores() -> int:
    """Physical CPU cores (hyper-threads do not speed up dense kernels)."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:
        n = None
    n = n or os.cpu_count() or 1
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else n
    return max(1, min(n, affinity))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _crc32(path: Path) -> int:
    """CRC-32 of a file, read through mmap (zlib releases the GIL; ~GB/s)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return 0
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return zlib.crc32(m)


def _stat_token(*paths: Path) -> tuple[int, ...]:
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
        return _crc32(path) == meta["crc32"]
    if "sha256" in meta:  # entries written before the CRC-32 manifests
        return _sha256(path) == meta["sha256"]
    return False


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
            token = _stat_token(npy, manifest)
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
        npy, manifest = self._paths(key)
        fd, tmp = tempfile.mkstemp(dir=self.features_dir, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(array))
                f.flush()
                os.fsync(f.fileno())
            meta = {"key": key, "shape": list(array.shape), "dtype": str(array.dtype),
                    "bytes": os.path.getsize(tmp), "crc32": _crc32(Path(tmp)),
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
        _SESSIONS.clear()
        return freed


# --------------------------------------------------------------------------- extraction


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


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _dist_state() -> Any:
    """Accelerate's process state when launched with several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    state = PartialState()
    return state if state.num_processes > 1 else None


def _batches(data: TransferDataset, indices: np.ndarray, batch_size: int) -> Iterator[Any]:
    """Raw items per batch; image arrays are sliced without copying item by item."""
    for start in range(0, len(indices), batch_size):
        idx = indices[start:start + batch_size]
        if data.modality == "image" and isinstance(data.x, np.ndarray):
            yield data.x[idx]
        else:
            yield [data.input(int(i)) for i in idx]


def _collated(collate: Callable[[Any], Any], data: TransferDataset, indices: np.ndarray,
              batch_size: int) -> Iterator[Any]:
    """Collated batches; the next batch is decoded and preprocessed in a background thread
    while the current one runs through the model (onnxruntime and NumPy release the GIL)."""
    it = _batches(data, indices, batch_size)
    with ThreadPoolExecutor(max_workers=1) as pool:
        nxt = next(it, None)
        fut = pool.submit(collate, nxt) if nxt is not None else None
        while fut is not None:
            cur = fut.result()
            nxt = next(it, None)
            fut = pool.submit(collate, nxt) if nxt is not None else None
            yield cur


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _pad_cat(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate along axis 0, zero-padding ragged trailing dims (token axes)."""
    if not parts:
        return np.zeros((0,), dtype=np.float32)
    shape = np.max([p.shape for p in parts], axis=0)
    if all(p.shape[1:] == tuple(shape[1:]) for p in parts):
        return np.concatenate(parts).astype(np.float32, copy=False)
    out = []
    for p in parts:
        pad = [(0, 0)] + [(0, int(s - d)) for s, d in zip(shape[1:], p.shape[1:], strict=True)]
        out.append(np.pad(p, pad))
    return np.concatenate(out).astype(np.float32, copy=False)


# In-process onnxruntime sessions: (path, stat token, threads, spinning) -> (session, max_error).
_SESSIONS: OrderedDict[tuple[Any, ...], tuple[Any, float]] = OrderedDict()
_SESSIONS_KEPT = 4


def ort_spinning() -> bool:
    """Whether onnxruntime's threads spin between operators.

    Spinning saves the wake-up latency between operators on an idle machine, but where
    the cores are oversubscribed (1-minute load average above the core count) a spinning
    thread burns the time slice its peer needs: measured 2x slower on a loaded 2-core VM.
    ``TRANSFERKIT_ORT_SPINNING=0|1`` overrides the choice.
    """
    env = os.environ.get("TRANSFERKIT_ORT_SPINNING")
    if env in ("0", "1"):
        return env == "1"
    try:
        load = os.getloadavg()[0]
    except OSError:
        return True
    return load < physical_cores()


def ort_session(path: str | Path, threads: int, spinning: bool | None = None, *,
                optimized: bool = False, save_optimized: str | Path | None = None) -> Any:
    """An onnxruntime CPU session tuned for throughput: ``threads`` intra-op threads
    (physical cores), sequential execution, all graph optimisations.

    ``optimized=True`` loads a graph that onnxruntime already optimised (saved through
    ``save_optimized``) without optimising it again: a few times faster to start.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL if optimized
                                     else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    if save_optimized is not None:
        opts.optimized_model_filepath = str(save_optimized)
    spin = ort_spinning() if spinning is None else spinning
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.log_severity_level = 3  # the hardware-specific-graph warning is expected: see _ort_env
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _ort_env() -> str:
    """Tag of what an optimised graph depends on (onnxruntime version, CPU model and flags):
    the NCHWc layout it uses is specific to the processor, so caches shared between
    machines keep one optimised graph per processor kind."""
    import onnxruntime as ort

    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = "".join(line for line in f if line.startswith(("model name", "flags")))[:4096]
    raw = f"{ort.__version__}|{platform.machine()}|{platform.processor()}|{cpu}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


class _OnnxRunner:
    """An onnxruntime session for a frozen image module, checked against torch.

    The exported file lives in the cache (``onnx/<tag>.onnx``, tag = fingerprint + input
    shape + block) beside a record of its check against torch (``<tag>.json``: size,
    CRC-32, max error). A file whose record matches is trusted without re-running torch;
    otherwise (new export, changed file, no record) outputs on ``sample`` are compared
    with torch's first. Sessions are kept per process, so repeated extractions with the
    same backbone reuse one.
    """

    def __init__(self, module: nn.Module, sample: torch.Tensor, cache: FeatureCache, tag: str,
                 threads: int) -> None:
        import onnxruntime as ort

        cache.onnx_dir.mkdir(parents=True, exist_ok=True)
        path = cache.onnx_dir / f"{tag}.onnx"
        record = path.with_suffix(".json")
        self.path = path
        self.exported_s = 0.0
        if not path.is_file():
            record.unlink(missing_ok=True)
            t0 = time.perf_counter()
            fd, tmp = tempfile.mkstemp(dir=cache.onnx_dir, suffix=".onnx.tmp")
            os.close(fd)
            try:
                _export_onnx(module, sample, Path(tmp))
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self.exported_s = time.perf_counter() - t0
        spin = ort_spinning()
        key = (str(path), _stat_token(path), threads, spin)
        if key in _SESSIONS:
            _SESSIONS.move_to_end(key)
            self.session, self.max_error = _SESSIONS[key]
            self.input_name = self.session.get_inputs()[0].name
        else:
            optimized = path.with_name(f"{tag}.{_ort_env()}.opt.ort")
            rec = self._record(path, record, ort.__version__)
            opt_ok = (rec is not None and optimized.is_file()
                      and rec.get("optimized", {}).get(optimized.name) == _crc32(optimized))
            if opt_ok:  # checked before, unchanged since: start from the optimised graph
                self.session = ort_session(optimized, threads, spin, optimized=True)
            else:
                self.session = ort_session(path, threads, spin, save_optimized=optimized)
            self.input_name = self.session.get_inputs()[0].name
            if rec is None:  # new or changed file: check against torch before trusting it
                self.max_error = self._check(module, sample, path, record, optimized, ort.__version__)
            else:
                self.max_error = float(rec["max_error"])
                if not opt_ok:  # same checked file, optimised afresh for this machine
                    _write_record(record, rec, optimized)
            _SESSIONS[key] = (self.session, self.max_error)
            while len(_SESSIONS) > _SESSIONS_KEPT:
                _SESSIONS.popitem(last=False)

    @staticmethod
    def _record(path: Path, record: Path, ort_version: str) -> dict[str, Any] | None:
        """The check record of ``path``, when it matches the file as it is now."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            rec = json.loads(record.read_text())
            if (rec["bytes"] == path.stat().st_size and rec["onnxruntime"] == ort_version
                    and rec["crc32"] == _crc32(path)):
                return rec
        return None

    def _check(self, module: nn.Module, sample: torch.Tensor, path: Path, record: Path, optimized: Path,
               ort_version: str) -> float:
        """Compare this session's output on ``sample`` with torch's; record the result."""
        with torch.inference_mode():
            ref = _to_numpy(module(sample))
        got = self(sample)
        err = float(np.max(np.abs(ref - got))) if ref.size else 0.0
        scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        if not np.isfinite(err) or err > ONNX_TOLERANCE * scale:
            for f in (path, record, optimized):
                f.unlink(missing_ok=True)
            raise RuntimeError(f"onnxruntime output differs from torch by {err:.2e}")
        meta = {"bytes": path.stat().st_size, "crc32": _crc32(path), "max_error": err,
                "tolerance": ONNX_TOLERANCE * scale, "sample_shape": list(sample.shape),
                "onnxruntime": ort_version, "torch": torch.__version__,
                "checked": time.strftime("%Y-%m-%dT%H:%M:%S")}
        _write_record(record, meta, optimized)
        return err

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        """``(B, 3, S, S)`` NCHW (a channels_last tensor is copied to NCHW) -> ``(B, D)``."""
        arr = x.numpy() if x.is_contiguous() else np.ascontiguousarray(x.numpy())
        return self.session.run(None, {self.input_name: arr})[0]


def _write_record(record: Path, meta: dict[str, Any], optimized: Path) -> None:
    """Write an ONNX check record atomically, adding the CRC-32 of the optimised graph."""
    meta = dict(meta)
    if optimized.is_file():
        meta["optimized"] = {**meta.get("optimized", {}), optimized.name: _crc32(optimized)}
    fd, tmp = tempfile.mkstemp(dir=record.parent, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, record)


def _export_onnx(module: nn.Module, sample: torch.Tensor, path: Path) -> None:
    x = sample.contiguous()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        try:  # the TorchScript exporter: fast and dependable for CNNs
            torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17)
            return
        except Exception:
            pass
        batch = torch.export.Dim("batch", min=1)
        prog = torch.onnx.export(module, (x,), dynamic_shapes=({0: batch},), dynamo=True)
        prog.save(str(path))


def _resolve_backend(backend: str, bb: Backbone, bf16: bool) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"The 'backend' parameter of extract_features must be one of "
                          f"{', '.join(BACKENDS)}. Got {backend!r} instead.")
    if backend != "auto":
        return backend
    import importlib.util

    if bb.modality == "image" and not bf16 and importlib.util.find_spec("onnxruntime") is not None:
        return "onnx"
    return "torch"


def extract_features(backbone: str | Backbone, data: TransferDataset, *,
                     cache_dir: str | Path | None = None, batch_size: int = 64, use_cache: bool = True,
                     backend: str = "auto", bf16: bool = False, upto_block: int | None = None,
                     progress: bool = True) -> np.ndarray:
    """Features of ``data`` from a frozen ``backbone``: float32 ``(N, D)``, cached on disk.

    With ``upto_block=k`` the activations of ``backbone.split_at(k)[0]`` (everything but
    the top ``k`` blocks) are returned and cached instead. ``backend="auto"`` runs image
    backbones through onnxruntime when its output matches torch's on a sample batch
    (max abs error <= 1e-4), else torch eager with channels_last. Under ``accelerate
    launch`` each process extracts a contiguous shard; the result is gathered in order.

    >>> f = extract_features("efficientnet_lite0", data)  # doctest: +SKIP
    """
    from transferkit.backbones import create_backbone

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"The 'batch_size' parameter of extract_features must be an int >= 1. "
                          f"Got {batch_size!r} instead.")
    bb = create_backbone(backbone) if isinstance(backbone, (str, Path)) else backbone
    if not isinstance(bb, Backbone):
        raise ConfigError(f"The 'backbone' parameter of extract_features must be a name or a Backbone. "
                          f"Got {type(backbone).__name__} instead.")
    if getattr(bb, "adapted", True) is False:
        bb.adapt_to(data)
    cache = FeatureCache(cache_dir)
    key = cache_key(bb, data, upto_block, bf16)
    if use_cache:
        hit = cache.get(key)
        if hit is not None:
            return hit  # before touching train/eval modes: a hit costs milliseconds
    modes = {m: m.training for m in bb.modules()}
    if any(modes.values()):
        bb.eval()
    try:
        state = _dist_state()
        indices = np.arange(len(data))
        if state is not None:
            indices = np.array_split(indices, state.num_processes)[state.process_index]
        threads = max(1, physical_cores() // (state.num_processes if state is not None else 1))
        with _threads(threads):
            feats = _compute(bb, data, indices, batch_size, backend, bf16, upto_block, progress, cache,
                             threads)
        if state is not None:
            from accelerate.utils import gather_object

            feats = _pad_cat(gather_object([feats]))
        if use_cache and (state is None or state.is_main_process):
            cache.put(key, feats, {"backbone": bb.name, "family": bb.family, "data": data.name,
                                   "split": data.split, "n": len(data), "upto_block": upto_block,
                                   "bf16": bf16})
        if state is not None:
            state.wait_for_everyone()
        return feats
    finally:
        for m, mode in modes.items():  # each module's own mode, as it was
            if m.training != mode:
                m.training = mode


def _compute(bb: Backbone, data: TransferDataset, indices: np.ndarray, batch_size: int, backend: str,
             bf16: bool, upto_block: int | None, progress: bool, cache: FeatureCache,
             threads: int) -> np.ndarray:
    module: nn.Module = bb.split_at(upto_block)[0] if upto_block is not None else bb
    if len(indices) == 0:
        return np.zeros((0, bb.feature_dim) if upto_block is None else (0,), dtype=np.float32)
    chosen = _resolve_backend(backend, bb, bf16)
    collate: Callable[[Any], Any] = bb.collate
    if chosen == "onnx" and "channels_last" in inspect.signature(bb.collate).parameters:
        # onnxruntime takes NCHW: have the preprocessing write it directly, not copy later.
        def collate(items: Any) -> Any:
            return bb.collate(items, channels_last=False)
    order = length_order(data, indices)
    if order is not None:
        indices = indices[order]
    parts: list[np.ndarray] = []
    runner: _OnnxRunner | Any = None
    bar = _progress(progress, len(indices), f"features: {bb.name}")
    with bar as tick, torch.inference_mode():
        for inputs in _collated(collate, data, indices, batch_size):
            if runner is None:
                runner = _make_runner(module, bb, inputs, chosen, bf16, cache, upto_block, threads, backend)
            out = runner(inputs)
            parts.append(out if isinstance(out, np.ndarray) else _to_numpy(out))
            tick(len(parts[-1]))
    feats = _pad_cat(parts)
    return feats[np.argsort(order)] if order is not None else feats


def length_order(data: TransferDataset, indices: np.ndarray) -> np.ndarray | None:
    """For texts, the order of ``indices`` by decreasing length, else None.

    Batches of similar lengths pad little (as sentence-transformers' ``encode`` does), so
    the encoder runs on far fewer padding tokens; features come back in the original order.
    """
    if data.modality != "text" or len(indices) < 2:
        return None
    lengths = np.array([len(str(data.input(int(i)))) for i in indices])
    return np.argsort(-lengths, kind="stable")


def _make_runner(module: nn.Module, bb: Backbone, inputs: Any, chosen: str, bf16: bool, cache: FeatureCache,
                 upto_block: int | None, threads: int, requested: str) -> Any:
    if chosen == "onnx":
        if not isinstance(inputs, torch.Tensor):
            if requested == "onnx":
                raise ConfigError(f"backend='onnx' supports image backbones (tensor inputs); {bb.name} "
                                  "takes structured inputs. Use backend='torch' or 'auto'.")
        else:
            tag = f"{backbone_fingerprint(bb)}_{'x'.join(map(str, inputs.shape[1:]))}_{upto_block}"
            try:
                return _OnnxRunner(module, inputs[:8], cache, tag, threads)
            except Exception as exc:
                if requested == "onnx":
                    raise ConfigError(f"ONNX export or its check against torch failed for {bb.name}: "
                                      f"{exc}. Use backend='torch'.") from exc
                warnings.warn(f"onnxruntime not used for {bb.name} ({exc}); using torch.", stacklevel=4)

    def run_torch(x: Any) -> torch.Tensor:
        if chosen == "onnx" and isinstance(x, torch.Tensor) and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)  # collated as NCHW for onnxruntime
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return module(x)

    return run_torch


@contextlib.contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Any]:
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


__all__ = ["BACKENDS", "FeatureCache", "backbone_fingerprint", "cache_key", "default_cache_dir",
           "extract_features", "forget_fingerprint", "ort_session", "ort_spinning", "physical_cores"]
