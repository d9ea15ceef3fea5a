"""Entity tags of token-classification data: schemes, conversion, repair, spans, shots.

Every tag file is converted to one internal scheme, **IOB2**: ``B-X`` opens an entity of
type X, ``I-X`` continues it, ``O`` is outside. The readers accept:

- **IOB2** (BIO): as is;
- **IOB1**: ``I-X`` opens an entity and ``B-X`` only separates two adjacent entities of
  the same type; converted exactly (an ``I-X`` after ``O`` or another type becomes ``B-X``);
- **BIOES** (and BILOU): ``S-X``/``U-X`` -> ``B-X``, ``E-X``/``L-X`` -> ``I-X``.

``scheme="auto"`` picks BIOES when any ``S-``/``E-``/``U-``/``L-`` tag appears, IOB1
when more entities open with ``I-`` than with ``B-`` (an IOB1 file), else IOB2. After
conversion an ``I-X`` that does not continue an X entity (after ``O``, another type, or
at a sentence start) is an orphan: ``repair="fix"`` turns it into ``B-X`` (what seqeval
and conlleval read it as) and counts it; ``repair="error"`` refuses the file, naming the
line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transferkit.errors import DataError

SCHEMES = ("auto", "iob2", "iob1", "bioes")
REPAIRS = ("fix", "error")
#: the target of a padded position (no word) and of every sub-token after a word's first
IGNORE = -100
#: every prefix a tag may carry, and what it is in IOB2
PREFIXES = {"B": "B", "I": "I", "S": "B", "U": "B", "E": "I", "L": "I"}


def split_tag(tag: str, where: str = "") -> tuple[str, str | None]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", None)``. A tag with another
    shape is a DataError naming ``where`` (file:line)."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix.upper() not in PREFIXES or not kind:
        raise DataError(f"{where}: tag {tag!r} is neither 'O' nor PREFIX-TYPE with a prefix among "
                        f"{', '.join(PREFIXES)} (e.g. 'B-person'). Fix the tag, or convert the file "
                        "to BIO tags.")
    return prefix.upper(), kind


def detect_scheme(tags: Sequence[Sequence[str]]) -> str:
    """The scheme of a file's tag sequences (see the module docstring)."""
    opened_b = opened_i = 0
    for seq in tags:
        prev: str | None = None
        for tag in seq:
            head, _, rest = tag.partition("-")
            prefix, kind = (head.upper(), rest) if rest else ("O", None)  # bad tags: to_iob2 names them
            if prefix in ("S", "U", "E", "L"):
                return "bioes"
            if prefix == "B":
                opened_b += 1
            elif prefix == "I" and prev != kind:
                opened_i += 1
            prev = kind
    return "iob1" if opened_i > opened_b else "iob2"


def to_iob2(tags: Sequence[str], scheme: str, repair: str = "fix",
            where: Sequence[str] | None = None) -> tuple[list[str], int]:
    """One sentence's tags in IOB2 and the number of orphan ``I-`` tags repaired.

    ``where`` names each tag's place (``file:line``) for the messages.

    >>> to_iob2(["I-PER", "I-PER", "O", "I-LOC"], "iob1")
    (['B-PER', 'I-PER', 'O', 'B-LOC'], 0)
    >>> to_iob2(["O", "I-PER"], "iob2")
    (['O', 'B-PER'], 1)
    """
    if scheme not in SCHEMES[1:]:
        raise DataError(f"The 'tag_scheme' parameter must be one of {', '.join(SCHEMES)}. Got {scheme!r}.")
    if repair not in REPAIRS:
        raise DataError(f"The 'tag_repair' parameter must be one of {', '.join(REPAIRS)}. Got {repair!r}.")
    out: list[str] = []
    repaired = 0
    prev: str | None = None  # the type of the entity the previous tag belongs to
    for i, tag in enumerate(tags):
        place = where[i] if where is not None else f"tag {i + 1}"
        prefix, kind = split_tag(tag, place)
        if kind is None:
            out.append("O")
            prev = None
            continue
        if scheme == "iob2" and prefix not in ("B", "I"):
            raise DataError(f"{place}: tag {tag!r} is BIOES, but the file was read as IOB2. Leave the "
                            "scheme to be detected, or convert the file.")
        iob = PREFIXES[prefix]
        if iob == "I" and prev != kind:
            if scheme == "iob1":
                iob = "B"  # IOB1: I- opens an entity
            elif repair == "error":
                after = f"after {out[-1]!r}" if out else "at the start of a sentence"
                raise DataError(f"{place}: tag {tag!r} continues no {kind} entity (it comes {after}). "
                                f"Fix the file, or pass --tag-repair fix to read it as 'B-{kind}'.")
            else:
                iob = "B"
                repaired += 1
        out.append(f"{iob}-{kind}")
        prev = kind
    return out, repaired


def tag_classes(types: Sequence[str]) -> list[str]:
    """The tag vocabulary of entity ``types``: ``O``, then ``B-T``, ``I-T`` per type."""
    return ["O"] + [f"{p}-{t}" for t in sorted(types) for p in ("B", "I")]


def encode_tags(sentences: Sequence[Sequence[str]], classes: Sequence[str], width: int | None = None
                ) -> np.ndarray:
    """IOB2 tag sentences -> int64 ``(N, W)`` class codes, padded with :data:`IGNORE`."""
    lookup = {c: i for i, c in enumerate(classes)}
    width = width if width is not None else max((len(s) for s in sentences), default=0)
    y = np.full((len(sentences), max(width, 1)), IGNORE, dtype=np.int64)
    for i, seq in enumerate(sentences):
        y[i, :len(seq)] = [lookup[t] for t in seq]
    return y


def decode_row(row: np.ndarray, classes: Sequence[str]) -> list[str]:
    """One sentence's codes (``IGNORE`` at padded positions) -> tag names."""
    return [classes[int(c)] for c in np.asarray(row) if c != IGNORE]


def spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities ``(type, start, end)`` (word indices, end exclusive) of IOB2 tags; an orphan
    ``I-X`` opens an entity, as seqeval's default mode reads it.

    >>> spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5)]
    """
    found: list[tuple[str, int, int]] = []
    kind: str | None = None
    start = 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, t = tag.partition("-")
        if kind is not None and (prefix != "I" or t != kind):
            found.append((kind, start, i))
            kind = None
        if prefix in ("B", "I") and kind is None:
            kind, start = t, i
    return found


def allowed_transitions(classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """What IOB2 allows of a tag vocabulary: ``(start, follows)``, bool ``(K,)`` and
    ``(K, K)``. A sentence may start with any tag but ``I-X``; ``follows[a, b]``: tag ``b``
    may come after tag ``a`` -- always, unless ``b`` is ``I-X`` and ``a`` is neither ``B-X``
    nor ``I-X``.

    >>> start, follows = allowed_transitions(["O", "B-PER", "I-PER"])
    >>> start.tolist(), follows[:, 2].tolist()
    ([True, True, False], [False, True, True])
    """
    kinds = [split_tag(c, f"class {i}") for i, c in enumerate(classes)]  # (prefix, type)
    inside = np.array([p == "I" for p, _ in kinds])  # (K,)
    start = ~inside
    follows = np.ones((len(kinds), len(kinds)), dtype=bool)
    for b, (_, kind) in enumerate(kinds):
        if inside[b]:
            follows[:, b] = [k == kind for _, k in kinds]  # B-X or I-X before I-X
    return start, follows


def entity_types(classes: Sequence[str]) -> list[str]:
    """The entity types of a tag vocabulary, sorted."""
    return sorted({c.partition("-")[2] for c in classes if c != "O"})


def sample_sentences(y: np.ndarray, classes: Sequence[str], shots: int, seed: int = 0) -> np.ndarray:
    """``shots`` sentences in total, chosen so that every entity type of the pool appears:
    the sentences are shuffled with ``seed``; then, rarest type first, each type not yet
    covered takes the first shuffled sentence that has an entity of it; the remaining
    places go to the next shuffled sentences. Returns sorted indices.

    A DataError when ``shots`` is larger than the pool or smaller than the number of
    types (not every type could appear).
    """
    y = np.asarray(y)
    if shots > len(y):
        raise DataError(f"The 'shots' parameter asks for {shots} training sentences, but the train split "
                        f"has only {len(y)}. Lower --shots to at most {len(y)}.")
    kinds = [c.partition("-")[2] if c.startswith("B-") else None for c in classes]
    has = {}  # type -> (N,) bool: the sentence opens an entity of it
    for code, kind in enumerate(kinds):
        if kind is not None:
            has[kind] = (y == code).any(axis=1)
    present = [k for k in has if has[k].any()]
    if shots < len(present):
        raise DataError(f"The 'shots' parameter asks for {shots} training sentences, fewer than the "
                        f"{len(present)} entity types ({', '.join(sorted(present))}); every type must "
                        f"appear. Raise --shots to at least {len(present)}.")
    order = np.random.default_rng(seed).permutation(len(y))
    chosen: list[int] = []
    taken = np.zeros(len(y), dtype=bool)
    for kind in sorted(present, key=lambda k: (int(has[k].sum()), k)):
        if any(has[kind][i] for i in chosen):
            continue
        i = int(next(j for j in order if has[kind][j]))
        chosen.append(i)
        taken[i] = True
    for j in order:
        if len(chosen) >= shots:
            break
        if not taken[j]:
            chosen.append(int(j))
            taken[j] = True
    return np.sort(np.asarray(chosen, dtype=np.int64))


def describe_tags(y: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Entities per type and sentences of a split (for summaries and `datasets`)."""
    counts: dict[str, int] = {}
    for row in np.asarray(y):
        for kind, _, _ in spans(decode_row(row, classes)):
            counts[kind] = counts.get(kind, 0) + 1
    return {"sentences": int(len(y)), "entities": dict(sorted(counts.items()))}


__all__ = ["IGNORE", "REPAIRS", "SCHEMES", "allowed_transitions", "decode_row", "describe_tags", "detect_scheme", "encode_tags",
           "entity_types", "sample_sentences", "spans", "split_tag", "tag_classes", "to_iob2"]
