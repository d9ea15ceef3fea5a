"""The runs index: every run directory recorded in one SQLite database.

``fit``, ``adapt`` and ``pretrain`` call :func:`record_run` when they finish, so that
``transferkit runs`` can list and compare runs without opening each directory. The
database lives at ``runs/index.sqlite`` (relative to the working directory) unless
``TRANSFERKIT_RUNS_INDEX`` or an explicit ``index`` path says otherwise. A run is keyed
by its resolved directory path: recording it again updates its row.

>>> record_run("runs/digits-linear-probe")  # doctest: +SKIP
>>> [r["accuracy"] for r in list_runs(data="digits", sort="accuracy")]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from transferkit.errors import ConfigError, RunDirError
from transferkit.rundir import CONFIG, SUMMARY, read_json

DEFAULT_INDEX = Path("runs") / "index.sqlite"
ENV_INDEX = "TRANSFERKIT_RUNS_INDEX"

# columns that list_runs can sort and filter on, besides the JSON blobs
COLUMNS = ("run_dir", "name", "recorded", "command", "task", "data", "source", "backbone",
           "strategy", "accuracy", "balanced_accuracy", "macro_f1", "ece", "scratch_accuracy",
           "transfer_gain", "n_train", "total_s", "train_s", "n_warnings")
NUMERIC = ("accuracy", "balanced_accuracy", "macro_f1", "ece", "scratch_accuracy",
           "transfer_gain", "n_train", "total_s", "train_s", "n_warnings")
SORT_KEYS = (*NUMERIC, "recorded", "name", "data", "backbone", "strategy")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY,
    name TEXT, recorded TEXT, command TEXT, task TEXT, data TEXT, source TEXT,
    backbone TEXT, strategy TEXT,
    accuracy REAL, balanced_accuracy REAL, macro_f1 REAL, ece REAL,
    scratch_accuracy REAL, transfer_gain REAL, n_train INTEGER,
    total_s REAL, train_s REAL, n_warnings INTEGER,
    config TEXT, metrics TEXT, timings TEXT, summary TEXT
)
"""


def index_path(index: str | Path | None = None) -> Path:
    """The index database: ``index``, else ``$TRANSFERKIT_RUNS_INDEX``, else runs/index.sqlite."""
    if index is not None:
        return Path(index)
    env = os.environ.get(ENV_INDEX)
    return Path(env) if env else DEFAULT_INDEX


@contextmanager
def _connect(path: Path, create: bool) -> Iterator[sqlite3.Connection]:
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), timeout=30)
    except sqlite3.Error as exc:
        raise RunDirError(f"Cannot open the runs index '{path}': {exc}. Pass another file with "
                          f"--index or set {ENV_INDEX}.") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(_SCHEMA)
        yield conn
        conn.commit()
    except sqlite3.DatabaseError as exc:
        raise RunDirError(f"The runs index '{path}' is not a usable SQLite database ({exc}). "
                          f"Move it away (it is rebuilt by the next run) or pass --index.") from None
    finally:
        conn.close()


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_row(run_dir: str | Path) -> dict[str, Any]:
    """The index row of one run directory (read from its summary.json and config.yaml)."""
    run = Path(run_dir)
    path = run / SUMMARY
    if not path.is_file():
        raise RunDirError(f"'{run}' has no {SUMMARY}; only finished runs can be recorded. "
                          "Run `transferkit fit` to completion first.")
    summary = read_json(path)
    config: Any = {}
    if (run / CONFIG).is_file():
        try:
            config = yaml.safe_load((run / CONFIG).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            config = {}
    data = summary.get("data") or {}
    test = (summary.get("metrics") or {}).get("test") or {}
    scratch = (summary.get("baselines") or {}).get("scratch") or {}
    timings = summary.get("timings") or {}
    metrics = {split: {k: v for k, v in (m or {}).items() if _num(v) is not None}
               for split, m in (summary.get("metrics") or {}).items()}
    return {
        "run_dir": str(run.resolve()),
        "name": run.name,
        "recorded": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": summary.get("command"),
        "task": summary.get("task"),
        "data": data.get("target") or data.get("name"),
        "source": data.get("source"),
        "backbone": summary.get("backbone"),
        "strategy": summary.get("strategy"),
        "accuracy": _num(test.get("accuracy")),
        "balanced_accuracy": _num(test.get("balanced_accuracy")),
        "macro_f1": _num(test.get("macro_f1")),
        "ece": _num(test.get("ece")),
        "scratch_accuracy": _num((scratch.get("test") or {}).get("accuracy")),
        "transfer_gain": _num(summary.get("transfer_gain")),
        "n_train": data.get("n_train"),
        "total_s": _num(timings.get("total_s")),
        "train_s": _num(timings.get("train_s")),
        "n_warnings": len(summary.get("warnings") or []),
        "config": json.dumps(config, default=str),
        "metrics": json.dumps(metrics),
        "timings": json.dumps(timings),
        "summary": json.dumps(summary, default=str),
    }


def record_run(run_dir: str | Path, index: str | Path | None = None) -> Path | None:
    """Insert or update ``run_dir`` in the runs index; returns the index path.

    Called at the end of every run: when the index cannot be written (read-only folder,
    a file that is not SQLite) it warns and returns None instead of failing the run.
    """
    path = index_path(index)
    row = run_row(run_dir)
    try:
        with _connect(path, create=True) as conn:
            cols = list(row)
            conn.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})",
                [row[c] for c in cols],
            )
    except (RunDirError, OSError) as exc:
        warnings.warn(f"The run was not recorded in the runs index: {exc}", stacklevel=2)
        return None
    return path


def list_runs(index: str | Path | None = None, *, data: str | None = None,
              backbone: str | None = None, strategy: str | None = None,
              sort: str | None = None, descending: bool | None = None,
              limit: int | None = None, existing_only: bool = False) -> list[dict[str, Any]]:
    """Recorded runs as dicts (index columns, plus ``config``/``metrics``/``timings`` parsed).

    Filters match exactly (``data``, ``backbone``, ``strategy``); ``sort`` is one of
    :data:`SORT_KEYS` (numeric metrics sort best first: descending, except ``ece`` and
    the timings); default order is most recently recorded first.
    """
    if sort is not None and sort not in SORT_KEYS:
        raise ConfigError(f"The 'sort' parameter must be one of {', '.join(SORT_KEYS)}. "
                          f"Got '{sort}' instead.")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"The 'limit' parameter must be an int >= 1. Got {limit!r} instead.")
    path = index_path(index)
    if not path.is_file():
        return []
    where, params = [], []
    for column, value in (("data", data), ("backbone", backbone), ("strategy", strategy)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    key = sort or "recorded"
    if descending is None:
        descending = key not in ("ece", "total_s", "train_s", "n_warnings", "name", "data",
                                 "backbone", "strategy")
    sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
    # NULLs (runs without that metric) go last whatever the direction
    sql += f" ORDER BY {key} IS NULL, {key} {'DESC' if descending else 'ASC'}, recorded DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    with _connect(path, create=False) as conn:
        rows = [dict(r) for r in conn.execute(sql, params).fetchall()]
    out = []
    for row in rows:
        for blob in ("config", "metrics", "timings"):
            row[blob] = json.loads(row[blob]) if row.get(blob) else {}
        row.pop("summary", None)
        row["exists"] = Path(row["run_dir"]).is_dir()
        if existing_only and not row["exists"]:
            continue
        out.append(row)
    return out


def forget_run(run_dir: str | Path, index: str | Path | None = None) -> bool:
    """Remove ``run_dir`` from the index (the directory itself is left alone)."""
    path = index_path(index)
    if not path.is_file():
        return False
    with _connect(path, create=False) as conn:
        cur = conn.execute("DELETE FROM runs WHERE run_dir = ?", (str(Path(run_dir).resolve()),))
        return cur.rowcount > 0
