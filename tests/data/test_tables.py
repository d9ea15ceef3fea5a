from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferkit.data import TableSchema, check_table, load
from transferkit.data.tables import infer_schema
from transferkit.errors import DataError


def _frame(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.integers(20, 70, n), "income": rng.normal(50, 10, n),
                         "owner": np.where(np.arange(n) % 3 == 0, "yes", "no"),
                         "outcome": np.where(np.arange(n) % 2 == 0, "good", "bad")})


def test_csv_table_schema(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    _frame().to_csv(f, index=False)
    ds = load(f, label_column="outcome")
    assert ds.modality == "table" and ds.classes == ["bad", "good"]
    assert isinstance(ds.schema, TableSchema)
    assert ds.schema.numeric == ["age", "income"] and ds.schema.categorical == ["owner"]
    assert ds.schema.columns[2].categories == ["no", "yes"] and ds.schema.label_column == "outcome"
    assert list(ds.x.columns) == ["age", "income", "owner"]
    assert ds.x["age"].dtype == np.float64


def test_parquet_and_tsv(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    _frame().to_parquet(tmp_path / "t.parquet")
    _frame().to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    a = load(tmp_path / "t.parquet", label_column="outcome")
    b = load(tmp_path / "t.tsv", label_column="outcome")
    assert a.schema.to_dict() == b.schema.to_dict()
    np.testing.assert_allclose(a.x["income"], b.x["income"])


def test_missing_label_column(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    _frame().to_csv(f, index=False)
    with pytest.raises(DataError, match=r"no label column named 'label'.*Columns: age, income, owner, outcome"):
        load(f)


@pytest.mark.parametrize("value, word", [(np.nan, "missing"), (np.inf, "infinite")])
def test_nan_and_inf_name_row_and_column(tmp_path: Path, value: float, word: str) -> None:
    frame = _frame()
    frame["income"] = frame["income"].astype(float)
    frame.loc[7, "income"] = value
    f = tmp_path / "t.csv"
    frame.to_csv(f, index=False)
    with pytest.raises(DataError, match=rf"Row 7 of .*t\.csv.*column 'income'.*{word}"):
        load(f, label_column="outcome", impute="none")


def test_missing_categorical_value(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[4, "owner"] = None
    with pytest.raises(DataError, match=r"Row 4 .*categorical column 'owner'.*missing"):
        check_table(frame, infer_schema(_frame().drop(columns=["outcome"])), "the new table")


def test_check_table_against_schema() -> None:
    schema = infer_schema(_frame().drop(columns=["outcome"]))
    later = _frame()[["owner", "income", "age", "outcome"]]  # other order, extra column
    out = check_table(later, schema)
    assert list(out.columns) == ["age", "income", "owner"]
    with pytest.raises(DataError, match=r"missing columns \['income'\].*Expected columns"):
        check_table(_frame().drop(columns=["income"]), schema)
    bad = _frame()
    bad["age"] = bad["age"].astype(object)
    bad.loc[2, "age"] = "forty"
    with pytest.raises(DataError, match=r"Row 2 .*'age'.*'forty'.*not a number"):
        check_table(bad, schema)


def test_schema_round_trip() -> None:
    schema = infer_schema(_frame(), label_column="outcome")
    assert TableSchema.from_dict(schema.to_dict()) == schema
    assert "outcome" not in schema.names


def _table(frame: pd.DataFrame):
    from transferkit.data.dataset import TransferDataset

    return TransferDataset("t", "table", frame, np.zeros(len(frame)), [])


def test_table_hash_is_the_same_block_by_block_and_old_csv_fingerprints_still_match(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """content_hash hashes each row's cells (pandas' row hashes) a block at a time: the same
    digest for any block size, another for any changed cell or column type; a split
    fingerprint recorded from the CSV digest (earlier runs) still matches the same data."""
    import hashlib

    from transferkit.data import dataset
    from transferkit.pipeline.run import same_split, split_fingerprint

    frame = _frame(23).drop(columns="outcome")
    frame.loc[4, "income"] = np.nan
    frame.loc[5, "owner"] = 'a "quoted", multi\nline value'
    whole = _table(frame).content_hash()
    monkeypatch.setattr(dataset, "TABLE_HASH_ROWS", 5)
    assert _table(frame).content_hash() == whole
    assert _table(frame.copy()).content_hash() == whole  # equal content, equal hash
    changed = frame.copy()
    changed.loc[17, "age"] += 1
    assert _table(changed).content_hash() != whole
    assert _table(frame.assign(owner=frame["owner"].where(frame.index != 8, "maybe"))).content_hash() != whole
    assert _table(frame.iloc[:0]).content_hash() == _table(frame.iloc[:0].copy()).content_hash()
    csv = hashlib.sha256(b"table:23")
    csv.update(b"age,income,owner")
    csv.update(frame.to_csv(index=False).encode())  # the digest recorded by earlier versions
    ds = _table(frame)
    assert ds.csv_content_hash() == csv.hexdigest() != whole
    assert same_split(split_fingerprint(ds, legacy=True), ds) and same_split(split_fingerprint(ds), ds)
    assert not same_split(split_fingerprint(_table(changed), legacy=True), ds)


def test_batch_rows_are_the_rows_iloc_gives() -> None:
    """A batch is gathered from arrays per column; each row equals what pandas' iloc gives
    (dtype and values: Python scalars in a mixed frame's object rows, NaN where missing, in
    a checked frame's text columns too), and a row read alone is the same row."""
    numeric = _frame(9)[["age", "income"]]
    mixed = _frame(9)
    mixed.loc[2, "owner"] = None
    checked_mixed = check_table(mixed, infer_schema(mixed), missing="keep")
    for frame in (numeric, mixed, checked_mixed):
        ds = _table(frame)
        got = ds.inputs([7, 0, 3, 2])
        want = list(frame.iloc[[7, 0, 3, 2]].to_numpy())
        assert all(g.dtype == w.dtype and repr(g.tolist()) == repr(w.tolist()) for g, w in zip(got, want, strict=True))
        assert repr(ds.input(3).tolist()) == repr(want[2].tolist())
    checked = check_table(numeric, infer_schema(numeric))
    assert checked["age"].dtype == np.float64 and checked["age"].tolist() == numeric["age"].astype(float).tolist()


def test_the_streamed_utf8_check_names_the_line_the_whole_decode_names(tmp_path) -> None:
    """check_utf8 decodes in blocks (here 7 bytes, so characters and lines straddle blocks)
    and names the same line as decoding the whole file -- the line of the bad byte, also after
    a byte-order mark (the whole decode counted 3 bytes off there); valid text passes."""
    from transferkit.data.table_files import check_utf8, decode_utf8, read_frame

    good = tmp_path / "good.csv"
    good.write_bytes("\ufeffname,label\n".encode() + "".join(f"caf\u00e9{i},\u00e9t\u00e9\n" for i in range(20)).encode())
    check_utf8(good, block=7)
    assert read_frame(good)["name"].tolist()[:2] == ["caf\u00e90", "caf\u00e91"]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(good.read_bytes() + b"x,\xe9t\xe9\n" + b"y,z\n")
    with pytest.raises(DataError) as whole:
        decode_utf8(bad)
    with pytest.raises(DataError) as streamed:
        check_utf8(bad, block=7)
    assert str(streamed.value) == str(whole.value) and "line 22" in str(whole.value)


def test_a_csv_read_block_by_block_is_the_whole_read(tmp_path) -> None:
    """_read_csv parses 3 rows at a time and joins column by column: the frame pd.read_csv
    gives, also where a later block holds a missing number or text among the categories."""
    from transferkit.data.table_files import _read_csv

    f = tmp_path / "t.csv"
    f.write_text("a,b,c,d\n1,x,2.5,True\n2,y,3.5,False\n3,x,4.5,True\n4,,5.5,False\n,z,6.5,\n6,x,7.5,True\n7,y,8.5,True\n")
    whole, blocks = pd.read_csv(f), _read_csv(f, rows=3, sep=",")
    pd.testing.assert_frame_equal(blocks, whole, check_dtype=False)
    assert blocks["a"].dtype == np.float64 and blocks["c"].dtype == np.float64
    text = _read_csv(f, rows=3, sep=",", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(text, pd.read_csv(f, dtype=str, keep_default_na=False))
    (tmp_path / "h.csv").write_text("a,b\n")
    assert list(_read_csv(tmp_path / "h.csv", rows=3, sep=",").columns) == ["a", "b"]
