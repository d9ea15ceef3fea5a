"""Streaming prediction: ``transferkit predict RUN INPUTS... --output FILE``.

Inputs are read and predicted in chunks (``chunk_size`` items), and each chunk's rows are
appended to ``FILE.partial`` as soon as they exist, which is renamed to ``FILE`` when every
input is done: memory holds one chunk, not the whole input, and nothing is written to
``FILE`` itself until it is complete. Image files are decoded in a thread pool
(``workers``) one chunk ahead of the model. An interrupted run is continued with
``resume=True`` (``--resume``): the rows already in ``FILE.partial`` are kept (a last line
cut off by the interruption is dropped) and their inputs are not predicted again.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from transferkit.errors import ConfigError, DataError


def _image_paths(inputs: list[Any]) -> list[Path] | None:
    """The image files of ``inputs`` when every input is a path (files and folders)."""
    from transferkit.data.inputs import expand_image_paths

    if not inputs or not all(isinstance(i, (str, Path)) for i in inputs):
        return None
    return expand_image_paths([Path(i) for i in inputs])


def _done_inputs(partial: Path) -> tuple[set[str], list[str] | None]:
    """(inputs already written, header) of an interrupted output; a torn last line is cut."""
    if not partial.is_file():
        return set(), None
    text = partial.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        partial.write_text(text, encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return set(), None
    header = rows[0]
    if "input" not in header:
        raise ConfigError(f"'{partial}' is not an interrupted transferkit predict output (no 'input' "
                          "column); remove it or write to another --output.")
    col = header.index("input")
    return {r[col] for r in rows[1:] if len(r) > col}, header


def _chunks(predictor: Any, inputs: list[Any], chunk_size: int, workers: int, skip_bad: bool,
            max_pixels: int | None, done: set[str]) -> Iterator[tuple[list[str], list[Any]]]:
    """(ids, items) per chunk of the inputs not yet done; images decoded ahead in a pool."""
    from transferkit.data.inputs import collect_inputs

    paths = _image_paths(inputs) if predictor.modality == "image" else None
    if paths is None:  # texts, rows, series, arrays: read once, predicted chunk by chunk
        ids, items = collect_inputs(inputs, predictor.modality, predictor.manifest.get("data"),
                                    skip_bad=skip_bad, max_pixels=max_pixels)
        keep = [i for i, name in enumerate(ids) if name not in done]
        for start in range(0, len(keep), chunk_size):
            part = keep[start:start + chunk_size]
            yield [ids[i] for i in part], [items[i] for i in part]
        return
    todo = [p for p in paths if str(p) not in done]
    groups = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]

    def read(group: list[Path]) -> tuple[list[str], list[Any]]:
        return collect_inputs(group, "image", skip_bad=skip_bad, max_pixels=max_pixels)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        ahead = [pool.submit(read, g) for g in groups[:2]]
        for i in range(len(groups)):
            ids, items = ahead[i].result()
            if i + 2 < len(groups):
                ahead.append(pool.submit(read, groups[i + 2]))
            yield ids, items


def file_writer(predictor: Any, output_dir: str | None) -> Any:
    """The task's ``write_outputs`` when ``output_dir`` is given (None without it); a task
    that writes rows only refuses ``--output-dir``."""
    if not output_dir:
        return None
    write = getattr(predictor.task, "write_outputs", None)
    if write is None:
        raise ConfigError(f"The '--output-dir' option applies to tasks that predict files (e.g. "
                          f"segmentation masks); the {predictor.task.name} task writes rows only. Drop it.")
    return write


def predicted_rows(predictor: Any, ids: list[str], items: list[Any], output_dir: str | None = None
                   ) -> list[dict[str, Any]]:
    """One row per input (``input`` first, then the task's columns); with ``output_dir`` the
    task's files (e.g. mask PNGs) are written there and each row names its ``output``."""
    from transferkit.novelty import with_columns

    outputs, extra = predictor.outputs_items(items)  # extra: novelty columns, when the run has them
    rows = [{"input": name, **row} for name, row in
            zip(ids, with_columns(predictor.task.rows_for(items, outputs, predictor.manifest), extra), strict=True)]
    write = file_writer(predictor, output_dir)
    if write is not None:
        paths = write(ids, items, outputs, predictor.manifest, output_dir)
        rows = [{"input": r["input"], "output": p, **{k: v for k, v in r.items() if k != "input"}}
                for r, p in zip(rows, paths, strict=True)]
    return rows


def stream_predictions(predictor: Any, inputs: list[Any], output: str | Path, *, chunk_size: int = 512,
                       workers: int = 2, resume: bool = False, skip_bad: bool = False,
                       max_pixels: int | None = None, output_dir: str | None = None) -> int:
    """Predict ``inputs`` with ``predictor`` into the CSV ``output``, chunk by chunk (see the
    module docstring). Returns the number of rows in the finished file."""
    if chunk_size < 1 or workers < 1:
        raise ConfigError(f"--chunk-size and --workers must be >= 1. Got {chunk_size} and {workers}.")
    out = Path(output)
    partial = out.with_name(out.name + ".partial")
    if partial.exists() and not resume:
        raise ConfigError(f"'{partial}' holds an interrupted prediction into '{out}'. Continue it with "
                          "--resume, or delete it to start again.")
    done, header = _done_inputs(partial) if resume else (set(), None)
    file_writer(predictor, output_dir)  # a wrong --output-dir is refused before any work
    written = len(done)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8", newline="") as fh:
        writer: csv.DictWriter | None = None
        for ids, items in _chunks(predictor, list(inputs), chunk_size, workers, skip_bad, max_pixels, done):
            if not ids:
                continue
            rows = predicted_rows(predictor, ids, items, output_dir)
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=header or list(rows[0]), extrasaction="ignore")
                if header is None:
                    writer.writeheader()
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
            written += len(rows)
    if written == 0:
        partial.unlink(missing_ok=True)
        raise DataError("Nothing to predict: every input was skipped or none was given.")
    os.replace(partial, out)
    return written


__all__ = ["file_writer", "predicted_rows", "stream_predictions"]
