"""One run lifecycle for every job: name, lock, config, weights + manifest, summary,
report and runs index -- written by the same code for fit, auto, adapt and pretrain.

>>> with Run("fit", out=None, name="demo", default_name="x") as run:  # doctest: +SKIP
...     run.write_config(cfg)
...     run.save_model(model, task, train, cfg)
...     run.finish(summary)

Every file of a run goes through :meth:`Run.path`: a run is written into a hidden sibling
directory (``.<name>.partial``) and renamed into place when it is complete. A run carries fingerprints of its
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
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from transferkit import __version__
from transferkit.errors import ConfigError, RunDirError
from transferkit.options import to_dict
from transferkit.rundir import (
    CONFIG,
    FORMAT_VERSION,
    MANIFEST,
    SUMMARY,
    TEST_PREDICTIONS,
    WEIGHTS,
    atomic_write_bytes,
    atomic_write_text,
    partial_directory,
    versions,
    write_json,
)

#: where runs go without --out
RUNS_ROOT = Path("runs")
#: what a run records while it runs: fingerprints of its configuration and data splits
FINGERPRINTS = "fingerprints.json"
#: config keys that say where and how a run is written, not what it computes
UNFINGERPRINTED = ("out", "name", "cache_dir", "train.tensorboard", "train.num_workers",
                   "train.checkpoint_every", "train.device", "train.report_to")
#: files that only a run directory holds (what --overwrite may replace)
RUN_FILES = (CONFIG, MANIFEST, SUMMARY, "checkpoints")
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


def split_fingerprint(data: Any, legacy: bool = False) -> str:
    """sha256 of a split's inputs (their content hash) and its targets, in order;
    ``legacy``: a table's as runs recorded it before (its CSV text, see
    :meth:`~transferkit.data.dataset.TransferDataset.csv_content_hash`)."""
    h = hashlib.sha256((data.csv_content_hash() if legacy else data.content_hash()).encode())
    h.update(np.ascontiguousarray(np.asarray(data.y)).tobytes())
    return h.hexdigest()


def same_split(recorded: str, data: Any, current: str | None = None) -> bool:
    """Whether ``data`` is the split whose fingerprint a run recorded (``current``: its
    fingerprint now, when known): a table recorded before also matches its CSV digest."""
    if recorded == (current or split_fingerprint(data)):
        return True
    return getattr(data, "modality", None) == "table" and recorded == split_fingerprint(data, legacy=True)


@dataclass
class Summary:
    """The shape of ``summary.json``: core keys every job fills, plus one optional section
    per job (``auto``, ``adapt``, ``pretrain``, ``joint``, ``mapping_selection``) and the
    task's adjustments of the trained model (``calibration``, ``prior_correction``,
    ``decision``, ``bias_calibration``, ``head_init``), and ``extended`` when a finished run was resumed with more epochs."""

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
    calibration: dict[str, Any] | None = None
    prior_correction: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    extended: dict[str, Any] | None = None
    #: token classification: the first test sentences with a wrong entity (for the report)
    error_examples: list[dict[str, Any]] | None = None
    bias_calibration: dict[str, Any] | None = None
    head_init: dict[str, Any] | None = None
    #: the zeroshot and multimodal jobs' own results
    zeroshot: dict[str, Any] | None = None
    multimodal: dict[str, Any] | None = None
    #: a run directory as the backbone: whether its head was kept (transferkit.pipeline.build.source_head)
    source_head: dict[str, Any] | None = None

    #: the keys every summary has, in the order summary.json lists them
    CORE = ("transferkit_version", "task", "command", "data", "backbone", "strategy", "choice",
            "metrics", "labels_used", "baselines", "transfer_gain", "selection", "stages",
            "timings", "warnings", "fingerprints")
    SECTIONS = ("auto", "adapt", "pretrain", "joint", "mapping_selection", "calibration",
                "prior_correction", "decision", "extended", "error_examples", "bias_calibration",
                "head_init", "zeroshot", "multimodal", "source_head")

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

    A fresh run is written into a hidden sibling, ``<parent>/.<name>.partial/``, and renamed
    into place by :meth:`finish`, once it is complete: ``runs/<name>`` only ever holds a
    finished run, and with ``overwrite=True`` the old run is replaced only then. The lock is
    the file ``<parent>/.<name>.lock`` (one writer per run name; a lock whose process is
    dead is taken over). A directory that already holds a run (finished, or an interrupted
    ``.partial`` sibling) is refused unless ``resume`` (continue it: the ``.partial``
    sibling if there is one, else the run in place) or ``overwrite`` (start again) is given.
    A resumed run must have the configuration and data it was started with
    (:meth:`write_config`, :meth:`fingerprint_splits` compare them with ``fingerprints.json``).

    Only the main process of a distributed job takes the lock and writes files.
    """

    def __init__(self, command: str, *, out: str | Path | None = None, name: str | None = None,
                 default_name: str = "run", resume: bool = False, overwrite: bool = False) -> None:
        if resume and overwrite:
            raise ConfigError(f"{command}: --resume continues a run and --overwrite replaces it; "
                              "pass one of them, not both.")
        self.command = command
        #: where the finished run lives (``runs/<name>`` or ``--out``)
        self.final = run_directory(out, name, default_name, command)
        if self.final.name in ("", ".", ".."):  # --out . : its parent and name are needed
            self.final = Path(os.path.abspath(self.final))
        #: where its files are written while it runs (``final`` once finished)
        self.dir = self.final
        self.resume, self.overwrite = resume, overwrite
        self.fingerprints: dict[str, Any] = {}
        #: a finished run resumed with more epochs: {"from_epochs", "to_epochs", ...}
        self.extension: dict[str, Any] | None = None
        self._copied = False  # this process copied a finished run to extend it
        self.finished = False
        self._lock: Any = None

    @property
    def partial(self) -> Path:
        """The hidden sibling a fresh run is written into before it is renamed into place."""
        return partial_directory(self.final)

    def __enter__(self) -> Run:
        from transferkit.rundir import RunDirLock

        if is_main_process():
            self._lock = RunDirLock(self.final, path=lock_path(self.final)).acquire()
            try:
                self.dir = self._work_directory()
            except BaseException:
                self.__exit__()
                raise
        else:  # the same rule, without touching the file system
            self.dir = self.partial if not self.resume or self.partial.is_dir() or not _has_run(
                self.final) else self.final
        return self

    def __exit__(self, kind: type[BaseException] | None = None, *exc: object) -> None:
        if self._lock is not None:
            failed_copy = self._copied and kind is not None and issubclass(kind, Exception)
            if not self.finished and self.dir == self.partial and (failed_copy or not _resumable(self.dir)):
                # failed before its first checkpoint: nothing to resume, nothing left behind;
                # an extension that fails is dropped (the finished run is still in place)
                shutil.rmtree(self.dir, ignore_errors=True)
            self._lock.release()
            self._lock = None

    def check(self) -> Path:
        """Where this run will write (see the class docstring), or the error that refuses to
        replace a run silently; changes nothing (jobs call it before loading data)."""
        final, partial = self.final, self.partial
        if final.exists() and not final.is_dir():
            raise RunDirError(f"Cannot write the run directory '{final}': '{final}' is a file, not a "
                              "folder. Pass --out with a new or existing folder.")
        if self.resume:
            return partial if partial.is_dir() or not _has_run(final) else final
        if self.overwrite and _has_run(final) and not any((final / f).exists() for f in RUN_FILES):
            other = next(p.name for p in sorted(final.iterdir()) if p.name != ".lock")
            raise RunDirError(
                f"--overwrite replaces a run directory, and '{final}' holds files that are not a "
                f"transferkit run (e.g. '{other}'); they are left alone. Choose another --out.")
        # a .partial sibling without a checkpoint (a run killed early) has nothing to resume
        if (_has_run(final) or _resumable(partial)) and not self.overwrite:
            what = (f"an unfinished run in '{partial}' (interrupted or killed)" if _resumable(partial)
                    else "a run" if any((final / f).exists() for f in RUN_FILES)
                    else "files (not a transferkit run)")
            raise RunDirError(
                f"The run directory '{final}' already holds {what}. Pass --resume to continue it "
                "(the same configuration and data), --overwrite to replace it (the old run is "
                "kept until the new one is complete), or choose another --out/--name.")
        return partial

    def _work_directory(self) -> Path:
        from transferkit.rundir import make_run_dir

        work = self.check()
        if work == self.partial and not self.resume:  # a fresh start: nothing of an old attempt
            shutil.rmtree(work, ignore_errors=True)
        make_run_dir(work)
        return work

    def path(self, name: str) -> Path:
        """Where the run file ``name`` is written."""
        return self.dir / name

    # ------------------------------------------------------------------ writing
    def write_config(self, cfg: Any, extendable: bool = False) -> None:
        """config.yaml (the fully resolved configuration), atomically; fingerprints it. A
        resumed run must have the configuration it started with (output and logging keys
        aside, see ``UNFINGERPRINTED``) -- except that, for a job that is ``extendable``
        (fit), a finished run may be resumed with more epochs or a larger ``max_steps``
        and nothing else changed: it is copied into the ``.partial`` sibling and extended
        there (:attr:`extension` says from what to what), the old run staying in place
        until the extended one is complete."""
        self.fingerprints["config"] = config_fingerprint(cfg)
        if not is_main_process():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        recorded = self._recorded()
        if self.resume and recorded.get("config") not in (None, self.fingerprints["config"]):
            keys, before, now = self._differences(cfg)
            self.extension = self._extension(keys, before, now) if extendable else None
            if self.extension is None:
                self._refuse_config(keys, before, now, extendable)
            self._copy_to_partial()
        elif self.resume:
            self.extension = recorded.get("extended")  # an extension interrupted, resumed
        atomic_write_text(self.path(CONFIG), yaml.safe_dump(to_dict(cfg), sort_keys=False))
        extended = {"extended": self.extension} if self.extension else {}
        write_json(self.path(FINGERPRINTS), {**recorded, "config": self.fingerprints["config"], **extended})

    def _extension(self, keys: list[str], before: dict[str, Any], now: dict[str, Any]
                   ) -> dict[str, Any] | None:
        """``{"from_epochs", "to_epochs", ...}`` when the only differences from the recorded
        configuration grow the training of a finished run; None when they do not."""
        grows = {"train.epochs", "train.max_steps"}
        if not keys or not set(keys) <= grows:
            return None
        e0, e1 = before.get("train.epochs"), now.get("train.epochs")
        m0, m1 = before.get("train.max_steps"), now.get("train.max_steps")
        if not isinstance(e0, int) or not isinstance(e1, int) or e1 < e0:
            return None
        if m1 is not None and (m0 is None or m1 < m0):
            return None
        if self.dir != self.final or not self.path(SUMMARY).is_file():
            return None  # an interrupted run resumes with its own settings first
        from transferkit.rundir import read_json

        stages = [s for s in read_json(self.path(SUMMARY)).get("stages") or []
                  if not str(s.get("stage", "")).startswith("scratch-")]
        stopped = stages[-1].get("stopped") if stages else None
        if stopped not in ("completed", "max_steps", "converged"):
            raise RunDirError(
                f"--resume extends a finished run with more epochs only when its epochs (or "
                f"max_steps) ended it, and the run in '{self.dir}' ended by {stopped or 'an unknown cause'}"
                + (" (early stopping: its validation metric stopped improving)" if stopped == "early_stopping"
                   else "") + "; more epochs would not train it further. Start a new run with the "
                "new settings: --overwrite replaces this run, another --name/--out keeps it.")
        out: dict[str, Any] = {"from_epochs": e0, "to_epochs": e1}
        if m0 != m1:
            out.update({"from_max_steps": m0, "to_max_steps": m1})
        return out

    def _copy_to_partial(self) -> None:
        """Work on a copy of the finished run in the ``.partial`` sibling (copied under a
        temporary name, then renamed: a copy cut short is never taken for a run)."""
        from transferkit.rundir import LOCK_NAME

        tmp = self.final.parent / f".{self.final.name}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.final, tmp, ignore=shutil.ignore_patterns(LOCK_NAME))
        os.replace(tmp, self.partial)
        self.dir = self.partial
        self._copied = True

    def _recorded(self) -> dict[str, Any]:
        """What ``fingerprints.json`` (or, for older runs, ``transferkit.json``) recorded."""
        from transferkit.rundir import read_json

        for name in (FINGERPRINTS, MANIFEST):
            if self.path(name).is_file():
                found = read_json(self.path(name))
                return dict(found.get("fingerprints", found) if name == MANIFEST else found)
        return {}

    def _differences(self, cfg: Any) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
        """(the fingerprinted keys that differ, the recorded config flat, ``cfg`` flat)."""
        before: dict[str, Any] = {}
        if self.path(CONFIG).is_file():
            with contextlib.suppress(yaml.YAMLError):
                before = _flat(yaml.safe_load(self.path(CONFIG).read_text(encoding="utf-8")) or {})
        now = _flat(to_dict(cfg))
        keys = [k for k in sorted(set(before) | set(now))
                if before.get(k) != now.get(k) and not _unfingerprinted(k)]
        return keys, before, now

    def _refuse_config(self, keys: list[str], before: dict[str, Any], now: dict[str, Any],
                       extendable: bool = False) -> None:
        why = ("a finished fit is extended only by more --epochs or a larger train.max_steps with "
               "nothing else changed; an interrupted run is first resumed as it was started"
               if extendable else f"a finished {self.command} run is not extended: more epochs is a new run")
        shown = "; ".join(f"{k}: {before.get(k)!r} in {CONFIG}, {now.get(k)!r} now" for k in keys[:8])
        raise RunDirError(
            f"--resume continues the run in '{self.dir}' with the configuration it was started with, "
            f"and this one differs: {shown or 'the recorded fingerprint differs'}"
            f"{' ...' if len(keys) > 8 else ''}. Resume with the same settings, or start a new run "
            f"with the new ones: --overwrite replaces this run, another --name/--out keeps it ({why}).")

    def fingerprint_splits(self, splits: Any) -> None:
        """Record a fingerprint of each split (train, val, test); a resumed run must have the
        data it started with."""
        self.fingerprints["splits"] = {name: split_fingerprint(getattr(splits, name))
                                       for name in ("train", "val", "test")}
        if not is_main_process():
            return
        recorded = self._recorded()
        before = recorded.get("splits")
        changed = [k for k in ("train", "val", "test") if self.resume and before and not same_split(
            before.get(k, ""), getattr(splits, k), self.fingerprints["splits"][k])]
        if changed:
            raise RunDirError(
                f"--resume continues the run in '{self.dir}' with the data it was started with, and "
                f"the {', '.join(changed)} split(s) differ from the ones it recorded (the data "
                "changed since, or is read differently). Resume with the same data, or start a new "
                "run: --overwrite replaces this run, another --name/--out keeps it.")
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.path(FINGERPRINTS), {**recorded, **self.fingerprints})

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

    def save_test_predictions(self, task: Any, targets: Any, outputs: Any, test: Any = None) -> None:
        """``test_predictions.npz`` (plain float arrays, no pickle) when the task keeps its
        test predictions for the report (regression: true and predicted values), with the
        first ``task.report_images`` test images (uint8, one size) when it asks for them."""
        arrays = task.test_arrays(targets, outputs) if outputs is not None else None
        if not arrays or not is_main_process():
            return
        import io

        import numpy as np

        n = int(getattr(task, "report_images", 0) or 0)
        if n and test is not None and getattr(test, "modality", None) == "image" and len(test):
            images = [np.asarray(a) for a in test.inputs(range(min(n, len(test))))]
            if len({a.shape for a in images}) == 1 and images[0].dtype == np.uint8:
                arrays = {**arrays, "images": np.stack(images)}

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path(TEST_PREDICTIONS), buf.getvalue())

    def finish(self, summary: Summary) -> dict[str, Any]:
        """summary.json; the run renamed into place (replacing an old run with --overwrite);
        then the report and the runs index (best effort for both), once."""
        if self.finished:
            raise RuntimeError(f"The run '{self.dir}' was already finished.")
        self.finished = True
        summary.fingerprints = {**self.fingerprints, **summary.fingerprints}
        data = summary.to_dict()
        if not is_main_process():
            self.dir = self.final
            return data
        write_json(self.path(SUMMARY), data)
        self._promote()
        for step in ("transferkit.report:write_report", "transferkit.runs_index:record_run"):
            module, func = step.split(":")
            with contextlib.suppress(ImportError):
                getattr(__import__(module, fromlist=[func]), func)(self.dir)
        return data

    def _promote(self) -> None:
        """Rename the finished ``.partial`` sibling to the run directory (the old run, if
        any, is moved aside first and deleted after)."""
        from transferkit.rundir import LOCK_NAME

        if self.dir == self.final:
            return
        (self.dir / LOCK_NAME).unlink(missing_ok=True)  # the trainer's, released by now
        old = None
        if self.final.exists():
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.final, old)
        os.replace(self.dir, self.final)
        self.dir = self.final
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def lock_path(run_dir: str | Path) -> Path:
    """``<parent>/.<name>.lock``: the lock file of a run name."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.lock"


def clean_stale(root: str | Path = RUNS_ROOT) -> list[Path]:
    """Delete what interrupted runs left in ``root`` and return it: ``.<name>.partial``
    siblings (unfinished runs, checkpoints included), ``.<name>.old-<pid>`` folders (an old
    run moved aside by --overwrite) and ``.<name>.lock`` files -- each only when no live
    process holds the lock of its name. ``transferkit runs --clean`` calls it."""
    from transferkit.rundir import lock_is_live

    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    for path in sorted(root.iterdir()):
        match = re.fullmatch(r"\.(.+)\.(partial(?:-\d+)?|old-\d+|lock)", path.name)
        if match is None or lock_is_live(lock_path(root / match.group(1))):
            continue
        if match.group(2).startswith("old-") and not (root / match.group(1)).exists():
            continue  # killed between the two renames of --overwrite: the only copy of that run
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _has_run(path: Path) -> bool:
    """Whether ``path`` is a folder holding anything but a lock file."""
    from transferkit.rundir import LOCK_NAME

    return path.is_dir() and any(p.name != LOCK_NAME for p in path.iterdir())


def _resumable(path: Path) -> bool:
    """Whether ``path`` holds a checkpoint (what --resume continues from)."""
    from transferkit.train.checkpoint import list_checkpoints

    root = path / "checkpoints"
    return root.is_dir() and any(list_checkpoints(stage) for stage in root.iterdir())


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train.lr": 0.001, ...}`` of a nested mapping (JSON-normalised values)."""
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): json.loads(json.dumps(data, default=str))}


def _unfingerprinted(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in UNFINGERPRINTED)


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


__all__ = ["FINGERPRINTS", "RUNS_ROOT", "UNFINGERPRINTED", "Run", "RunResult", "Summary", "clean_stale",
           "config_fingerprint", "default_run_name",
           "is_main_process", "lock_path", "manifest", "partial_directory", "plain_name",
           "run_directory", "same_split", "split_fingerprint"]
