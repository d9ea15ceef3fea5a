"""Several series datasets read as one source: ``--data osuleaf,acsf1,pickup-gesture-wiimote-z``.

A comma-separated list of series datasets (built-in names or files) is one dataset whose
classes are ``<set>/<class>`` (so a supervised source learns every set's labels at once)
and whose official test split is the sets' test splits together. Each series is linearly
resampled to one common length, ``L`` = the median length of all the sets' series unless
the list ends in ``@L`` (``--data osuleaf,acsf1@128``): the sets' time scales become
comparable and a batch is not padded to the longest set. The resampling is stated in the
data's warnings (printed by ``fit`` and ``pretrain``). Every set needs the same channel
count; a set that is not a series dataset is an error naming it.

>>> pool, test = combined_series("osuleaf,acsf1", load_parts)  # doctest: +SKIP
>>> pool.classes[:2]
['osuleaf/1', 'osuleaf/2']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError


def is_series_list(text: str) -> bool:
    """True for a comma-separated list of datasets (not one existing path with a comma)."""
    return "," in text and not Path(text).expanduser().exists()


def parse_list(text: str) -> tuple[list[str], int | None]:
    """``"a,b,c@128"`` -> (["a", "b", "c"], 128); without ``@L`` the length is None."""
    names, _, length = text.partition("@")
    parts = [p.strip() for p in names.split(",") if p.strip()]
    if len(parts) < 2 or len(set(parts)) != len(parts):
        raise DataError(f"'{text}' is not a list of two or more different series datasets; pass e.g. "
                        "--data osuleaf,acsf1,pickup-gesture-wiimote-z (optionally @<length>).")
    if not length:
        return parts, None
    try:
        value = int(length)
    except ValueError:
        value = 0
    if value < 2:
        raise DataError(f"The common length after '@' in '{text}' must be an int >= 2 (the steps every "
                        f"series is resampled to). Got {length!r}.")
    return parts, value


def resample(a: np.ndarray, length: int) -> np.ndarray:
    """A ``(T, C)`` series linearly interpolated at ``length`` evenly spaced points of its span
    (a missing value stays missing near where it was)."""
    a = np.asarray(a, dtype=np.float32)
    a = a[:, None] if a.ndim == 1 else a
    if len(a) == length:
        return a
    if len(a) == 1:
        return np.repeat(a, length, axis=0)
    old, new = np.linspace(0.0, 1.0, len(a)), np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(new, old, a[:, c]) for c in range(a.shape[1])], axis=1).astype(np.float32)


def combined_series(text: str, load_parts: Callable[[str], tuple[TransferDataset, TransferDataset | None]]
                    ) -> tuple[TransferDataset, TransferDataset | None]:
    """The listed sets as one (pool, official test); ``load_parts(name)`` reads one set."""
    names, length = parse_list(text)
    parts = []
    for name in names:
        pool, test = load_parts(name)
        if pool.modality != "sequence" or (test is not None and test.modality != "sequence"):
            raise DataError(f"'{name}' in --data {text} holds {pool.modality} data; a list of datasets "
                            "combines series datasets only.")
        parts.append((name, pool, test))
    items = {name: [[np.asarray(d.input(i), dtype=np.float32) for i in range(len(d))]
                    for d in (pool, test) if d is not None] for name, pool, test in parts}
    lengths = [len(a) for groups in items.values() for g in groups for a in g]
    channels = {name: {(a.shape[1] if a.ndim == 2 else 1) for g in groups for a in g}
                for name, groups in items.items()}
    if len({c for cs in channels.values() for c in cs}) > 1:
        said = ", ".join(f"{n}: {'/'.join(map(str, sorted(c)))}" for n, c in channels.items())
        raise DataError(f"The datasets in --data {text} have different channel counts ({said}); a list of "
                        "datasets needs one channel count. Leave out the sets that differ.")
    common = length or int(np.median(lengths))
    note = (f"--data {text}: {len(names)} series datasets as one source, every series resampled "
            f"(linear interpolation) from {min(lengths)}-{max(lengths)} steps to {common}; classes are "
            "<set>/<class>")
    out = []
    for which in (0, 1):
        sets = [(name, d[which]) for name, *d in parts if d[which] is not None]
        if which == 1 and len(sets) < len(parts):
            out.append(None)  # a set without a test split: the splitter carves one from the pool
            continue
        x, labels = [], []
        for name, d in sets:
            x += [resample(a, common) for a in items[name][which]]
            labels += [f"{name}/{d.classes[int(k)]}" for k in d.y]
        classes = sorted(set(labels))
        index = {c: k for k, c in enumerate(classes)}
        out.append(TransferDataset(name=text, modality="sequence", x=np.stack(x),
                                   y=np.array([index[c] for c in labels]), classes=classes,
                                   split="train" if which == 0 else "test",
                                   ids=[f"{text}[{i}]" for i in range(len(x))],
                                   meta={"kind": "series", "where": f"--data {text}",
                                         "warnings": [note] if which == 0 else [],
                                         "sources": names, "series_length": common}))
    if out[1] is not None:  # one class list for both splits
        out[1] = _with_classes(out[1], out[0].classes)
    return out[0], out[1]


def _with_classes(d: TransferDataset, classes: list[str]) -> TransferDataset:
    """``d`` relabelled onto ``classes`` (a class only in ``d`` is appended)."""
    full = classes + [c for c in d.classes if c not in classes]
    index = {c: k for k, c in enumerate(full)}
    y = np.array([index[d.classes[int(k)]] for k in d.y])
    return TransferDataset(name=d.name, modality=d.modality, x=d.x, y=y, classes=full, split=d.split,
                           ids=d.ids, meta=d.meta)
