"""Large text files indexed, not loaded: the same dataset as a file read whole, texts read on use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transferkit.data import lazy_text, load, load_splits
from transferkit.data.lazy_text import LazyTexts
from transferkit.data.text import load_text
from transferkit.errors import DataError
from transferkit.features.extract import length_order

ROWS = [("good, \"very\" good", "pos"), ("bad\nand sad", "neg"), ("", "neg"), ("fine ünïcode ✓", "pos"),
        ("meh", "neg"), ("great", "pos"), ("so-so", "neg"), ("top", "pos")]


def _write(path: Path) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in ROWS), encoding="utf-8")
    else:
        import csv

        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter="\t" if path.suffix == ".tsv" else ",")
            w.writerow(["id", "text", "label"])
            w.writerows([(i, t, y) for i, (t, y) in enumerate(ROWS)])
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_indexed_file_gives_the_dataset_a_whole_read_gives(tmp_path: Path, suffix: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / f"reviews{suffix}")
    eager = load_text(path)
    monkeypatch.setattr(lazy_text, "LAZY_TEXT_BYTES", 0)
    lazy = load_text(path)
    assert isinstance(lazy.x, LazyTexts) and isinstance(eager.x, list)
    assert list(lazy.x) == eager.x == [t for t, _ in ROWS]
    assert lazy.classes == eager.classes and np.array_equal(lazy.y, eager.y)
    assert lazy.content_hash() == eager.content_hash()  # same feature-cache key: same features
    assert [lazy.item_hash(i) for i in range(8)] == [eager.item_hash(i) for i in range(8)]
    assert lazy.meta["warnings"] == eager.meta["warnings"]  # the empty text, named by its row
    part = lazy.subset([5, 1, 3])
    assert isinstance(part.x, LazyTexts) and part.inputs([0, 1, 2]) == [ROWS[5][0], ROWS[1][0], ROWS[3][0]]
    assert part.x[1:][0] == ROWS[1][0] and (part.x + lazy.x[:1])[3] == ROWS[0][0]
    np.testing.assert_array_equal(length_order(lazy, np.arange(8)), length_order(eager, np.arange(8)))
    assert lazy.__getitems__([3, 0]) == [eager[3], eager[0]]  # a DataLoader's batch: one pass over the file


def test_indexed_file_splits_as_a_whole_read_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "reviews.csv")
    eager = load_splits(path, val_fraction=0.25, test_fraction=0.25)
    monkeypatch.setattr(lazy_text, "LAZY_TEXT_BYTES", 0)
    lazy = load_splits(path, val_fraction=0.25, test_fraction=0.25)
    for a, b in ((lazy.train, eager.train), (lazy.test, eager.test)):
        assert isinstance(a.x, LazyTexts) and list(a.x) == list(b.x) and np.array_equal(a.y, b.y)
    assert load(path, split="train").content_hash() == eager.train.content_hash()


def test_bad_lines_are_found_when_the_file_is_indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lazy_text, "LAZY_TEXT_BYTES", 0)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(DataError, match=r"line 3 .*not valid UTF-8.*iconv"):
        load_text(latin)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a", "label": "x"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"Line 2 of .*broken\.jsonl.* not valid JSON"):
        load_text(broken)
    wide = tmp_path / "wide.csv"
    wide.write_text("text,label\na,x\nb,y,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3 has 3 fields, the header 2"):
        load_text(wide)
    with pytest.raises(DataError, match=r"no text column 'body'.*Columns: text, label"):
        load_text(wide, text_column="body")


def test_a_large_file_is_not_read_whole_to_tell_it_is_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transferkit.data import tables

    path = _write(tmp_path / "reviews.csv")
    monkeypatch.setattr(lazy_text, "LAZY_TEXT_BYTES", 0)

    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read whole")

    monkeypatch.setattr(tables, "read_frame", whole)
    assert isinstance(load(path).x, LazyTexts)
