"""Stratified, seeded splits; k-shot samples; leakage (exact duplicates across splits).

The split is seeded by ``split_seed`` alone (default 0), so the test set is the same in
every run; ``seed`` only chooses the few-shot sample. Every split keeps the original
order of the data (the test split's "first N" is well defined).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.data.lazy import LazyImages
from transferkit.data.lazy_text import LazyTexts
from transferkit.errors import DataError


def _round(v: float) -> int:
    return int(np.floor(v + 0.5))  # half up, not banker's rounding


def _class_name(classes: list[str] | None, c: int) -> str:
    return repr(classes[c]) if classes is not None and c < len(classes) else str(c)


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int = 0,
                     classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test), each sorted, partitioning ``range(len(y))``.

    Per class c with n_c examples: n_test = round(n_c * test_fraction) and n_val =
    round(n_c * val_fraction), each at least 1 when its fraction is > 0, the rest to
    train (at least 1). A class too small for that raises DataError naming it.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_test = max(1, _round(n * test_fraction)) if test_fraction > 0 else 0
        n_val = max(1, _round(n * val_fraction)) if val_fraction > 0 else 0
        while n - n_test - n_val < 1 and max(n_test, n_val) > 1:  # leave train at least one
            if n_test >= n_val:
                n_test -= 1
            else:
                n_val -= 1
        if n - n_test - n_val < 1:
            names = ["train"] + ["val"] * (val_fraction > 0) + ["test"] * (test_fraction > 0)
            # fit reports its metrics on the test split, so only the validation split can go
            no_val = (" or set data.val_fraction=0 (no validation split: no early stopping)"
                      if val_fraction > 0 else "")
            raise DataError(
                f"Class {_class_name(classes, int(c))} has {n} example(s), too few to put at least one "
                f"in each of the {len(names)} splits ({', '.join(names)}). Add examples of it, remove "
                f"the class{',' if no_val else ''}{no_val}."
            )
        parts[0].append(idx[n_test + n_val:])
        parts[1].append(idx[n_test:n_test + n_val])
        parts[2].append(idx[:n_test])
    out = tuple(np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)
    return out  # type: ignore[return-value]


def sample_shots(y: np.ndarray, shots: int, seed: int = 0,
                 classes: list[str] | None = None) -> np.ndarray:
    """Sorted indices of ``shots`` examples per class, drawn with ``seed``.

    For one seed the samples are nested: the 10-shot set is part of the 100-shot set.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < shots:
            raise DataError(
                f"The 'shots' parameter asks for {shots} training examples per class, but class "
                f"{_class_name(classes, int(c))} has only {len(idx)} in the train split. Lower "
                f"--shots to at most {len(idx)}, or lower val_fraction/test_fraction."
            )
        out.append(idx[rng.permutation(len(idx))[:shots]])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def carve_per_class(y: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``round(n_c * fraction)`` examples of each class c (at least 1, and
    at least 1 left over), drawn with ``seed``: a validation part carved from few-shot
    training examples. A class with a single example gives none."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        take = min(max(1, _round(len(idx) * fraction)), len(idx) - 1)
        out.append(idx[rng.permutation(len(idx))[:take]])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def iterative_parts(y: np.ndarray, fractions: list[float], seed: int = 0) -> list[np.ndarray]:
    """Sorted indices of parts of a multi-hot ``(N, L)`` matrix with the given ``fractions``
    (summing to 1), by iterative stratification (Sechidis, Tsoumakas & Vlahavas, ECML PKDD
    2011, Algorithm 1): the label with the fewest remaining examples is distributed first,
    each of its examples going to the part that still wants most of that label (ties: the
    part that wants most examples, then at random); rows without labels fill the parts
    that want most examples. Each part's label counts stay close to ``fraction * count``.
    """
    y = np.asarray(y, dtype=bool)
    n, n_labels = y.shape
    rng = np.random.default_rng(seed)
    frac = np.asarray(fractions, dtype=np.float64)
    want = frac * n  # (P,) examples each part still wants
    want_label = frac[:, None] * y.sum(axis=0)[None, :]  # (P, L)
    part = np.full(n, -1, dtype=np.int64)
    left = y.copy()  # labels of the rows not yet placed
    remaining = left.sum(axis=0)

    def place(i: int, scores: np.ndarray) -> None:
        best = np.flatnonzero(scores == scores.max())
        if len(best) > 1:  # ties: the part that wants most examples, then at random
            best = best[want[best] == want[best].max()]
        p = int(rng.choice(best)) if len(best) > 1 else int(best[0])
        part[i] = p
        want[p] -= 1
        want_label[p] -= y[i]
        left[i] = False

    while remaining.any():
        label = int(np.flatnonzero(remaining)[np.argmin(remaining[remaining > 0])])
        rows = np.flatnonzero(left[:, label])
        for i in rows[rng.permutation(len(rows))]:
            place(int(i), np.where(frac > 0, want_label[:, label], -np.inf))
        remaining = left.sum(axis=0)
    for i in rng.permutation(np.flatnonzero(part < 0)):  # rows with an empty label set
        place(int(i), np.where(frac > 0, want, -np.inf))
    return [np.flatnonzero(part == p) for p in range(len(frac))]


def iterative_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int = 0,
                    classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test) of a multi-hot matrix ``y``, by iterative stratification
    (:func:`iterative_parts`); a label with fewer positives than the parts that need it
    raises DataError naming it (every label needs positives in train)."""
    y = np.asarray(y)
    counts = y.sum(axis=0)
    if len(y) and (counts < 1).any():
        raise DataError(f"The label(s) {[_class_name(classes, int(j)) for j in np.flatnonzero(counts < 1)]} "
                        "have no positive example. Remove them or add examples with them.")
    tr, va, te = iterative_parts(y, [1.0 - val_fraction - test_fraction, val_fraction, test_fraction], seed)
    return tr, va, te


def iterative_cap(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` rows of a multi-hot matrix, by iterative stratification."""
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    return iterative_parts(y, [n / len(y), 1.0 - n / len(y)], seed)[0]


def sample_shots_multilabel(y: np.ndarray, shots: int, seed: int = 0,
                            classes: list[str] | None = None) -> np.ndarray:
    """Sorted indices of rows of a multi-hot matrix with at least ``shots`` positives of every
    label, chosen greedily: rarest label first, rows drawn in one seeded random order, a row
    taken only while its label still needs positives (rows chosen for one label count for
    every label they carry)."""
    y = np.asarray(y, dtype=bool)
    counts = y.sum(axis=0)
    short = [j for j in np.flatnonzero(counts < shots)]
    if short:
        j = int(short[0])
        raise DataError(
            f"The 'shots' parameter asks for at least {shots} positive training examples per label, "
            f"but the label {_class_name(classes, j)} has only {int(counts[j])} in the train split. "
            f"Lower --shots to at most {int(counts.min())}, or lower val_fraction/test_fraction.")
    order = np.random.default_rng(seed).permutation(len(y))
    chosen = np.zeros(len(y), dtype=bool)
    for j in np.argsort(counts, kind="stable"):
        need = shots - int(y[chosen, j].sum())
        if need <= 0:
            continue
        candidates = order[y[order, j] & ~chosen[order]]
        chosen[candidates[:need]] = True
    return np.flatnonzero(chosen)


def stratified_cap(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` examples, allocated to classes in proportion (largest remainder)."""
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    labels, counts = np.unique(y, return_counts=True)
    quota = counts * n / len(y)
    take = np.floor(quota).astype(int)
    for k in np.argsort(-(quota - take), kind="stable")[: n - int(take.sum())]:
        take[k] += 1
    rng = np.random.default_rng(seed)
    out = [np.flatnonzero(y == c)[rng.permutation(k_all)[:k]]
           for c, k_all, k in zip(labels, counts, take, strict=True)]
    return np.sort(np.concatenate(out))


def concat(a: TransferDataset, b: TransferDataset, name: str | None = None) -> TransferDataset:
    """``a`` followed by ``b`` (same modality and classes)."""
    if a.modality != b.modality or list(a.classes) != list(b.classes):
        raise DataError(f"Cannot join datasets '{a.name}' ({a.modality}, {a.classes}) and "
                        f"'{b.name}' ({b.modality}, {b.classes}).")
    if a.modality == "table":
        import pandas as pd

        x: Any = pd.concat([a.x, b.x], ignore_index=True)
    elif isinstance(a.x, np.ndarray) and isinstance(b.x, np.ndarray) and a.x.shape[1:] == b.x.shape[1:]:
        x = np.concatenate([a.x, b.x])
    elif (isinstance(a.x, LazyImages) and isinstance(b.x, LazyImages)) or (
            isinstance(a.x, LazyTexts) and isinstance(b.x, LazyTexts)):
        x = a.x + b.x  # still paths and offsets: nothing is read
    else:
        x = list(a.x) + list(b.x)
    ids = (a.ids or [f"{a.name}[{i}]" for i in range(len(a))]) + (
        b.ids or [f"{b.name}[{i}]" for i in range(len(b))])
    return TransferDataset(name=name or a.name, modality=a.modality, x=x, y=np.concatenate([a.y, b.y]),
                           classes=list(a.classes), domain=a.domain, split="all", schema=a.schema,
                           ids=ids, skipped=a.skipped + b.skipped, meta=dict(a.meta))


def _item_hashes(ds: TransferDataset) -> list[str] | np.ndarray:
    """Content hash per example; for a table pandas' uint64 row hashes, as an array."""
    if ds.modality == "table":
        import pandas as pd

        return pd.util.hash_pandas_object(ds.x, index=False).to_numpy()
    if len(ds) == 0:  # e.g. val_fraction=0: no validation split
        return []
    if isinstance(ds.x, np.ndarray):
        import hashlib

        flat = np.ascontiguousarray(ds.x).reshape(len(ds.x), -1)
        return [hashlib.sha1(row.tobytes()).hexdigest() for row in flat]
    return [ds.item_hash(i) for i in range(len(ds))]


def _duplicate_pairs(a: list[str] | np.ndarray, b: list[str] | np.ndarray) -> list[tuple[int, int]]:
    """``(i, j)`` for each example ``j`` of ``b`` whose hash is in ``a``, ``i`` its first
    position there; hash arrays (tables: millions of rows) are matched by sorting."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        order = np.argsort(a, kind="stable")  # equal hashes keep their order: the first one leads
        js = np.flatnonzero(np.isin(b, a))
        firsts = order[np.searchsorted(a[order], b[js])]
        return list(zip(firsts.tolist(), js.tolist(), strict=True))
    first: dict[str, int] = {}
    for i, h in enumerate(a):
        first.setdefault(h, i)
    return [(first[h], j) for j, h in enumerate(b) if h in first]


def find_leakage(parts: dict[str, TransferDataset], examples: int = 2) -> list[str]:
    """Warnings for inputs that appear in two splits (exact duplicates by content hash).

    ``parts`` maps split name -> dataset, e.g. {"train": ..., "val": ..., "test": ...}.
    """
    hashes = {name: _item_hashes(ds) for name, ds in parts.items()}
    names = list(parts)
    warnings = []
    for a_pos, a in enumerate(names):
        for b in names[a_pos + 1:]:
            pairs = _duplicate_pairs(hashes[a], hashes[b])
            if not pairs:
                continue
            ids_a, ids_b = parts[a].ids, parts[b].ids
            shown = ", ".join(
                f"{b} {ids_b[j] if ids_b else j} = {a} {ids_a[i] if ids_a else i}" for i, j in pairs[:examples])
            warnings.append(
                f"leakage: {len(pairs)} of {len(parts[b])} {b} examples are exact duplicates of {a} "
                f"examples (e.g. {shown}); metrics on {b} are optimistic. Remove the duplicates "
                "from the data."
            )
    return warnings


@dataclass
class Splits:
    """Train, validation and test parts of one dataset, plus what loading found.

    ``leakage`` holds human-readable warnings about duplicates across splits, ``skipped``
    the unreadable files left out (``{"file": ..., "error": ...}``), ``warnings`` any other
    data warning (empty texts, imputed values).
    """

    train: TransferDataset
    val: TransferDataset
    test: TransferDataset
    leakage: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return list(self.train.classes)

    def describe(self) -> dict[str, Any]:
        """The ``data`` section of summary.json."""
        return {
            "target": self.train.name,
            "domain": self.train.meta.get("domain"),
            "n_train": len(self.train),
            "n_val": len(self.val),
            "n_test": len(self.test),
            "classes": self.classes,
            "shots": self.train.meta.get("shots"),
            **{k: self.train.meta[k] for k in ("split_by", "shots_sampling", "validation")
               if k in self.train.meta},
            "skipped": list(self.skipped),
        }
