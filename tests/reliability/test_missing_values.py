"""Missing values in tables (issue 24, Deliver 2) and a typo in a numeric column (M4).

By default (``data.impute=auto``) a numeric column's missing cells take the median of the
*training split* plus a ``<col>__missing`` indicator, a categorical's the category
"missing"; the fill values are saved in the run's schema and applied by predict. ``--impute
none`` keeps the strict error. Text among numbers is an error naming its cells.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from reliability.helpers import TAB, assert_ok, assert_user_error, cli, write_table


def _table_with_gaps(path: Path, n: int = 60) -> Path:
    """f0 drives the label; 'amount' = the row number (so subset medians differ) with gaps
    every 7th row; 'kind' a categorical with gaps every 11th row."""
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["f0", "amount", "kind", "label"])
        for i in range(n):
            f0 = rng.normal()
            w.writerow([f"{f0:.4f}", "" if i % 7 == 3 else str(i), "" if i % 11 == 5 else "ab"[i % 2],
                        ("no", "yes")[int(f0 > 0)]])
    return path


def test_missing_values_are_imputed_from_the_training_split_and_predict_applies_them(tmp_path: Path) -> None:
    import transferkit as tk
    from transferkit.data import load_splits
    from transferkit.data.inputs import collect_inputs

    data = _table_with_gaps(tmp_path / "gaps.csv")
    before = data.read_bytes()
    run = tmp_path / "run"
    res = cli("fit", "--data", data, *TAB, "--out", run)
    assert_ok(res)
    assert data.read_bytes() == before  # input data never modified
    summary = json.loads((run / "summary.json").read_text())
    said = " ".join(summary["warnings"])
    assert "'amount' 9 ->" in said and "'kind' 5 -> category 'missing'" in said and "--impute none" in said

    schema = json.loads((run / "transferkit.json").read_text())["data"]["schema"]
    cols = {c["name"]: c for c in schema["columns"]}
    assert cols["amount__missing"]["indicator_of"] == "amount"
    assert "missing" in cols["kind"]["categories"] and cols["kind"]["fill"] == "missing"
    # the fill is the median of the training rows only (amount = row number), not of all rows
    train = load_splits(str(data)).train
    rows = sorted(int(i.split("[")[1][:-1]) for i in train.ids)
    train_median = float(np.median([r for r in rows if r % 7 != 3]))
    all_median = float(np.median([r for r in range(60) if r % 7 != 3]))
    assert cols["amount"]["fill"] == train_median != all_median

    # predict fills the same way (and says so); the indicator is 1 where the cell was missing
    rows_csv = tmp_path / "rows.csv"
    rows_csv.write_text("f0,amount,kind\n0.5,,a\n-1.0,3,\n")
    meta = tk.load(run).manifest["data"]
    with pytest.warns(UserWarning, match="'amount' 1, 'kind' 1"):
        _, items = collect_inputs(str(rows_csv), "table", meta)
    assert list(items[0]) == [0.5, train_median, "a", 1.0]
    assert list(items[1]) == [-1.0, 3.0, "missing", 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = cli("predict", run, rows_csv)
    assert_ok(out)
    assert len(out.out.strip().splitlines()) == 3  # header + 2 rows


def test_impute_none_restores_the_strict_error_naming_the_row(tmp_path: Path) -> None:
    data = _table_with_gaps(tmp_path / "gaps.csv")
    res = cli("fit", "--data", data, *TAB, "--out", tmp_path / "run", "--impute", "none")
    assert_user_error(res, "row 3", "'amount'", "missing", "--impute auto")
    assert not (tmp_path / "run" / "model.safetensors").exists()
    assert_user_error(cli("fit", "--data", data, *TAB, "--impute", "median"), "data.impute", "auto, none", "median")


def test_a_run_fitted_with_impute_none_refuses_missing_cells_at_predict(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv")
    run = tmp_path / "run"
    assert_ok(cli("fit", "--data", data, *TAB, "--out", run, "--impute", "none"))
    rows = write_table(tmp_path / "rows.csv", n=5, edit={(2, "f1"): ""})
    assert_user_error(cli("predict", run, rows), "row 2", "'f1'", "missing")


@pytest.mark.parametrize("typo,n", [("abc", 1), ("1,5", 3)])
def test_a_typo_in_a_numeric_column_names_its_cells(tmp_path: Path, typo: str, n: int) -> None:
    edits = {(r, "f2"): typo for r in (4, 17, 30)[:n]}
    data = write_table(tmp_path / "t.csv", edit=edits)
    res = cli("fit", "--data", data, *TAB, "--out", tmp_path / "run")
    assert_user_error(res, f"column 'f2' of '{data}'", f"except in {n} of its 60 cells", "row 4:",
                      repr(typo), "fix those cells")


def test_a_real_categorical_column_of_codes_is_not_taken_for_a_typo(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "f0", "label"])
        for i in range(40):
            w.writerow([("A1", "B2", "7", "C3")[i % 4], i, "ab"[i % 2]])
    res = cli("fit", "--data", path, *TAB, "--out", tmp_path / "run")
    assert_ok(res)


def _series(path: Path, gaps: bool = True) -> Path:
    """40 two-channel series of length 12; class 1 has a higher mean in channel 0; a few NaN."""
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.normal(size=(40, 12, 2)).astype(np.float32)
    x[:, :, 0] += 2.0 * y[:, None]
    if gaps:
        x[3, 5, 0] = x[17, 0, 1] = x[30, 11, 1] = np.nan
    np.savez(path, x=x, y=y)
    return path


def test_missing_values_in_series_follow_the_same_flag(tmp_path: Path) -> None:
    import transferkit as tk

    data = _series(tmp_path / "s.npz")
    res = cli("fit", "--data", data, "--backbone", "sequence:cnn", "--epochs", "3", "--quiet",
              "--out", tmp_path / "run")
    assert_ok(res)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    said = " ".join(summary["warnings"])
    assert "channel 0: 1, channel 1: 2" in said and "training split" in said
    model = tk.load(tmp_path / "run")
    series = np.load(data)["x"][3]  # holds a NaN: the prediction is finite
    assert np.isfinite(model.predict_proba([series])).all()
    assert_user_error(cli("fit", "--data", data, "--backbone", "sequence:cnn", "--epochs", "1", "--quiet",
                          "--out", tmp_path / "run2", "--impute", "none"), "example 3", "missing values (nan")


def test_evaluate_on_other_data_fills_with_the_runs_values(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import transferkit.jobs.predict as jobs_predict
    from transferkit.data import load
    from transferkit.data.schema import TableSchema

    run = tmp_path / "run"
    assert_ok(cli("fit", "--data", _table_with_gaps(tmp_path / "gaps.csv"), *TAB, "--out", run))
    rng = np.random.default_rng(1)
    rows = []
    for i in range(40):  # f0 (never missing at fit) is missing in row 5; 'amount' never is
        f0 = rng.normal()
        rows.append(f"{'' if i == 5 else f'{f0:.4f}'},{i},{'ab'[i % 2]},{('no', 'yes')[int(f0 > 0)]}")
    data = tmp_path / "eval.csv"
    data.write_text("f0,amount,kind,label\n" + "\n".join(rows) + "\n")
    seen = []
    real = jobs_predict.predict_outputs
    monkeypatch.setattr(jobs_predict, "predict_outputs", lambda m, ds, t: seen.append(ds) or real(m, ds, t))
    assert_ok(cli("evaluate", run, "--data", data))
    schema = TableSchema.from_dict(json.loads((run / "transferkit.json").read_text())["data"]["schema"])
    ds = load(data, split="all", schema=schema)
    assert list(ds.x.columns) == schema.names  # the run's layout, its indicator included
    assert ds.x["f0"].iloc[5] == next(c.fill for c in schema.columns if c.name == "f0")
    assert (ds.x["amount__missing"] == 0).all()
    assert len(seen) == 1 and list(seen[0].x.columns) == schema.names  # what evaluate judged
