from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transferkit.data import load
from transferkit.errors import DataError


def _csv(path: Path, rows: list[tuple[str, str]], header: str = "review,sentiment") -> Path:
    path.write_text(header + "\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows), encoding="utf-8")
    return path


ROWS = [(f"tasty treat {i}", "pos") for i in range(6)] + [(f"awful, stale {i}", "neg") for i in range(6)]


def test_csv_text_with_columns(tmp_path: Path) -> None:
    ds = load(_csv(tmp_path / "r.csv", ROWS), text_column="review", label_column="sentiment")
    assert ds.modality == "text" and len(ds) == 12
    assert ds.classes == ["neg", "pos"] and ds.x[0] == "tasty treat 0" and ds.y[0] == 1
    assert ds.meta["text_column"] == "review"


def test_default_text_and_label_column_names(tmp_path: Path) -> None:
    ds = load(_csv(tmp_path / "r.csv", ROWS, header="text,label"))
    assert ds.modality == "text" and ds.x[7] == "awful, stale 1"


def test_jsonl_text(tmp_path: Path) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in ROWS) + "\n", encoding="utf-8")
    ds = load(f)
    assert ds.modality == "text" and len(ds) == 12 and ds.classes == ["neg", "pos"]


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text('{"text": "a", "label": 1}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match="Line 2 of .*r.jsonl.* not valid JSON"):
        load(f)


def test_non_utf8_row_is_named(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(b"text,label\nfine,pos\ncaf\xe9 au lait,neg\n")
    with pytest.raises(DataError, match=r"r\.csv.*not UTF-8.*line 3 \(data row 1"):
        load(f)


def test_missing_label_column_lists_columns(tmp_path: Path) -> None:
    f = _csv(tmp_path / "r.csv", ROWS)
    with pytest.raises(DataError, match=r"no label column 'sentimnt'.*Did you mean 'sentiment'.*Columns: review, sentiment"):
        load(f, text_column="review", label_column="sentimnt")
    with pytest.raises(DataError, match=r"no text column 'body'.*Columns: review, sentiment"):
        load(f, text_column="body", label_column="sentiment")


def test_empty_text_is_kept_with_a_warning(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("text,label\nhello,a\n,b\nworld,a\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"1 empty text.*rows \[1\]"):
        ds = load(f)
    assert ds.x == ["hello", "", "world"]
    assert ds.meta["warnings"]


def test_empty_label_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("text,label\nhello,a\nbye,\n", encoding="utf-8")
    with pytest.raises(DataError, match="Row 1 .* empty or missing label"):
        load(f)


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40) | st.sampled_from(
    ["line one\nline two", 'say "hi", then leave', "  padded  "])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(texts, st.sampled_from(["pos", "neg", "10", "9"])), min_size=1, max_size=15))
def test_csv_round_trip(tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    f = tmp_path / "rt.csv"
    pd.DataFrame({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]}).to_csv(f, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load(f)
    assert ds.x == [t for t, _ in rows]
    assert [ds.classes[k] for k in ds.y] == [lab for _, lab in rows]
