"""Series files: the .ts reader, long/wide CSV, .npz with lengths, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferkit.data import load, load_splits
from transferkit.data.series import collect_series, read_series_inputs
from transferkit.data.ts_format import read_ts
from transferkit.errors import DataError

TS = """# a comment
@problemName Tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1.0,2.0,3.0:0.5,?,0.1:up
4.0,5.0:0.2,0.3:down
6,7,8,9:1,2,3,4:up
0,0,1:1,1,0:down
"""


def _ts(tmp_path: Path, text: str = TS, name: str = "tiny.ts") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ts_reader_multivariate_unequal_missing_labels(tmp_path: Path) -> None:
    ts = read_ts(_ts(tmp_path))
    assert [s.shape for s in ts.series] == [(3, 2), (2, 2), (4, 2), (3, 2)]
    assert ts.labels == ["up", "down", "up", "down"] and ts.classes == ["up", "down"]
    np.testing.assert_array_equal(ts.series[0][:, 0], [1, 2, 3])
    assert np.isnan(ts.series[0][1, 1]) and ts.series[0][2, 1] == pytest.approx(0.1)
    ds = load(_ts(tmp_path))
    assert ds.modality == "sequence" and isinstance(ds.x, list) and ds.classes == ["up", "down"]
    assert list(ds.y) == [0, 1, 0, 1]


def test_ts_univariate_equal_lengths_is_one_array(tmp_path: Path) -> None:
    text = "@classLabel true 1 2\n@data\n1,2,3:1\n3,2,1:2\n1,1,1:1\n2,2,2:2\n"
    ds = load(_ts(tmp_path, text))
    assert isinstance(ds.x, np.ndarray) and ds.x.shape == (4, 3, 1)


@pytest.mark.parametrize(("line", "needle"), [
    ("1.0,abc,3.0:0.5,1,0.1:up", "line 10: value 1 of channel 0 is 'abc'"),
    ("1.0,2.0:up", "line 10 has 1 channel(s)"),
    ("1.0,2.0,3.0:0.5,0.1:up", "line 10: its channels have different lengths"),
    ("1.0,2.0,3.0:0.5,1,0.1:sideways", "does not declare"),
])
def test_a_malformed_ts_line_names_the_file_and_line(tmp_path: Path, line: str, needle: str) -> None:
    text = TS.replace("1.0,2.0,3.0:0.5,?,0.1:up", line)
    path = _ts(tmp_path, text)
    with pytest.raises(DataError) as exc:
        read_ts(path)
    assert str(path) in str(exc.value) and needle in str(exc.value)


def test_long_csv_with_channels_unequal_lengths_and_a_gap(tmp_path: Path) -> None:
    rows = []
    for sid, (n, label) in enumerate([(3, "a"), (5, "b"), (4, "a"), (3, "b")]):
        for t in range(n):
            for ch in ("acc", "gyro"):
                rows.append({"id": f"s{sid}", "time": n - t, "channel": ch,  # times out of order
                             "value": float(10 * sid + t), "label": label})
    frame = pd.DataFrame(rows).drop(index=5)  # s0 has no gyro value at one time: missing
    frame.to_csv(tmp_path / "long.csv", index=False)
    ds = load(tmp_path / "long.csv")
    assert ds.modality == "sequence" and ds.meta["channels"] == ["acc", "gyro"]
    assert [ds.input(i).shape for i in range(4)] == [(3, 2), (5, 2), (4, 2), (3, 2)]
    assert list(ds.y) == [0, 1, 0, 1] and ds.ids[1] == "long[s1]"
    first = ds.input(0)
    np.testing.assert_array_equal(first[:, 0], [2, 1, 0])  # sorted by time
    assert np.isnan(first).sum() == 1
    frame.loc[0, "label"] = "b"  # one series, two labels
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="'s0' .* has 2 different labels"):
        load(tmp_path / "bad.csv")


def test_wide_csv_trailing_blanks_make_a_shorter_series(tmp_path: Path) -> None:
    (tmp_path / "wide.csv").write_text("t0,t1,t2,t3,label\n1,2,3,4,x\n1,,3,,y\n4,3,2,1,x\n0,0,0,1,y\n")
    ds = load(tmp_path / "wide.csv")
    assert ds.modality == "sequence" and [len(ds.input(i)) for i in range(4)] == [4, 3, 4, 4]
    assert np.isnan(ds.input(1)[1, 0])  # a blank inside the series is a missing value
    ids, items = read_series_inputs(tmp_path / "wide.csv")  # prediction: the label is ignored
    assert len(items) == 4 and ids[0].endswith("wide.csv:0")


def test_npz_lengths_mask_and_ragged_input_errors(tmp_path: Path) -> None:
    x = np.zeros((4, 6, 1), dtype=np.float32)
    x[:, :, 0] = np.arange(6)
    np.savez(tmp_path / "s.npz", x=x, y=np.array([0, 1, 0, 1]), lengths=np.array([6, 3, 2, 6]))
    ds = load(tmp_path / "s.npz")
    assert [len(ds.input(i)) for i in range(4)] == [6, 3, 2, 6]
    np.savez(tmp_path / "bad.npz", x=x, y=np.array([0, 1, 0, 1]), lengths=np.array([6, 9, 2, 6]))
    with pytest.raises(DataError, match=r"'lengths' of .*bad.npz.* must be in \[1, 6\].*Series 1"):
        load(tmp_path / "bad.npz")
    ragged = [np.zeros((5, 1)), np.zeros((3, 1))]
    with pytest.raises(DataError, match="ragged .* carry no mask.*series_dataset"):
        load((ragged, np.array([0, 1])))
    ids, items = collect_series(ragged)  # prediction inputs may differ in length
    assert [a.shape for a in items] == [(5, 1), (3, 1)]


def test_builtin_series_use_the_archives_test_file_and_shots_per_class() -> None:
    from transferkit.data import DATASETS

    if not DATASETS.get("basic-motions").available():
        pytest.skip("aeon's bundled files are not installed: pip install --no-deps aeon==1.6.0")
    s = load_splits("basic-motions", shots=3)
    assert len(s.test) == 40 and s.train.input(0).shape == (100, 6)  # BasicMotions_TEST.ts
    assert list(np.bincount(s.train.y)) == [3, 3, 3, 3]
    jv = load_splits("japanese-vowels", max_test=60)
    assert isinstance(jv.train.x, list) and {a.shape[1] for a in jv.train.x} == {12}
    assert len({len(a) for a in jv.train.x}) > 1  # unequal lengths


def test_missing_aeon_files_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from transferkit.data.builtin import _ucr

    monkeypatch.setattr(_ucr, "aeon_data_dir", lambda: None)
    with pytest.raises(DataError, match="pip install --no-deps aeon==1.6.0"):
        load("gunpoint")
