"""One run lifecycle for every job: name, lock, config, weights + manifest, summary,
report and runs index -- written by the same code for fit, auto, adapt and pretrain.

>>> with Run("fit", out=None, name="demo", default_name="x") as run:  # doctest: +SKIP
...     run.write_config(cfg)
...     run.save_model(model, task, train, cfg)
...     run.finish(summary)

Every file of a run goes through :meth:`Run.path`, so a run can later be written into a
temporary sibling directory and renamed into place. A run carries fingerprints of its
resolved configuration (output and logging keys excluded, see ``UNFINGERPRINTED``) and of
each data split (inputs and targets), recorded in ``transferkit.json`` and ``summary.json``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from transferkit import __version__
from transferkit.errors import ConfigError
from transferkit.options import to_dict
from transferkit.rundir import (
    CONFIG,
    FORMAT_VERSION,
    MANIFEST,
    SUMMARY,
    WEIGHTS,
    atomic_write_bytes,
    atomic_write_text,
    versions,
    write_json,
)

#: where runs go without --out
RUNS_ROOT = Path("runs")
#: config keys that say where and how a run is written, not what it computes
UNFINGERPRINTED = ("out", "name", "cache_dir", "train.tensorboard", "train.num_workers",
                   "train.checkpoint_every")
#: the longest run name (a file-system component is at most 255 bytes)
MAX_NAME = 200


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a distributed (``accelerate launch``) job."""
    return int(os.environ.get("RANK", "0")) == 0


def plain_name(text: str) -> str:
    """``text`` with every run of characters outside ``[A-Za-z0-9_.-]`` replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "run"


def default_run_name(*parts: Any) -> str:
    """``part1-part2-...-YYYYmmdd-HHMMSS`` from the last path component of each part."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    words = [Path(str(p)).name.replace(":", "-") or "data" for p in parts if p is not None]
    return plain_name("-".join([*words, stamp]))


def run_directory(out: str | Path | None, name: str | None, default_name: str,
                  command: str = "fit") -> Path:
    """The run directory: ``out`` as given, else ``runs/<name>`` (``default_name`` when no
    name is given). A name is one path component, so it cannot leave ``runs/``."""
    if out:
        return Path(out)
    if name:
        text = str(name)
        shown = repr(text) if len(text) <= 80 else f"{text[:60]!r}... ({len(text)} characters)"
        if text in (".", "..") or Path(text).name != text or "\\" in text or len(text) > MAX_NAME:
            raise ConfigError(
                f"The 'name' parameter of {command} must be a plain run name (no '/', '\\', '.' or "
                f"'..', at most {MAX_NAME} characters): the run directory is runs/<name>. Got "
                f"{shown} instead. Pass --out DIR to write elsewhere.")
        return RUNS_ROOT / text
    return RUNS_ROOT / plain_name(default_name)


def config_fingerprint(cfg: Any) -> str:
    """sha256 of the resolved configuration without the keys in ``UNFINGERPRINTED``."""
    data = to_dict(cfg)
    for key in UNFINGERPRINTED:
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def split_fingerprint(data: Any) -> str:
    """sha256 of a split's inputs (their content hash) and its targets, in order."""
    h = hashlib.sha256(data.content_hash().encode())
    h.update(np.ascontiguousarray(np.asarray(data.y)).tobytes())
    return h.hexdigest()


@dataclass
class Summary:
    """The shape of ``summary.json``: core keys every job fills, plus one optional section
    per job (``auto``, ``adapt``, ``pretrain``, ``joint``, ``mapping_selection``)."""

    task: str
    command: str
    data: dict[str, Any]
    backbone: str
    strategy: str
    choice: str
    metrics: dict[str, Any]
    baselines: dict[str, Any]
    transfer_gain: float | None
    selection: dict[str, Any]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    labels_used: dict[str, int] | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    fingerprints: dict[str, Any] = field(default_factory=dict)
    transferkit_version: str = __version__
    auto: dict[str, Any] | None = None
    adapt: dict[str, Any] | None = None
    pretrain: dict[str, Any] | None = None
    joint: dict[str, Any] | None = None
    mapping_selection: dict[str, Any] | None = None

    #: the keys every summary has, in the order summary.json lists them
    CORE = ("transferkit_version", "task", "command", "data", "backbone", "strategy", "choice",
            "metrics", "labels_used", "baselines", "transfer_gain", "selection", "stages",
            "timings", "warnings", "fingerprints")
    SECTIONS = ("auto", "adapt", "pretrain", "joint", "mapping_selection")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        out = {k: values[k] for k in self.CORE}
        out.update({k: values[k] for k in self.SECTIONS if values[k] is not None})
        return out

    @classmethod
    def validate(cls, data: dict[str, Any]) -> list[str]:
        """The problems of a summary.json mapping (missing core keys, unknown sections)."""
        problems = [f"missing key '{k}'" for k in cls.CORE if k not in data]
        problems += [f"unknown key '{k}'" for k in data if k not in cls.CORE + cls.SECTIONS]
        return problems


@dataclass
class RunResult:
    """What a job returns: the run directory, its summary and the trained model."""

    run_dir: Path
    summary: dict[str, Any]
    model: Any

    def __repr__(self) -> str:
        test = self.summary.get("metrics", {}).get("test", {})
        return f"RunResult(run_dir='{self.run_dir}', test_accuracy={test.get('accuracy')})"


class Run:
    """A run directory being written by one job (a context manager that holds its lock).

    Only the main process of a distributed job takes the lock and writes files.
    """

    def __init__(self, command: str, *, out: str | Path | None = None, name: str | None = None,
                 default_name: str = "run") -> None:
        self.command = command
        self.dir = run_directory(out, name, default_name, command)
        self.fingerprints: dict[str, Any] = {}
        self.finished = False
        self._lock: Any = None

    def __enter__(self) -> Run:
        from transferkit.rundir import RunDirLock

        if is_main_process():
            self._lock = RunDirLock(self.dir).acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def path(self, name: str) -> Path:
        """Where the run file ``name`` is written."""
        return self.dir / name

    # ------------------------------------------------------------------ writing
    def write_config(self, cfg: Any) -> None:
        """config.yaml (the fully resolved configuration), atomically; fingerprints it."""
        self.fingerprints["config"] = config_fingerprint(cfg)
        if is_main_process():
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path(CONFIG), yaml.safe_dump(to_dict(cfg), sort_keys=False))

    def fingerprint_splits(self, splits: Any) -> None:
        """Record a fingerprint of each split (train, val, test)."""
        self.fingerprints["splits"] = {name: split_fingerprint(getattr(splits, name))
                                       for name in ("train", "val", "test")}

    def save_model(self, model: Any, task: Any, train: Any, cfg: Any = None,
                   extra: dict[str, Any] | None = None) -> None:
        """model.safetensors and transferkit.json (what predict and serve need)."""
        if not is_main_process():
            return
        from safetensors.torch import save

        self.dir.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        data = save(state)
        atomic_write_bytes(self.path(WEIGHTS), data)
        extra = {**(extra or {}), "weights_sha256": hashlib.sha256(data).hexdigest()}
        content = manifest(model, task, train, cfg, self.fingerprints, extra)
        content["backbone"].update(model.backbone.save_assets(self.dir))  # e.g. the tokenizer
        write_json(self.path(MANIFEST), content)

    def finish(self, summary: Summary) -> dict[str, Any]:
        """summary.json, then the report and the runs index (best effort for both), once."""
        if self.finished:
            raise RuntimeError(f"The run '{self.dir}' was already finished.")
        self.finished = True
        summary.fingerprints = {**self.fingerprints, **summary.fingerprints}
        data = summary.to_dict()
        if not is_main_process():
            return data
        write_json(self.path(SUMMARY), data)
        for step in ("transferkit.report:write_report", "transferkit.runs_index:record_run"):
            module, func = step.split(":")
            with contextlib.suppress(ImportError):
                getattr(__import__(module, fromlist=[func]), func)(self.dir)
        return data


def manifest(model: Any, task: Any, train: Any, cfg: Any, fingerprints: dict[str, Any],
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contents of transferkit.json for a trained model."""
    mapping = model.mapping
    return {
        "format_version": FORMAT_VERSION,
        "task": task.name,
        "modality": train.modality,
        **task.describe_targets(train),
        **task.describe_head(model.head),
        "backbone": model.backbone.describe(),
        "mapping": {"name": getattr(mapping, "registry_name", cfg.mapping if cfg else "identity"),
                    "in_dim": model.backbone.feature_dim,
                    "out_dim": getattr(mapping, "out_dim", model.backbone.feature_dim)},
        "head": {"in_dim": int(getattr(mapping, "out_dim", model.backbone.feature_dim)),
                 "num_classes": model.num_classes, "dropout": float(model.dropout.p)},
        "data": {"name": train.name, "text_column": cfg.data.text_column if cfg else None,
                 "label_column": cfg.data.label_column if cfg else None,
                 "schema": train.schema.to_dict() if getattr(train, "schema", None) else None},
        "fingerprints": dict(fingerprints),
        "versions": versions(),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        **(extra or {}),
    }


__all__ = ["RUNS_ROOT", "Run", "RunResult", "Summary", "config_fingerprint", "default_run_name",
           "is_main_process", "manifest", "plain_name", "run_directory", "split_fingerprint"]
