from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferkit.data.inputs import collect_inputs, to_raw_items
from transferkit.data.tables import infer_schema
from transferkit.errors import DataError


def test_image_paths_folders_and_arrays(image_folder: Path) -> None:
    ids, items = collect_inputs([image_folder / "cat", str(image_folder / "dog" / "0.png")], "image")
    assert len(items) == 5 and all(i.dtype == np.uint8 and i.shape == (12, 12, 3) for i in items)
    assert len(to_raw_items(np.zeros((3, 5, 5), np.uint8), "image")) == 3
    assert len(to_raw_items(np.zeros((5, 5), np.uint8), "image")) == 1


def test_corrupt_image_names_the_file(image_folder: Path) -> None:
    bad = image_folder / "cat" / "0.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DataError, match=r"cat/0\.png"):
        collect_inputs([bad], "image")


def test_texts_from_strings_and_csv(tmp_path: Path) -> None:
    assert to_raw_items("just one review", "text") == ["just one review"]
    f = tmp_path / "t.csv"
    f.write_text("body\nfirst\nsecond\n", encoding="utf-8")
    assert to_raw_items([f], "text", {"text_column": "body"}) == ["first", "second"]
    f.write_bytes(b"body\nok\nbad \xff byte\n")
    with pytest.raises(DataError, match="line 3"):
        to_raw_items([f], "text", {"text_column": "body"})


def test_table_rows_checked_against_schema() -> None:
    train = pd.DataFrame({"a": [1.0, 2.0], "c": ["x", "y"]})
    schema = infer_schema(train).to_dict()
    rows = to_raw_items(pd.DataFrame({"c": ["y"], "a": [3]}), "table", {"schema": schema})
    assert list(rows[0]) == [3.0, "y"]
    with pytest.raises(DataError, match=r"Row 0 .*column 'a'.*missing"):
        to_raw_items(pd.DataFrame({"a": [np.nan], "c": ["x"]}), "table", {"schema": schema})
    with pytest.raises(DataError, match=r"missing columns \['c'\]"):
        to_raw_items({"a": 1.0}, "table", {"schema": schema})


def test_a_text_given_as_a_string_names_its_own_row():
    ids, items = collect_inputs(["great coffee", ["Apple", "in", "Paris"]], "text", {})
    assert ids == ["great coffee", "Apple in Paris"] and items == ["great coffee", ["Apple", "in", "Paris"]]
