"""Shared helpers of the benchmark scripts: machine and versions, timing, seeds, tables.

Every benchmark script runs transferkit and its peers side by side in one process on
2 threads and writes a Markdown table to ``benchmarks/results/<task>.md``; this module
keeps their common parts small and stable:

- :func:`parser` -- the common command line (``--seeds N``, ``--quick``, ``--out``);
- :func:`setup` -- 2 threads, offline hub, the benchmark's own requirements;
- :func:`timed` -- wall and CPU seconds of a block (CPU time shows how loaded the machine was);
- :class:`Results` -- per-method, per-setting, per-seed figures; mean +- std; ratios to the
  best peer; the Markdown report with machine, versions, load and the exact command.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
REQUIREMENTS = HERE / "requirements.txt"
THREADS = 2
#: the sentence under every table with per-seed intervals
CI_NOTE = ("Spread: mean ± std over seeds (the training sample varies); per-seed 95 % CI: "
           "class-stratified percentile bootstrap over the shared test set (1,000 resamples; the "
           "test sample varies), transferkit.stats.bootstrap_ci.")


# ----------------------------------------------------------------------------- set-up


def parser(description: str, default_out: str) -> argparse.ArgumentParser:
    """The common command line of every benchmark script."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--seeds", type=int, default=3, help="Few-shot seeds (>= 3 for the report).")
    p.add_argument("--quick", action="store_true",
                   help="A fast check while developing: fewer seeds, settings and test examples.")
    p.add_argument("--out", default=str(RESULTS_DIR / default_out),
                   help="Markdown file to write the table to.")
    return p


def ensure_requirements(path: Path = REQUIREMENTS) -> None:
    """pip-install the benchmark's pinned peers (``requirements.txt``) when missing."""
    missing = []
    for line in path.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        name, _, version = spec.partition("==")
        try:
            have = importlib.metadata.version(name.split("[", 1)[0])  # skada[deep] -> skada
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have is None or (version and have != version):
            missing.append(spec)
    if missing:
        print(f"installing benchmark requirements: {' '.join(missing)}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)


def setup(install: bool = True) -> None:
    """2 threads for torch and BLAS, no hub access, the peers installed."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(THREADS))
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if install:
        ensure_requirements()
    import torch

    torch.set_num_threads(THREADS)


# ----------------------------------------------------------------------------- machine


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Cores, CPU model, load average and Python of this machine."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "threads": THREADS,
            "load_avg": tuple(round(v, 2) for v in load), "python": platform.python_version(),
            "platform": platform.platform()}


def versions(packages: Sequence[str]) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ----------------------------------------------------------------------------- timing


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timing]:
    """Wall and process CPU seconds of the block: ``with timed() as t: ...; t.wall``."""
    t = Timing()
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t.wall, t.cpu = time.perf_counter() - w0, time.process_time() - c0


# ----------------------------------------------------------------------------- results


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return (float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0) if len(a) else (float("nan"),) * 2


@dataclass
class Results:
    """Figures per (setting, method): each seed's accuracy, balanced accuracy, wall, CPU."""

    task: str
    peers: list[str] = field(default_factory=list)
    rows: dict[tuple[str, str], list[dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, setting: str, method: str, seed: int, acc: float, bacc: float, timing: Timing,
            peer: bool, ci: Sequence[float] | None = None, **extra: float) -> None:
        """One seed's figures; ``ci`` its 95 % accuracy CI on the shared test set
        (:func:`seed_ci` for a peer's predictions, :func:`summary_ci` for a transferkit run)."""
        if peer and method not in self.peers:
            self.peers.append(method)
        self.rows.setdefault((setting, method), []).append(
            {"seed": seed, "acc": float(acc), "bacc": float(bacc), "wall": timing.wall,
             "cpu": timing.cpu, "ci": tuple(ci) if ci is not None else None, **extra})
        print(f"  {setting:>10} | {method:<38} seed {seed}: acc {acc:.4f} bacc {bacc:.4f} "
              f"wall {timing.wall:7.2f} s cpu {timing.cpu:7.2f} s", flush=True)

    def settings(self) -> list[str]:
        return list(dict.fromkeys(s for s, _ in self.rows))

    def best_peer(self, setting: str, key: str = "acc") -> str | None:
        """The peer with the highest mean accuracy in ``setting``."""
        cands = [(mean_std([r[key] for r in rs])[0], m) for (s, m), rs in self.rows.items()
                 if s == setting and m in self.peers]
        return max(cands)[1] if cands else None

    def fastest_peer(self, setting: str, method: str) -> float:
        rs = self.rows.get((setting, method), [])
        return mean_std([r["wall"] for r in rs])[0]

    def table(self, setting: str) -> list[str]:
        best = self.best_peer(setting)
        best_wall = self.fastest_peer(setting, best) if best else float("nan")
        best_cpu = mean_std([r["cpu"] for r in self.rows.get((setting, best), [])])[0] if best else float("nan")
        lines = [f"### {setting}", "",
                 "| method | accuracy % (mean ± std) | balanced acc. % | per seed (acc %) | per-seed 95 % CI "
                 "(acc %) | wall s | CPU s | wall / best peer | CPU / best peer |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for (s, m), rs in self.rows.items():
            if s != setting:
                continue
            acc, acc_sd = mean_std([r["acc"] for r in rs])
            bacc, bacc_sd = mean_std([r["bacc"] for r in rs])
            wall, _ = mean_std([r["wall"] for r in rs])
            cpu, _ = mean_std([r["cpu"] for r in rs])
            per_seed = ", ".join(f"{100 * r['acc']:.1f}" for r in rs)
            tag = " (peer)" if m in self.peers else ""
            tag += " **best peer**" if m == best else ""
            lines.append(f"| {m}{tag} | {100 * acc:.1f} ± {100 * acc_sd:.1f} | {100 * bacc:.1f} ± "
                         f"{100 * bacc_sd:.1f} | {per_seed} | {ci_cell(rs)} | {wall:.1f} | {cpu:.1f} | "
                         f"{wall / best_wall:.2f} | {cpu / best_cpu:.2f} |")
        return lines + [""]

    def markdown(self, title: str, command: str, packages: Sequence[str], intro: str = "") -> str:
        info = machine()
        vers = versions(packages)
        out = [f"## {title}", ""]
        if intro:
            out += [intro.strip(), ""]
        out += [f"- command: `{command}`",
                f"- machine: {info['cores']} cores, {info['cpu']}, {info['threads']} torch threads, "
                f"load average at the end {info['load_avg']} (1/5/15 min), Python {info['python']}",
                "- versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
                f"- written {time.strftime('%Y-%m-%d %H:%M')}; wall = end-to-end seconds (data on disk "
                "to test predictions), CPU = process CPU seconds (under load wall >> CPU).", ""]
        out += [CI_NOTE, ""]
        for setting in self.settings():
            out += self.table(setting)
        if self.notes:
            out += ["Notes:", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(out)

    def write(self, path: str | Path, title: str, packages: Sequence[str], intro: str = "") -> Path:
        command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0]), *sys.argv[1:]])
        text = self.markdown(title, command, packages, intro)
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text + "\n", encoding="utf-8")
        print(text)
        print(f"\nwrote {p}")
        return p


def seed_ci(y_true: Sequence[int], y_pred: Sequence[int], seed: int = 0) -> tuple[float, float]:
    """The 95 % percentile-bootstrap CI of one seed's accuracy on the shared test set,
    resampling test examples within each class -- transferkit's own interval
    (:func:`transferkit.stats.bootstrap_ci`, 1,000 resamples, seeded), so a peer's row and a
    transferkit row (``summary["metrics"]["test"]["ci"]``) are the same statistic."""
    from transferkit.stats import bootstrap_ci

    y, p = np.asarray(y_true), np.asarray(y_pred)
    return bootstrap_ci(lambda t, q: float((t == q).mean()), y, p, seed=seed, strata=y)


def summary_ci(summary: dict[str, Any]) -> tuple[float, float] | None:
    """The accuracy CI a transferkit run wrote into ``summary.json`` (None when absent)."""
    ci = ((summary.get("metrics") or {}).get("test") or {}).get("ci") or {}
    return tuple(ci["accuracy"]) if "accuracy" in ci else None  # type: ignore[return-value]


def ci_cell(rows: Sequence[dict[str, Any]]) -> str:
    """The table cell of each seed's 95 % CI (accuracy %), '—' where a row has none."""
    cells = [f"{100 * r['ci'][0]:.1f}–{100 * r['ci'][1]:.1f}" if r.get("ci") else "—" for r in rows]
    return ", ".join(cells)


def scores(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[float, float]:
    """Accuracy and balanced accuracy."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    return float(accuracy_score(y_true, y_pred)), float(balanced_accuracy_score(y_true, y_pred))
