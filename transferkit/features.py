"""Frozen-backbone features, computed once and cached on disk.

The cache key is the backbone's fingerprint (weights + preprocessing), the data's
content hash and, for intermediate activations, the block index. Entries are ``.npy``
files read memory-mapped, written atomically (temporary file + rename) with a JSON
manifest holding shape, dtype and a SHA-256 checksum: a corrupt or partly written entry
is detected, deleted and recomputed, never used.

>>> import transferkit as tk  # doctest: +SKIP
>>> feats = tk.extract_features("efficientnet_lite0", tk.data.load("digits"))
>>> feats.shape
(1797, 1280)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
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
            meta = json.loads(manifest.read_text())
            if meta.get("bytes") != npy.stat().st_size or meta.get("sha256") != _sha256(npy):
                raise ValueError("checksum mismatch")
            arr = np.load(npy, mmap_mode="r")
            if list(arr.shape) != meta["shape"] or str(arr.dtype) != meta["dtype"]:
                raise ValueError("shape mismatch")
            return arr
        except (OSError, ValueError, KeyError) as exc:
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
                    "bytes": os.path.getsize(tmp), "sha256": _sha256(Path(tmp)),
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
        return freed


# --------------------------------------------------------------------------- extraction


def cache_key(backbone: Backbone, data: TransferDataset, upto_block: int | None = None,
              bf16: bool = False) -> str:
    """Backbone fingerprint (weights + preprocessing) + data content + block + precision."""
    parts = [f"v{CACHE_VERSION}", backbone.fingerprint(), data.content_hash(), str(upto_block), str(bf16)]
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


def _collated(bb: Backbone, data: TransferDataset, indices: np.ndarray, batch_size: int) -> Iterator[Any]:
    """Collated batches; the next batch is decoded and preprocessed in a background thread
    while the current one runs through the model."""
    it = _batches(data, indices, batch_size)
    with ThreadPoolExecutor(max_workers=1) as pool:
        nxt = next(it, None)
        fut = pool.submit(bb.collate, nxt) if nxt is not None else None
        while fut is not None:
            cur = fut.result()
            nxt = next(it, None)
            fut = pool.submit(bb.collate, nxt) if nxt is not None else None
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


class _OnnxRunner:
    """An onnxruntime session for a frozen image module, checked against torch."""

    def __init__(self, module: nn.Module, sample: torch.Tensor, cache: FeatureCache, tag: str,
                 threads: int) -> None:
        import onnxruntime as ort

        cache.onnx_dir.mkdir(parents=True, exist_ok=True)
        path = cache.onnx_dir / f"{tag}.onnx"
        if not path.is_file():
            fd, tmp = tempfile.mkstemp(dir=cache.onnx_dir, suffix=".onnx.tmp")
            os.close(fd)
            try:
                _export_onnx(module, sample, Path(tmp))
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.path = path
        with torch.inference_mode():
            ref = _to_numpy(module(sample))
        got = self(sample)
        err = float(np.max(np.abs(ref - got))) if ref.size else 0.0
        scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        if not np.isfinite(err) or err > ONNX_TOLERANCE * scale:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"onnxruntime output differs from torch by {err:.2e}")
        self.max_error = err

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        arr = x.contiguous().numpy()
        return self.session.run(None, {self.input_name: arr})[0]


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
    was_training = bb.training
    bb.eval()
    try:
        cache = FeatureCache(cache_dir)
        key = cache_key(bb, data, upto_block, bf16)
        if use_cache:
            hit = cache.get(key)
            if hit is not None:
                return hit
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
        bb.train(was_training)


def _compute(bb: Backbone, data: TransferDataset, indices: np.ndarray, batch_size: int, backend: str,
             bf16: bool, upto_block: int | None, progress: bool, cache: FeatureCache,
             threads: int) -> np.ndarray:
    module: nn.Module = bb.split_at(upto_block)[0] if upto_block is not None else bb
    if len(indices) == 0:
        return np.zeros((0, bb.feature_dim) if upto_block is None else (0,), dtype=np.float32)
    chosen = _resolve_backend(backend, bb, bf16)
    parts: list[np.ndarray] = []
    runner: _OnnxRunner | Any = None
    bar = _progress(progress, len(indices), f"features: {bb.name}")
    with bar as tick, torch.inference_mode():
        for inputs in _collated(bb, data, indices, batch_size):
            if runner is None:
                runner = _make_runner(module, bb, inputs, chosen, bf16, cache, upto_block, threads, backend)
            out = runner(inputs)
            parts.append(out if isinstance(out, np.ndarray) else _to_numpy(out))
            tick(len(parts[-1]))
    return _pad_cat(parts)


def _make_runner(module: nn.Module, bb: Backbone, inputs: Any, chosen: str, bf16: bool, cache: FeatureCache,
                 upto_block: int | None, threads: int, requested: str) -> Any:
    if chosen == "onnx":
        if not isinstance(inputs, torch.Tensor):
            if requested == "onnx":
                raise ConfigError(f"backend='onnx' supports image backbones (tensor inputs); {bb.name} "
                                  "takes structured inputs. Use backend='torch' or 'auto'.")
        else:
            tag = f"{bb.fingerprint()}_{'x'.join(map(str, inputs.shape[1:]))}_{upto_block}"
            try:
                return _OnnxRunner(module, inputs[:8], cache, tag, threads)
            except Exception as exc:
                if requested == "onnx":
                    raise ConfigError(f"ONNX export or its check against torch failed for {bb.name}: "
                                      f"{exc}. Use backend='torch'.") from exc
                warnings.warn(f"onnxruntime not used for {bb.name} ({exc}); using torch.", stacklevel=4)

    def run_torch(x: Any) -> torch.Tensor:
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


__all__ = ["BACKENDS", "FeatureCache", "cache_key", "default_cache_dir", "extract_features", "physical_cores"]
