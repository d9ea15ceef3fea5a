"""Bad input through the real CLI: the documented error (exit 2, the file/row/parameter
named, the fix said) or skip-and-report -- never a bare traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from reliability.helpers import (
    IMG,
    TAB,
    TXT,
    assert_ok,
    assert_user_error,
    cli,
    write_image_folder,
    write_table,
    write_text_csv,
)

# ----------------------------------------------------------------------------- images


def _bad_image(path: Path, kind: str) -> None:
    good = (path.parent / "0.png").read_bytes()
    path.write_bytes({"corrupt": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2,
                      "truncated": good[: len(good) // 2],
                      "zero-byte": b""}[kind])


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "zero-byte"])
def test_a_bad_image_stops_fit_with_its_name_and_the_skip_option(tmp_path: Path, kind: str) -> None:
    root = write_image_folder(tmp_path / "images")
    _bad_image(root / "dog" / f"{kind}.png", kind)
    res = cli("fit", "--data", root, *IMG, "--out", tmp_path / "run")
    assert_user_error(res, f"{kind}.png", "--skip-bad")
    assert " at 0x" not in res.err  # no Python object reprs in a user's message
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_skip_bad_skips_unreadable_images_and_lists_them_in_the_summary(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", per_class=6)
    for kind in ("corrupt", "truncated", "zero-byte"):
        _bad_image(root / "cat" / f"{kind}.png", kind)
    before = {p: p.read_bytes() for p in root.rglob("*.png")}
    res = cli("fit", "--data", root, *IMG, "--skip-bad", "--out", tmp_path / "run")
    assert_ok(res)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    skipped = " ".join(s["file"] for s in summary["data"]["skipped"])
    warnings = " ".join(summary["warnings"])
    for kind in ("corrupt", "truncated", "zero-byte"):
        assert f"{kind}.png" in skipped and f"{kind}.png" in warnings
    assert summary["data"]["n_train"] + summary["data"]["n_val"] + summary["data"]["n_test"] == 12
    assert {p: p.read_bytes() for p in root.rglob("*.png")} == before  # inputs untouched


def test_a_directory_without_images_names_the_expected_layout(tmp_path: Path) -> None:
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "cat" / "notes.txt").write_text("not an image")
    res = cli("fit", "--data", tmp_path / "empty", *IMG, "--out", tmp_path / "run")
    assert_user_error(res, "contains no images", "<class name>")


# ----------------------------------------------------------------------------- labels


def test_continuous_float_labels_are_refused_with_the_class_named(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = ["f0,label"] + [f"{rng.normal():.4f},{rng.random():.6f}" for _ in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    res = cli("fit", "--data", tmp_path / "t.csv", *TAB, "--task", "classification",
              "--out", tmp_path / "run")
    assert_user_error(res, "class", "example", "val_fraction")
    # without --task, the same labels are numbers: a regression fit
    res = cli("fit", "--data", tmp_path / "t.csv", *TAB, "--out", tmp_path / "run2")
    assert res.rc == 0, res.err
    assert json.loads((tmp_path / "run2" / "summary.json").read_text())["task"] == "regression"


def test_npz_object_labels_are_refused(tmp_path: Path) -> None:
    x = np.zeros((20, 4), dtype=np.float32)
    y = np.array([1, "a", 2.5, None] * 5, dtype=object)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    res = cli("fit", "--data", tmp_path / "d.npz", *TAB, "--out", tmp_path / "run")
    assert_user_error(res, "d.npz")


def test_unseen_labels_at_evaluation_name_the_class_and_the_fix(tmp_path: Path, table_run: Path) -> None:
    data = write_table(tmp_path / "other.csv", edit={(r, "label"): "maybe" for r in range(20)})
    res = cli("evaluate", table_run, "--data", data)
    assert_user_error(res, "never saw", "maybe", "refit")


# ----------------------------------------------------------------------------- text


def test_non_utf8_text_names_the_line(tmp_path: Path, tiny_bert: Path) -> None:
    data = write_text_csv(tmp_path / "t.csv", extra=[b"\xff\xfe caf\xe9,pos\n"])
    res = cli("fit", "--data", data, "--backbone", f"hf:{tiny_bert}", *TXT, "--out", tmp_path / "run")
    assert_user_error(res, "not utf-8", "line 42", "iconv")


def test_an_empty_text_and_a_1mb_text_row_fit_and_predict(tmp_path: Path, tiny_bert: Path) -> None:
    huge = "great " * 175_000  # ~1 MB in one CSV row
    data = write_text_csv(tmp_path / "t.csv", extra=['"",pos\n', f"{huge},neg\n"])
    assert data.stat().st_size > 1_000_000
    run = tmp_path / "run"
    res = cli("fit", "--data", data, "--backbone", f"hf:{tiny_bert}", *TXT, "--out", run)
    assert_ok(res)
    res = cli("predict", run, huge, "", "--format", "json")
    assert_ok(res)
    rows = json.loads(res.out)
    assert len(rows) == 2 and all(r["class"] in ("neg", "pos") for r in rows)


def test_max_length_truncates_texts_and_the_run_keeps_it(tmp_path: Path, tiny_bert: Path) -> None:
    import transferkit as tk

    data = write_text_csv(tmp_path / "t.csv")
    run = tmp_path / "run"
    assert_ok(cli("fit", "--data", data, "--backbone", f"hf:{tiny_bert}", *TXT, "--max-length", "5",
                  "--out", run))
    assert "max_length: 5" in (run / "config.yaml").read_text()
    model = tk.load(run)
    assert model.model.backbone.max_length == 5  # predictions truncate as training did
    assert model.model.backbone.collate(["good bad great awful tea coffee"])["input_ids"].shape[1] == 5
    for bad in ("0", "-3", "many"):
        res = cli("fit", "--data", data, "--backbone", f"hf:{tiny_bert}", *TXT, "--max-length", bad,
                  "--out", tmp_path / f"run{bad}")
        assert_user_error(res, "max_length")


# ----------------------------------------------------------------------------- tables


@pytest.mark.parametrize("value,word", [("nan", "missing (NaN)"), ("inf", "infinite"),
                                        ("-inf", "infinite")])
def test_nan_and_inf_in_a_table_name_row_and_column(tmp_path: Path, value: str, word: str) -> None:
    data = write_table(tmp_path / "t.csv", edit={(7, "f2"): value})
    res = cli("fit", "--data", data, *TAB, "--out", tmp_path / "run", "--impute", "none")
    assert_user_error(res, "row 7", "'f2'", word)


def test_predict_with_a_table_missing_a_column_names_it(tmp_path: Path, table_run: Path) -> None:
    data = write_table(tmp_path / "rows.csv", drop="f3")
    assert_user_error(cli("predict", table_run, data), "missing columns ['f3']", "expected columns")


# ----------------------------------------------------------------------------- names and numbers


@pytest.mark.parametrize("flag,value,needles", [
    ("--backbone", "tabluar", ["unknown backbone 'tabluar'", "did you mean 'tabular'", "transferkit models"]),
    ("--strategy", "lineer-probe", ["unknown strategy 'lineer-probe'", "did you mean 'linear-probe'",
                                    "available:"]),
    ("--lr", "-1", ["'train.lr' parameter", "(0, 10]", "got -1"]),
    ("--lr", "abc", ["'train.lr' parameter must be a number", "'abc'"]),
    ("--epochs", "0", ["'train.epochs' parameter must be an int >= 1", "got 0"]),
    ("--batch-size", "0", ["'train.batch_size' parameter must be an int >= 1", "got 0"]),
    ("--batch-size", "-5", ["'train.batch_size' parameter must be an int >= 1", "got -5"]),
    ("--shots", "100000", ["'shots' parameter", "100000", "lower --shots to at most"]),
    ("--shots", "-3", ["'data.shots' parameter must be an int >= 0", "got -3"]),
    ("--max-steps", "0", ["'train.max_steps' parameter must be an int >= 1"]),
    ("--optimizer", "adamm", ["'train.optimizer' parameter must be one of", "did you mean 'adamw'"]),
])
def test_unknown_names_and_absurd_hyperparameters(tmp_path: Path, flag: str, value: str,
                                                  needles: list[str]) -> None:
    data = write_table(tmp_path / "t.csv")
    args = dict(zip(TAB[::2], TAB[1::2], strict=False))
    args[flag] = value
    argv = [a for kv in args.items() for a in kv if a != "--quiet"]
    res = cli("fit", "--data", data, *argv, "--out", tmp_path / "run")
    assert_user_error(res, *needles)
    assert not (tmp_path / "run" / "model.safetensors").exists()


# ----------------------------------------------------------------------------- damaged run directories

# (deleted file, command, expected exit status, what stderr must say)
_DAMAGE = [
    ("transferkit.json", "predict", 2, ["transferkit.json is missing", "re-run"]),
    ("transferkit.json", "evaluate", 2, ["transferkit.json is missing", "re-run"]),
    ("transferkit.json", "report", 0, []),  # the report needs summary.json only
    ("model.safetensors", "predict", 2, ["model.safetensors' is missing", "re-run"]),
    ("model.safetensors", "evaluate", 2, ["model.safetensors' is missing", "re-run"]),
    ("model.safetensors", "report", 0, []),
    ("config.yaml", "predict", 0, []),
    ("config.yaml", "evaluate", 2, ["no config.yaml", "--data"]),
    ("config.yaml", "report", 0, []),
    ("summary.json", "predict", 0, []),
    ("summary.json", "evaluate", 0, []),
    ("summary.json", "report", 2, ["no summary.json", "--resume"]),
    ("metrics.jsonl", "report", 0, []),
]


@pytest.mark.parametrize("deleted,command,rc,needles", _DAMAGE,
                         ids=[f"{d}-{c}" for d, c, _, _ in _DAMAGE])
def test_a_run_directory_with_a_deleted_file(tmp_path: Path, table_run: Path, deleted: str,
                                             command: str, rc: int, needles: list[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(table_run, run)
    (run / deleted).unlink()
    extra = [write_table(tmp_path / "rows.csv")] if command == "predict" else []
    res = cli(command, run, *extra)
    if rc == 2:
        assert_user_error(res, str(run), *needles)
    else:
        assert_ok(res)
