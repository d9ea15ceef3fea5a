"""Helpers of the reliability suite: run the real CLI, generate small bad inputs.

Every test here goes through what a user touches (``transferkit.cli.main`` in-process,
or a ``python -m transferkit`` subprocess where a real process must die or compete) and
asserts what the user would see: the exit status, a message that names the file, row or
parameter and says how to fix it, and never a bare traceback.
"""

from __future__ import annotations

import contextlib
import csv
import io
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)


@dataclass
class CliResult:
    rc: int
    out: str
    err: str


def cli(*argv: str) -> CliResult:
    """Run ``transferkit ARGV...`` in-process; a traceback escaping main() is rc -1."""
    from transferkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors
            rc = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # a bare traceback would reach the user
            import traceback

            traceback.print_exc(file=err)
            rc = -1
    return CliResult(int(rc), out.getvalue(), err.getvalue())


def assert_user_error(result: CliResult, *needles: str) -> None:
    """Exit status 2, no traceback, and every needle (case-insensitive) in stderr."""
    assert "Traceback" not in result.err, result.err
    assert result.rc == 2, (result.rc, result.err)
    low = " ".join(result.err.lower().split())  # rich may wrap long lines
    for needle in needles:
        assert needle.lower() in low, f"{needle!r} not in stderr:\n{result.err}"


def assert_ok(result: CliResult) -> None:
    assert "Traceback" not in result.err, result.err
    assert result.rc == 0, (result.rc, result.err)


def child_cmd(*argv: str) -> list[str]:
    """``transferkit ARGV...`` as a subprocess command line (the same interpreter)."""
    return [sys.executable, "-m", "transferkit", *map(str, argv)]


# --------------------------------------------------------------------------- data

TAB = ("--backbone", "tabular", "--epochs", "1", "--quiet")
IMG = ("--backbone", "timm:test_efficientnet", "--no-pretrained", "--epochs", "1", "--quiet",
       "--image-size", "32")
TXT = ("--strategy", "linear-probe", "--epochs", "1", "--quiet")


def write_table(path: Path, n: int = 60, seed: int = 0, edit: dict[tuple[int, str], str] | None = None,
                drop: str | None = None) -> Path:
    """A CSV table f0..f3 + label (no/yes, label = f0 > 0); ``edit[(row, col)]`` overrides
    one cell (row counted from 0 after the header), ``drop`` leaves one column out."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    header = ["f0", "f1", "f2", "f3", "label"]
    rows = [[f"{v:.6f}" for v in xi] + [("no", "yes")[int(xi[0] > 0)]] for xi in x]
    for (r, col), value in (edit or {}).items():
        rows[r][header.index(col)] = value
    if drop is not None:
        j = header.index(drop)
        header = header[:j] + header[j + 1:]
        rows = [row[:j] + row[j + 1:] for row in rows]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_text_csv(path: Path, extra: list[str] | None = None, n: int = 40) -> Path:
    words = ["good", "bad", "great", "awful", "tea", "coffee", "sweet", "bitter"]
    lines = ["text,label"] + [f"{words[i % 8]} {words[(i * 3 + 1) % 8]} {i},{('pos', 'neg')[i % 2]}"
                              for i in range(n)]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8")
                     + b"".join(e.encode("utf-8") if isinstance(e, str) else e for e in extra or []))
    return path


class Marker:
    """A pickle payload: unpickling it creates ``path`` (proof that code ran)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # noqa: ANN204 - the pickle protocol
        return (open, (self.path, "w"))


def malicious_pickle(path: Path, marker: Path, zip_format: bool = False) -> Path:
    """Write a pickle (plain, or torch.save's zip) whose loading would create ``marker``."""
    if zip_format:
        torch.save({"weight": Marker(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(Marker(marker)))
    assert not marker.exists()
    return path


def write_image_folder(root: Path, per_class: int = 4, classes: tuple[str, ...] = ("cat", "dog"),
                       size: int = 12, seed: int = 0) -> Path:
    """``root/<class>/<i>.png``: random RGB images, class k brighter than class k-1."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 100, size=(size, size, 3)) + 100 * k
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root
