"""Atomic, pickle-free checkpoints for exact resume.

A checkpoint is one directory ``checkpoints/<stage>/step-<N>/`` (``step-<N>-final/`` once
the stage has finished) with

- ``model.safetensors`` (and ``best.safetensors``: the best weights so far),
- ``optimizer.pt`` / ``scheduler.pt`` / ``rng.pt``: state dicts of tensors and plain
  Python values, written with ``torch.save`` and read with ``weights_only=True``,
- ``state.json``: step, data position, early-stopping counters, history.

It is written to a temporary sibling directory, every file is fsynced, and the directory
is renamed into place; only then are older checkpoints deleted. A failure while writing
leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from transferkit.errors import RunDirError, TrainingError

PREFIX = "step-"
FINAL = "-final"


def cpu_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies (shared tensors become separate copies)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}


def rng_state() -> dict[str, Any]:
    """python / numpy / torch (and CUDA) random states, in weights_only-loadable types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, as a fresh (not resumed) run starts."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    path: Path
    model: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, Any]
    state: dict[str, Any]


def save_checkpoint(directory: str | Path, step: int, *, model: dict[str, torch.Tensor],
                    best: dict[str, torch.Tensor] | None, optimizer: dict[str, Any],
                    scheduler: dict[str, Any], rng: dict[str, Any], state: dict[str, Any],
                    keep: int = 1, final: bool = False) -> Path:
    """Write ``directory/step-<step>`` (``-final`` for the end of training) atomically and
    keep the newest ``keep`` checkpoints."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{step:09d}{FINAL if final else ''}"
    target = directory / name
    tmp = directory / f".tmp-{name}-{os.getpid()}"
    trash = directory / f".old-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        save_file(cpu_state(model), str(tmp / "model.safetensors"))
        if best is not None:
            save_file(cpu_state(best), str(tmp / "best.safetensors"))
        torch.save(optimizer, tmp / "optimizer.pt")
        torch.save(scheduler, tmp / "scheduler.pt")
        torch.save(rng, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        for f in tmp.iterdir():
            _fsync_file(f)
        _fsync_dir(tmp)
        if target.exists():  # the same checkpoint again (a rerun): swap, never delete first
            os.replace(target, trash)
        os.replace(tmp, target)
        _fsync_dir(directory)
        shutil.rmtree(trash, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise TrainingError(
            f"Writing the checkpoint of step {step} to '{directory}' failed: {exc}. The previous "
            "checkpoint is intact. Check free disk space and write permissions, then rerun "
            "with --resume."
        ) from exc
    for old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _order(path: Path) -> tuple[int, bool]:
    step = path.name[len(PREFIX):].removesuffix(FINAL)
    return int(step), path.name.endswith(FINAL)


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir()
             if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file()
             and p.name[len(PREFIX):].removesuffix(FINAL).isdigit()]
    return sorted(found, key=_order)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint directory (never unpickles: ``weights_only=True``)."""
    path = Path(path)
    try:
        best_file = path / "best.safetensors"
        return Checkpoint(
            path=path,
            model=load_file(str(path / "model.safetensors")),
            best=load_file(str(best_file)) if best_file.exists() else None,
            optimizer=torch.load(path / "optimizer.pt", weights_only=True),
            scheduler=torch.load(path / "scheduler.pt", weights_only=True),
            rng=torch.load(path / "rng.pt", weights_only=True),
            state=json.loads((path / "state.json").read_text(encoding="utf-8")),
        )
    except pickle.UnpicklingError as exc:  # weights_only=True met something that is not a tensor
        raise RunDirError(
            f"Checkpoint '{path}' holds objects that can only be loaded by unpickling them, which "
            "can run arbitrary code, so transferkit refuses to (the file was not written by "
            "transferkit, or was tampered with). Delete the checkpoint, or start again without "
            "--resume."
        ) from exc
    except (OSError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        raise RunDirError(
            f"Checkpoint '{path}' cannot be read ({exc}). Delete it to resume from an older "
            "one, or start again without --resume."
        ) from exc


def remove_partial_checkpoints(directory: str | Path) -> None:
    """Delete what a process killed while writing a checkpoint left in ``directory``
    (``.tmp-*`` and ``.old-*`` siblings); complete checkpoints are kept."""
    directory = Path(directory)
    if directory.is_dir():
        for junk in [*directory.glob(".tmp-*"), *directory.glob(".old-*")]:
            shutil.rmtree(junk, ignore_errors=True)


def discard_checkpoints(directory: str | Path) -> None:
    """Delete every checkpoint in ``directory`` (a fresh run replaces an earlier one's)."""
    for old in list_checkpoints(directory):
        shutil.rmtree(old, ignore_errors=True)


def check_data_position(ckpt: Checkpoint, expected: dict[str, Any]) -> None:
    """Refuse to resume ``ckpt`` unless it was written for the same data, batch size, seed
    and number of processes (``expected``): otherwise its data position means nothing."""
    found = ckpt.state.get("data")
    if found != expected:
        raise RunDirError(
            f"Checkpoint '{ckpt.path}' was written for {found} but this run has "
            f"{expected}; the data position cannot be restored. Resume with the same data, "
            "batch size, seed and number of processes, or start again without --resume."
        )


def latest_checkpoint(directory: str | Path) -> Checkpoint | None:
    """The newest complete checkpoint in ``directory`` (None if there is none)."""
    found = list_checkpoints(directory)
    return load_checkpoint(found[-1]) if found else None
