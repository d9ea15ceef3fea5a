"""Series readers (.tsf, long/wide tables, aeon's files) and rolling-origin windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferkit.data import DATASETS, load_splits
from transferkit.data.forecasting import EXTRA, WindowPlan, build_windows, origins_of, seasonal_scale
from transferkit.data.series_files import SeriesSet, read_series_file, read_tsf
from transferkit.errors import ConfigError, DataError

TSF = """# a hand-made file
@relation demo
@attribute series_name string
@attribute start_timestamp date
@frequency monthly
@horizon 3
@missing true
@equallength false
@data
A:2020-01-01 00-00-00:1,2,3,4,5,6,7,8
B:2020-03-01 00-00-00:10,?,30,40.5,50
"""


def test_tsf_reader_parses_header_names_values_and_missing(tmp_path):
    path = tmp_path / "demo.tsf"
    path.write_text(TSF)
    s = read_tsf(path)
    assert s.ids == ["A", "B"] and s.frequency == "monthly" and s.horizon == 3 and s.season == 12
    assert s.values[0][:, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    b = s.values[1][:, 0]
    assert len(b) == 5 and np.isnan(b[1]) and b[3] == 40.5


def test_tsf_reader_names_line_and_series_of_a_bad_value(tmp_path):
    path = tmp_path / "bad.tsf"
    path.write_text(TSF.replace("40.5", "forty"))
    with pytest.raises(DataError, match=r"Line 11 of .*bad.tsf' \(series 'B'\), value 3 holds 'forty'"):
        read_tsf(path)


def test_long_and_wide_tables(tmp_path):
    long = tmp_path / "long.csv"
    pd.DataFrame({"id": ["a", "b", "a", "b", "a"], "time": [2, 1, 1, 2, 3],
                  "value": [20, 5, 10, 6, 30]}).to_csv(long, index=False)
    s = read_series_file(long)
    assert s.ids == ["a", "b"] and s.values[0][:, 0].tolist() == [10, 20, 30]  # sorted by time
    wide = tmp_path / "wide.csv"
    pd.DataFrame({"name": ["x", "y"], "t0": [1.0, 4.0], "t1": [2.0, 5.0], "t2": [3.0, None]}).to_csv(wide, index=False)
    s = read_series_file(wide)
    assert s.ids == ["x", "y"] and s.values[1][:, 0].tolist() == [4.0, 5.0]  # trailing gap: shorter
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["a", "a"], "time": [1, 2], "value": ["1", "n/a?"]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"Row 1 of .*bad.csv', column 'value', holds 'n/a\?'"):
        read_series_file(bad)


def _series(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return SeriesSet("s", [f"s{i}" for i in range(len(lengths))],
                     [rng.normal(size=n).cumsum() + 50 for n in lengths])


def test_rolling_origin_windows_never_train_on_what_is_judged():
    plan = WindowPlan(horizon=4, context=6, season=2, origins=3, stride=2)
    series = _series([60, 40, 33])
    train, val, test, meta = build_windows(series, plan)
    h = plan.horizon
    col = {name: 2 * h + k for k, name in enumerate(EXTRA)}
    for i, values in enumerate(series.values):
        tests, vals, train_end = origins_of(len(values), plan)
        assert tests[-1] + h == len(values) and np.diff(tests).tolist() == [2, 2]
        assert vals[-1] + h == tests[0]  # validation ends where the test period begins
        mine = train.y[train.y[:, col["series"]] == i]
        # every training window (context and targets) lies before the first validation origin
        assert (mine[:, col["origin"]] + h <= vals[0]).all() and len(mine) > 0
        got = sorted(test.y[test.y[:, col["series"]] == i][:, col["origin"]].astype(int).tolist())
        assert got == tests
        # targets are the series' values once unscaled
        row = test.y[test.y[:, col["series"]] == i][-1]
        assert np.allclose((row[:h] + row[h:2 * h]) * row[col["std"]] + row[col["mean"]], values[-h:, 0])
        # the anchor is the seasonal-naive forecast (m = 2) of the window's context
        assert np.allclose(row[h:2 * h] * row[col["std"]] + row[col["mean"]], values[[-6, -5, -6, -5], 0])
    assert meta["observed_used"] == (60 - 16) + (40 - 16) + (33 - 16)  # all before the first val origin
    assert "3 test origin(s) per series, 2 step(s) apart" in meta["split_by"]


def test_history_caps_the_training_values():
    plan = WindowPlan(horizon=4, context=6, season=1, origins=1, stride=4, history=12)
    train, _, _, meta = build_windows(_series([50]), plan)
    assert meta["observed_used"] == 12 and len(train) == 12 - 6 - 4 + 1


def test_clear_errors_for_short_series():
    with pytest.raises(DataError, match=r"horizon H=10 is not shorter than series 's1' of 's', which has 8"):
        build_windows(_series([30, 8]), WindowPlan(10, 12, 1, 1, 10))
    with pytest.raises(DataError, match=r"Too little history.*context \+ horizon = 20 \+ 5"):
        build_windows(_series([30]), WindowPlan(5, 20, 1, 1, 5))
    with pytest.raises(ConfigError, match="--history"):
        load_splits("airline", targets="windows", shots=5)


def test_seasonal_scale_by_hand():
    y = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    assert seasonal_scale(y, 2) == pytest.approx((1 + 3 + 2) / 3)
    assert seasonal_scale(y, 1) == pytest.approx((2 + 1 + 4 + 2) / 4)


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if DATASETS.get(n).task == "forecasting"])
def test_forecasting_builtins_load_with_their_defaults(name):
    cls = DATASETS.get(name)
    if not cls.available():
        pytest.skip(cls.install_hint)
    s = load_splits(name, targets="windows")
    assert len(s.train) > 0 and len(s.val) > 0 and len(s.test) > 0
    plan = s.train.meta["forecast"]
    assert plan["horizon"] == cls.horizon and plan["season"] == cls.season
    assert s.test.x.shape[1:] == (cls.context, len(plan["channels"]))
    assert s.test.y.shape[1] == 2 * cls.horizon + len(EXTRA) and np.isfinite(s.test.x).all()


def test_missing_aeon_files_say_what_to_install(monkeypatch):
    from transferkit.data import series_files

    monkeypatch.setattr(series_files.importlib.util, "find_spec", lambda name: None)
    assert not DATASETS.get("airline").available()
    with pytest.raises(DataError, match=r"pip install --no-deps aeon==1\.6\.0"):
        load_splits("airline", targets="windows")
