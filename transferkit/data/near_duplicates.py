"""Near-duplicate leakage: examples of two splits that are almost the same input.

Exact duplicates are found by content hash (:func:`transferkit.data.splits.find_leakage`);
an image re-saved with one pixel changed, or a text with a trailing space or different
punctuation, has another hash but the same meaning. Such pairs are found as nearest
neighbours in a feature space -- the backbone's cached features, which a fit computes
anyway -- by cosine similarity: one exact k=1 query of each later split (val, test)
against each earlier one (train, val), in chunks, so memory stays ``chunk x N``.

Features are centred on the first split's mean first: pooled backbone features are mostly
positive, so raw cosines of unrelated inputs crowd near 1 (digits with efficientnet_lite0:
18 of 359 test images at >= 0.98 to some training image, none a copy; centred: none,
the highest 0.958).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from transferkit.data.dataset import TransferDataset

#: modalities whose features make "almost the same input" meaningful
MODALITIES = ("image", "text")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def nearest_cosine(query: np.ndarray, ref: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, index) of each query row's nearest ``ref`` row by cosine similarity.

    >>> sim, idx = nearest_cosine(np.array([[1.0, 0.1], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> idx.tolist(), [round(float(s), 3) for s in sim]
    ([0, 1], [0.995, 1.0])
    """
    q, r = _unit(query), _unit(ref)
    sims, idx = np.zeros(len(q), np.float32), np.zeros(len(q), np.int64)
    for start in range(0, len(q), chunk):
        s = q[start:start + chunk] @ r.T  # (chunk, N_ref)
        idx[start:start + chunk] = s.argmax(axis=1)
        sims[start:start + chunk] = s.max(axis=1)
    return sims, idx


def find_near_duplicates(parts: Mapping[str, TransferDataset], features: Mapping[str, np.ndarray],
                         threshold: float, examples: int = 2) -> list[str]:
    """Warnings for examples whose features (centred on the first split's mean) have a cosine
    similarity >= ``threshold`` to an example of an earlier split (``parts`` in order, e.g.
    train, val, test). Exact
    duplicates are left out: :func:`~transferkit.data.splits.find_leakage` reports them.

    ``features`` maps split name -> ``(N, D)`` array in the split's order; splits without
    features (or empty) are skipped.
    """
    names = [n for n in parts if n in features and len(parts[n])]
    if not names:
        return []
    centre = np.asarray(features[names[0]], dtype=np.float32).reshape(len(parts[names[0]]), -1).mean(0)
    feats = {n: np.asarray(features[n], dtype=np.float32).reshape(len(parts[n]), -1) - centre
             for n in names}
    warnings = []
    for a_pos, a in enumerate(names):
        for b in names[a_pos + 1:]:
            sim, nn = nearest_cosine(feats[b], feats[a])
            hits = [int(j) for j in np.argsort(-sim, kind="stable") if sim[j] >= threshold
                    and parts[b].item_hash(int(j)) != parts[a].item_hash(int(nn[j]))]
            if not hits:
                continue
            ids_a, ids_b = parts[a].ids, parts[b].ids
            shown = ", ".join(f"{b} {ids_b[j] if ids_b else j} ~ {a} {ids_a[nn[j]] if ids_a else nn[j]} "
                              f"({sim[j]:.3f})" for j in hits[:examples])
            warnings.append(
                f"near-duplicate leakage: {len(hits)} of {len(parts[b])} {b} examples are near copies "
                f"of {a} examples (cosine similarity >= {threshold:g} of their backbone features; e.g. "
                f"{shown}); metrics on {b} may be optimistic. Look at these pairs and remove the copies "
                "from the data, or raise data.near_duplicate_threshold if they are distinct (0: off)."
            )
    return warnings


__all__ = ["MODALITIES", "find_near_duplicates", "nearest_cosine"]
