"""The onnxruntime fast path for frozen image backbones, on the CPU.

An image backbone is exported to ONNX once per cache (``onnx/<tag>.onnx``), checked
against torch on a sample batch, and run through an onnxruntime session tuned for
throughput. The check is recorded beside the file, so a later process trusts an
unchanged export without running torch; the graph onnxruntime optimises for this
processor is saved too, so later sessions start from it. :func:`physical_cores` sizes
the thread pools of both runtimes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._threads import physical_cores
from transferkit.features.cache import CLEAR_HOOKS, FeatureCache, file_crc32, stat_token

ONNX_TOLERANCE = 1e-4


# In-process onnxruntime sessions: (path, stat token, threads, spinning) -> (session, max_error).
_SESSIONS: OrderedDict[tuple[Any, ...], tuple[Any, float]] = OrderedDict()
_SESSIONS_KEPT = 4


def forget_sessions() -> None:
    """Close the onnxruntime sessions this process keeps (their files may be gone)."""
    _SESSIONS.clear()


CLEAR_HOOKS.append(forget_sessions)


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


class OnnxRunner:
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
                export_onnx(module, sample, Path(tmp))
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self.exported_s = time.perf_counter() - t0
        spin = ort_spinning()
        key = (str(path), stat_token(path), threads, spin)
        if key in _SESSIONS:
            _SESSIONS.move_to_end(key)
            self.session, self.max_error = _SESSIONS[key]
            self.input_name = self.session.get_inputs()[0].name
        else:
            optimized = path.with_name(f"{tag}.{_ort_env()}.opt.ort")
            rec = self._record(path, record, ort.__version__)
            opt_ok = (rec is not None and optimized.is_file()
                      and rec.get("optimized", {}).get(optimized.name) == file_crc32(optimized))
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
                    and rec["crc32"] == file_crc32(path)):
                return rec
        return None

    def _check(self, module: nn.Module, sample: torch.Tensor, path: Path, record: Path, optimized: Path,
               ort_version: str) -> float:
        """Compare this session's output on ``sample`` with torch's; record the result."""
        with torch.inference_mode():
            ref = module(sample).detach().float().cpu().numpy()
        got = self(sample)
        err = float(np.max(np.abs(ref - got))) if ref.size else 0.0
        scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        if not np.isfinite(err) or err > ONNX_TOLERANCE * scale:
            for f in (path, record, optimized):
                f.unlink(missing_ok=True)
            raise RuntimeError(f"onnxruntime output differs from torch by {err:.2e}")
        meta = {"bytes": path.stat().st_size, "crc32": file_crc32(path), "max_error": err,
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
        meta["optimized"] = {**meta.get("optimized", {}), optimized.name: file_crc32(optimized)}
    fd, tmp = tempfile.mkstemp(dir=record.parent, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, record)


def export_onnx(module: nn.Module, sample: torch.Tensor, path: Path) -> None:
    """Export ``module`` (one tensor in, one out, dynamic batch axis) to an ONNX file.

    Every submodule's train/eval mode is as it was afterwards. torch.onnx.export exports in
    eval mode and then calls ``module.train(module.training)``, which sets *every*
    submodule to the container's flag: a bottom part cut from an eval-mode backbone (a
    fresh ``nn.Sequential``, whose own flag is True) came back with its BatchNorm layers in
    training mode -- torch then normalised with batch statistics, so the check against
    onnxruntime failed by 5-60 (MobileNetV3, EfficientNet-Lite cut at a block) and the
    torch fallback computed wrong activations.
    """
    modes = {m: m.training for m in module.modules()}
    try:
        _export_onnx(module, sample, path)
    finally:
        for m, mode in modes.items():
            m.training = mode


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


__all__ = ["ONNX_TOLERANCE", "OnnxRunner", "forget_sessions", "ort_session", "ort_spinning", "physical_cores"]
