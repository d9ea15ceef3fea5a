"""Group- and time-aware splits (data.group_column, data.time_column) on synthetic tables
with planted leakage: rows of one patient are near copies of each other, and the label
drifts with time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import transferkit as tk
from transferkit.data import load, load_splits
from transferkit.data.grouping import group_split, time_split
from transferkit.errors import ConfigError, DataError


def _rows(ds) -> np.ndarray:
    """Row numbers in the file of a split's examples (from their ids, 'name[row]')."""
    return np.array([int(re.search(r"\[(\d+)\]$", i).group(1)) for i in ds.ids])


def _patients(path: Path, n_groups: int = 30, per: int = 6, seed: int = 0) -> pd.DataFrame:
    """Each patient: ``per`` near-identical rows (planted leakage: a random split puts a
    patient's twins into train and test) and one label, classes balanced over patients."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per)
    sick = g % 3 == 0
    base = rng.normal(size=(n_groups, 2))[g]
    frame = pd.DataFrame({"patient": [f"p{k:02d}" for k in g], "a": base[:, 0] + 0.01 * rng.normal(size=len(g)),
                          "b": base[:, 1], "label": np.where(sick, "sick", "well")})
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture
def patients(tmp_path) -> tuple[Path, pd.DataFrame]:
    path = tmp_path / "patients.csv"
    return path, _patients(path)


def test_random_split_leaks_groups_and_group_split_does_not(patients):
    path, frame = patients
    groups = frame["patient"].to_numpy()
    plain = load_splits(str(path))  # the planted leakage is real: a random split mixes patients
    assert set(groups[_rows(plain.train)]) & set(groups[_rows(plain.test)])
    for split_seed in range(4):
        s = load_splits(str(path), group_column="patient", split_seed=split_seed)
        parts = [set(groups[_rows(p)]) for p in (s.train, s.val, s.test)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert sum(len(p) for p in (s.train, s.val, s.test)) == len(frame)
        # stratified as far as whole groups allow: every split has both classes
        for part in (s.train, s.val, s.test):
            assert set(part.y) == {0, 1}
        assert 0.1 <= len(s.test) / len(frame) <= 0.3
    assert "patient" not in s.train.x.columns  # the group column is not a feature
    assert "StratifiedGroupKFold" in s.describe()["split_by"]


def test_group_split_function_keeps_groups_whole():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 40, 500)
    y = rng.integers(0, 3, 500)
    tr, va, te = group_split(y, groups, 0.1, 0.2, seed=3)
    assert np.array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(500))
    assert not set(groups[tr]) & set(groups[te]) and not set(groups[va]) & set(groups[te])
    assert not set(groups[tr]) & set(groups[va])


def test_group_shots_come_from_distinct_groups(patients):
    path, frame = patients
    groups = frame["patient"].to_numpy()
    s = load_splits(str(path), group_column="patient", shots=4, seed=2)
    assert len(s.train) == 8 and np.bincount(s.train.y).tolist() == [4, 4]
    for c in (0, 1):
        assert len(set(groups[_rows(s.train)[s.train.y == c]])) == 4
    assert s.describe()["shots_sampling"] == "4 examples per class, from 4 distinct groups of 'patient'"
    # 10 sick patients in all, fewer in the train split: asking for 10 from distinct groups fails
    with pytest.raises(DataError, match=r"10 distinct groups \('patient'\), but class 'sick' has "
                                        r"examples in only \d group\(s\)"):
        load_splits(str(path), group_column="patient", shots=10)


def _timeline(path: Path) -> pd.DataFrame:
    """50 rows on 25 days (two rows a day: ties everywhere), label drifting over time."""
    days = pd.date_range("2024-01-01", periods=25, freq="D").repeat(2)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(days))  # the file is not sorted by time
    label = np.where(np.arange(50) % 2 == 0, "up", "down")
    frame = pd.DataFrame({"when": days.strftime("%Y-%m-%d")[order], "x": rng.normal(size=50),
                          "label": label[order]})
    frame.to_csv(path, index=False)
    return frame


def test_time_split_trains_on_past_and_ties_stay_together(tmp_path):
    path = tmp_path / "timeline.csv"
    frame = _timeline(path)
    when = pd.to_datetime(frame["when"]).to_numpy()
    # test 0.14 of 50 -> 7 rows asked: the boundary splits a day, whose two rows both go to
    # test (8); val 0.1 -> 5 rows asked before the 7: days 19 and 20 (4 rows)
    s = load_splits(str(path), time_column="when", val_fraction=0.1, test_fraction=0.14)
    t = [when[_rows(p)] for p in (s.train, s.val, s.test)]
    assert t[0].max() < t[1].min() and t[1].max() < t[2].min()
    assert len(s.test) == 8 and len(s.val) == 4 and sum(map(len, t)) == 50
    assert not (set(t[0]) & set(t[1]) or set(t[1]) & set(t[2]))
    assert "when" not in s.train.x.columns
    s5 = load_splits(str(path), time_column="when", shots=3)
    train_times = when[_rows(s5.train)]
    full_train = when[_rows(load_splits(str(path), time_column="when").train)]
    for c in (0, 1):  # the 3 most recent of each class in the train split
        have = np.sort(full_train[load_splits(str(path), time_column="when").train.y == c])[-3:]
        assert np.array_equal(np.sort(train_times[s5.train.y == c]), have)
    assert s5.describe()["shots_sampling"] == "the 3 most recent examples per class by 'when'"


def test_time_split_function_ties_and_numbers():
    # 3 test rows asked for; the boundary falls between the two 7s, so both go to test
    tr, va, te = time_split(np.array([7.0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 0.2, 0.3)
    assert tr.tolist() == [1, 2, 3, 4, 5] and va.tolist() == [6] and te.tolist() == [0, 7, 8, 9]
    with pytest.raises(DataError, match="none is left to train on"):
        time_split(np.ones(10), 0.1, 0.2)


def test_time_column_errors_name_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    frame = _timeline(path)
    frame.loc[7, "when"] = "yesterday"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Row 7 of .*time column 'when', holds 'yesterday'"):
        load_splits(str(path), time_column="when")
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text("".join(json.dumps({"t": i % 17, "x": float(i), "label": "ab"[i % 2]}) + "\n"
                               for i in range(40)))
    s = load_splits(str(numbers), time_column="t")
    assert np.array([r % 17 for r in _rows(s.train)]).max() < min(r % 17 for r in _rows(s.test))
    with pytest.raises(ConfigError, match="pass one of them"):
        load_splits(str(path), time_column="when", group_column="x")
    with pytest.raises(DataError, match="no group column 'patient'"):
        load_splits(str(path), group_column="patient")
    with pytest.raises(ConfigError, match="'group_column' parameter applies to CSV/JSONL/Parquet files"):
        load("digits", split="train", group_column="patient")


def test_evaluate_rebuilds_the_group_split(patients, tmp_path):
    path, _ = patients
    run = tk.fit(data=str(path), group_column="patient", shots=3, backbone="tabular", strategy="full",
                 epochs=1, out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), log=None)
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["data"]["shots_sampling"].startswith("3 examples per class, from 3 distinct groups")
    config = (run.run_dir / "config.yaml").read_text()
    assert "group_column: patient" in config
    m = tk.evaluate(run.run_dir)  # the split is rebuilt from config.yaml and its fingerprint checked
    assert m["n"] == summary["data"]["n_test"]
    with pytest.raises(DataError, match="is not the one the run was fitted on"):
        tk.evaluate(run.run_dir, group_column=None)  # a random split of the same file differs
    assert tk.evaluate(run.run_dir, split="all")["n"] == 180  # every row; the group column is no feature


def test_recorded_time_config_rebuilds_the_same_split(tmp_path):
    """What evaluate does: DataConfig -> config.yaml -> DataConfig -> the same split."""
    import yaml

    from transferkit.config import DataConfig, from_dict, to_dict
    from transferkit.pipeline.run import split_fingerprint

    path = tmp_path / "timeline.csv"
    _timeline(path)
    cfg = DataConfig(data=str(path), time_column="when", shots=3)
    recorded = yaml.safe_load(yaml.safe_dump(to_dict(cfg)))
    assert recorded["time_column"] == "when"
    again = load_splits(from_dict(DataConfig, recorded, "data"))
    first = load_splits(cfg)
    for name in ("train", "val", "test"):
        assert split_fingerprint(getattr(again, name)) == split_fingerprint(getattr(first, name))
    plain = load_splits(DataConfig(data=str(path)))
    assert split_fingerprint(plain.test) != split_fingerprint(first.test)


def test_fit_command_has_the_flags(capsys):
    from transferkit.cli import main

    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "--group-column" in out and "--time-column" in out
