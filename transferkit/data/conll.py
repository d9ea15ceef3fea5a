"""Token-classification files: CoNLL-style columns and JSONL with ``tokens`` and ``tags``.

CoNLL-style (``.conll``, ``.conllu``-like ``.iob``, ``.bio``, ``.bioes``, ``.tsv`` or
``.txt`` whose lines look so): one token per line, its tag in the **last** column, columns
separated by a tab (a line with a tab splits on tabs only, so tokens may hold spaces) or
by spaces; a blank line, or a line of whitespace only, ends a sentence; ``-DOCSTART-``
lines are ignored. JSONL: one object per line with equal-length ``tokens`` and ``tags``
lists. Tags are converted to IOB2 and validated (see :mod:`transferkit.data.tags`).

The dataset is text whose inputs are lists of words (``x[i]``: list of str) and whose
targets are an int64 ``(N, W)`` matrix of tag codes padded with -100; ``meta["per_token"]``
marks it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transferkit.data.dataset import TransferDataset
from transferkit.data.tags import REPAIRS, detect_scheme, encode_tags, tag_classes, to_iob2
from transferkit.errors import DataError

#: suffixes always read as CoNLL-style token files
CONLL_SUFFIXES = (".conll", ".iob", ".bio", ".bioes", ".iob2", ".ner")
#: how a raw text is cut into words: URLs, @mentions and #hashtags whole, words with inner
#: apostrophes, hyphens or dots ("don't", "U.S", "e-mail"), every other symbol alone
WORD_PATTERN = re.compile(r"https?://\S+|[@#]?\w+(?:['\u2019.\-]\w+)*|[^\w\s]")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """``(word, start, end)`` character offsets of a text's words (see :data:`WORD_PATTERN`).

    >>> split_words("Apple's store, Paris")
    [("Apple's", 0, 7), ('store', 8, 13), (',', 13, 14), ('Paris', 15, 20)]
    """
    return [(m.group(), m.start(), m.end()) for m in WORD_PATTERN.finditer(text)]


def token_dataset(name: str, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]],
                  where: Sequence[Sequence[str]] | None = None, *, repair: str = "fix",
                  scheme: str = "auto", meta: dict[str, Any] | None = None,
                  ids: list[str] | None = None) -> TransferDataset:
    """A token-classification dataset from sentences of words and their tags (any scheme);
    ``where`` names each tag's place (``file:line``) in messages."""
    if repair not in REPAIRS:
        raise DataError(f"The 'tag_repair' parameter must be one of {', '.join(REPAIRS)}. Got {repair!r} "
                        "instead.")
    if not words:
        raise DataError(f"'{name}' holds no sentence (token TAB tag lines, sentences separated by "
                        "blank lines; or JSONL with 'tokens' and 'tags').")
    chosen = detect_scheme(tags) if scheme == "auto" else scheme
    converted, repaired, first = [], 0, None
    for i, seq in enumerate(tags):
        fixed, n = to_iob2(seq, chosen, repair, where[i] if where is not None else
                           [f"{name}: sentence {i + 1}, token {j + 1}" for j in range(len(seq))])
        if n and first is None:
            first = where[i][0] if where is not None else f"sentence {i + 1}"
        repaired += n
        converted.append(fixed)
    types = sorted({t[2:] for seq in converted for t in seq if t != "O"})
    classes = tag_classes(types)
    warnings = []
    if repaired:
        warnings.append(f"{name}: {repaired} 'I-' tag(s) continued no entity and were read as 'B-' "
                        f"(first near {first}); pass --tag-repair error to refuse such files.")
    info = {"per_token": True, "tag_scheme": chosen, "entity_types": types, "tags_repaired": repaired,
            "warnings": warnings, **(meta or {})}
    return TransferDataset(name=name, modality="text", x=[list(w) for w in words],
                           y=encode_tags(converted, classes), classes=classes, ids=ids, meta=info)


def read_conll(path: str | Path, repair: str = "fix", scheme: str = "auto",
               encoding: str = "utf-8") -> TransferDataset:
    """A CoNLL-style token file (see the module docstring)."""
    path = Path(path)
    words: list[list[str]] = []
    tags: list[list[str]] = []
    where: list[list[str]] = []
    cur_w: list[str] = []
    cur_t: list[str] = []
    cur_at: list[str] = []

    def close() -> None:
        if cur_w:
            words.append(list(cur_w))
            tags.append(list(cur_t))
            where.append(list(cur_at))
            cur_w.clear()
            cur_t.clear()
            cur_at.clear()

    with path.open(encoding=encoding, errors="strict") as fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                close()
                continue
            cols = [c.strip() for c in line.split("\t")] if "\t" in line else line.split()
            cols = [c for c in cols if c != ""] if "\t" not in line else cols
            if cols[0] == "-DOCSTART-":
                close()
                continue
            if len(cols) < 2 or not cols[0] or not cols[-1]:
                raise DataError(f"{path}:{n}: expected a token and its tag separated by a tab or spaces; "
                                f"got {line[:80]!r}. Each line holds one token and its tag (last column); "
                                "a blank line ends a sentence.")
            cur_w.append(cols[0])
            cur_t.append(cols[-1])
            cur_at.append(f"{path}:{n}")
    close()
    return token_dataset(path.stem, words, tags, where, repair=repair, scheme=scheme,
                         meta={"source": str(path), "kind": "file"})


def read_token_jsonl(path: str | Path, repair: str = "fix", scheme: str = "auto") -> TransferDataset:
    """JSONL with one ``{"tokens": [...], "tags": [...]}`` object per line."""
    path = Path(path)
    words, tags, where = [], [], []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}:{n}: not a JSON object ({exc}).") from None
            tokens, labels = obj.get("tokens"), obj.get("tags")
            if not isinstance(tokens, list) or not isinstance(labels, list) or len(tokens) != len(labels):
                raise DataError(f"{path}:{n}: expected equal-length 'tokens' and 'tags' lists; got "
                                f"{type(tokens).__name__} and {type(labels).__name__}"
                                f"{f' of lengths {len(tokens)} and {len(labels)}' if isinstance(tokens, list) and isinstance(labels, list) else ''}.")
            if not tokens:
                continue
            words.append([str(t) for t in tokens])
            tags.append([str(t) for t in labels])
            where.append([f"{path}:{n} (token {j + 1})" for j in range(len(tokens))])
    return token_dataset(path.stem, words, tags, where, repair=repair, scheme=scheme,
                         meta={"source": str(path), "kind": "file"})


def is_token_file(path: Path) -> bool:
    """True when ``path`` is a token-classification file: a CoNLL suffix; a JSONL whose
    first object has ``tokens`` and ``tags``; or a ``.txt``/``.tsv`` whose first
    non-blank lines are token-and-tag pairs with tags like ``O`` or ``B-X``."""
    suffix = path.suffix.lower()
    if suffix in CONLL_SUFFIXES:
        return True
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = [line for _, line in zip(range(50), fh, strict=False)]
    except OSError:
        return False
    lines = [h.strip() for h in head if h.strip()]
    if not lines:
        return False
    if suffix in (".jsonl", ".json"):
        try:
            obj = json.loads(lines[0])
        except ValueError:
            return False
        return isinstance(obj, dict) and "tokens" in obj and "tags" in obj
    if suffix not in (".txt", ".tsv"):
        return False
    cols = [line.split() for line in lines if not line.startswith("-DOCSTART-")]
    return bool(cols) and all(len(c) >= 2 and (c[-1] == "O" or c[-1][1:2] == "-") for c in cols)


def read_token_file(path: Path, repair: str = "fix") -> TransferDataset:
    """A token-classification file by its kind (JSONL or CoNLL-style)."""
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_token_jsonl(path, repair)
    return read_conll(path, repair)


__all__ = ["CONLL_SUFFIXES", "WORD_PATTERN", "is_token_file", "split_words", "read_conll", "read_token_file", "read_token_jsonl",
           "token_dataset"]
