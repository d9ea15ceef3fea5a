"""Inputs that used to end in an internal error, an open server or a silently wrong run:
each now gives exit status 2 and a message naming the problem (or a 4xx from the server),
and valid inputs next to them still work."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from reliability.helpers import TAB, assert_ok, assert_user_error, cli, write_image_folder, write_table

# ----------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("args,needles", [
    (["--image-size", "0"], ["'backbone.image_size'", "[8, 4096]", "got 0"]),
    (["--image-size", "-3"], ["'backbone.image_size'", "[8, 4096]", "got -3"]),
    (["--image-size", "100000"], ["'backbone.image_size'", "[8, 4096]", "got 100000"]),
    (["--set", "train.momentum=-5"], ["'train.momentum'", "[0, 1)", "got -5"]),
    (["--set", "train.num_workers=-1"], ["'train.num_workers'", ">= 0", "got -1"]),
    (["--set", "train.grad_clip=-1"], ["'train.grad_clip'", "> 0", "got -1"]),
    (["--set", "train.grad_clip=0"], ["'train.grad_clip'", "> 0", "got 0"]),
    (["--set", "data.test_fraction=0"], ["'data.test_fraction'", "(0, 1)", "got 0"]),
])
def test_out_of_range_settings_are_refused_before_training(tmp_path: Path, args: list[str],
                                                            needles: list[str]) -> None:
    data = write_table(tmp_path / "t.csv")
    res = cli("fit", "--data", data, *TAB, *args, "--out", tmp_path / "run")
    assert_user_error(res, *needles)
    assert not (tmp_path / "run").exists()


def test_rank_checks_the_image_size_bounds_too(tmp_path: Path) -> None:
    assert_user_error(cli("rank", "--data", "digits", "--image-size", "4"), "--image-size", "[8, 4096]")


def test_grad_clip_none_still_trains(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv")
    assert_ok(cli("fit", "--data", data, *TAB, "--set", "train.grad_clip=null", "--out", tmp_path / "run"))


def test_a_stage_whose_loss_rose_is_reported(tmp_path: Path) -> None:
    """lr 5 without clipping sends the MLP uphill: the summary and the table say so."""
    data = write_table(tmp_path / "t.csv")
    res = cli("fit", "--data", data, "--backbone", "tabular:8", "--strategy", "full", "--epochs", "3",
              "--quiet", "--set", "train.lr=5", "--set", "train.grad_clip=null", "--out", tmp_path / "run")
    assert_ok(res)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    stage = summary["stages"][0]
    assert stage["loss_last"] > stage["loss_first"]
    assert any("training loss rose" in w for w in summary["warnings"])
    assert "trained uphill" in " ".join(res.out.split())


def test_loss_trend_compares_the_first_and_last_steps() -> None:
    from transferkit.pipeline.stages import LossTrend, stage_warnings

    trend = LossTrend()
    for step, loss in enumerate([1.0, 0.9, 0.8, float("nan"), 0.7, 0.6, 0.5, 0.4, 0.3], 1):
        trend.on_step_end(None, step, {"loss": loss})
    ends = trend.ends()
    assert ends == pytest.approx({"loss_first": 0.95, "loss_last": 0.35})  # 8 finite: windows of 2
    assert stage_warnings([{"stage": "head", **ends}]) == []
    assert stage_warnings([{"stage": "top", "loss_first": 0.10, "loss_last": 0.104}]) == []  # a wobble
    up = stage_warnings([{"stage": "head", "loss_first": 0.5, "loss_last": 2.0}])
    assert len(up) == 1 and "stage 'head'" in up[0] and "rose from 0.5" in up[0]
    assert LossTrend().ends() == {}


# ----------------------------------------------------------------------------- data


def test_test_fraction_advice_no_longer_suggests_zero(tmp_path: Path) -> None:
    """Too few examples of a class: the message suggests what works (val_fraction=0)."""
    data = tmp_path / "t.csv"
    data.write_text("a,label\n" + "".join(f"{i},x\n" for i in range(8)) + "1,y\n2,y\n", encoding="utf-8")
    res = cli("fit", "--data", data, *TAB, "--out", tmp_path / "run")
    assert_user_error(res, "class 'y' has 2 example(s)", "3 splits (train, val, test)",
                      "data.val_fraction=0")
    assert "0 disables" not in res.err
    assert_ok(cli("fit", "--data", data, *TAB, "--set", "data.val_fraction=0", "--out", tmp_path / "run"))


def test_a_one_class_image_folder_is_refused(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "cats", classes=("cat",))
    res = cli("fit", "--data", root, "--backbone", "timm:test_efficientnet", "--no-pretrained",
              "--epochs", "1", "--image-size", "32", "--quiet", "--out", tmp_path / "run")
    assert_user_error(res, str(root), "single class ('cat')", "at least two", "second subfolder")
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_one_class_table_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("a,label\n" + "".join(f"{i},same\n" for i in range(20)), encoding="utf-8")
    assert_user_error(cli("fit", "--data", data, *TAB, "--out", tmp_path / "run"), "single class ('same')")


def test_the_default_image_backbone_on_a_table_names_the_backbones_that_read_it(tmp_path: Path) -> None:
    """fit without --backbone on a table ended inside extraction ("Image 0 of the batch has
    shape (4,)"); it is a clear error before any feature is computed."""
    data = write_table(tmp_path / "t.csv")
    assert_user_error(cli("fit", "--data", data, "--out", tmp_path / "run"),
                      "'efficientnet_lite0' (the default backbone) reads image data",
                      "holds table data", "--backbone tabular")
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_predict_on_an_integer_beyond_float_range_names_it(tmp_path: Path, table_run: Path,
                                                           suffix: str) -> None:
    big = "9" * 401
    path = tmp_path / f"rows.{suffix}"
    if suffix == "csv":
        path.write_text(f"f0,f1,f2,f3\n1,2,3,4\n1,2,{big},4\n", encoding="utf-8")
    else:
        path.write_text('{"f0": 1, "f1": 2, "f2": 3, "f3": 4}\n'
                        f'{{"f0": 1, "f1": 2, "f2": {big}, "f3": 4}}\n', encoding="utf-8")
    assert_user_error(cli("predict", table_run, path), "row 1", "'f2'", "401 digits", "beyond the range")


@pytest.mark.parametrize("line,needles", [
    ('{"f0": ' + "[" * 100_000 + "]" * 100_000 + "}", ["line 2", "nested too deeply"]),
    ('{"f0": 1, "f1": ' + "9" * 5000 + "}", ["line 2", "more than 4300 digits"]),
])
def test_predict_on_a_hostile_jsonl_line_names_it(tmp_path: Path, table_run: Path, line: str,
                                                  needles: list[str]) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"f0": 1, "f1": 2, "f2": 3, "f3": 4}\n' + line + "\n", encoding="utf-8")
    res = cli("predict", table_run, path)
    assert_user_error(res, "rows.jsonl", *needles)
    assert "set_int_max_str_digits" not in res.err


def test_a_huge_non_number_is_shown_shortened(tmp_path: Path, table_run: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(f"f0,f1,f2,f3\n1,2,{'9' * 5000},4\n", encoding="utf-8")
    res = cli("predict", table_run, path)
    assert_user_error(res, "row 0", "'f2'", "(5002 characters)", "not a number")
    assert len(res.err) < 500


# ----------------------------------------------------------------------------- pretrain


def test_pretrain_takes_fits_data_flags_and_infers_the_tabular_arch(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv")
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(data.read_text().replace("label", "outcome", 1), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  epochs: 2\n  batch_size: 16\n", encoding="utf-8")
    res = cli("pretrain", "--data", renamed, "--label-column", "outcome", "--config", config,
              "--quiet", "--out", tmp_path / "src")
    assert_ok(res)
    assert "pretrain: tabular / full" in res.out
    import yaml

    cfg = yaml.safe_load((tmp_path / "src" / "config.yaml").read_text())
    assert cfg["backbone"]["name"] == "tabular" and cfg["data"]["label_column"] == "outcome"
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["batch_size"] == 16
    named = tmp_path / "named.yaml"  # a backbone the config names is kept
    named.write_text("data:\n  label_column: outcome\nbackbone:\n  name: tabular:4\ntrain:\n  epochs: 1\n",
                     encoding="utf-8")
    res = cli("pretrain", "--data", renamed, "--config", named, "--quiet", "--out", tmp_path / "src4")
    assert_ok(res)
    assert "pretrain: tabular:4 / full" in res.out
    assert_user_error(cli("pretrain", "--config", config, "--out", tmp_path / "x"), "--data")
    assert_user_error(cli("pretrain", "--data", renamed, "--out", tmp_path / "y"), "outcome",
                      "--label-column")


# ----------------------------------------------------------------------------- run directories


def test_out_at_a_file_or_under_one_is_refused(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv")
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    for out in (afile, afile / "sub"):
        assert_user_error(cli("fit", "--data", data, *TAB, "--out", out), f"'{afile}' is a file", "--out")
    assert afile.read_text() == "mine\n"


def test_an_out_name_over_the_file_system_limit_is_refused(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv")
    res = cli("fit", "--data", data, *TAB, "--out", tmp_path / ("y" * 300))
    assert_user_error(res, "cannot create the run directory", "file name too long", "characters")


def test_a_too_long_name_is_refused_and_shown_short(tmp_path: Path) -> None:
    data = write_table(tmp_path / "t.csv")
    res = cli("fit", "--data", data, *TAB, "--name", "x" * 300)
    assert_user_error(res, "'name' parameter", "at most 200 characters", "(300 characters)")
    assert "x" * 100 not in res.err


# ----------------------------------------------------------------------------- serve


def test_an_empty_api_key_is_refused(table_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    for key in ("", "   "):
        assert_user_error(cli("serve", table_run, "--api-key", key), "'--api-key' key is empty",
                          "without authentication")
    monkeypatch.setenv("TRANSFERKIT_API_KEY", "")
    assert_user_error(cli("serve", table_run), "$TRANSFERKIT_API_KEY", "empty")


@pytest.fixture(scope="module")
def table_client(table_run: Path):
    from fastapi.testclient import TestClient

    from transferkit.serve import create_app

    return TestClient(create_app(table_run))


@pytest.mark.parametrize("body,needle", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"rows": [{"f0": ' + "[" * 5000 + "]" * 5000 + "}]}", "nested too deeply"),
    ('{"rows": [{"f0": 1, "f1": 2, "f2": ' + "9" * 401 + ', "f3": 4}]}', "401 digits"),
    ('{"rows": [{"f0": 1, "f1": 2, "f2": ' + "9" * 5000 + ', "f3": 4}]}', "more than 4300 digits"),
    ('{"rows": [{"f0": 1,', "not valid JSON"),
    ('{"rows": [{"f0": 1, "f1": 2, "f2": 1e999, "f3": 4}]}', "infinite"),
])
def test_the_server_answers_4xx_with_a_message_to_hostile_json(table_client, body: str,
                                                               needle: str) -> None:
    reply = table_client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text[:200])
    assert needle in reply.json()["detail"]


def test_the_server_still_predicts_a_good_row(table_client) -> None:
    reply = table_client.post("/predict", json={"rows": [{"f0": 1, "f1": 2, "f2": 3, "f3": 4}]})
    assert reply.status_code == 200 and reply.json()["predictions"][0]["class"] in ("no", "yes")


# ----------------------------------------------------------------------------- pipes


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("argv", [["datasets", "--json"], ["datasets"], ["config"], ["list", "tasks"]])
def test_a_closed_pipe_ends_quietly(argv: list[str]) -> None:
    """``transferkit datasets --json | head``: status 0, nothing on stderr (plain and rich)."""
    from transferkit.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(_ClosedPipe()), contextlib.redirect_stderr(err):
        assert main(argv) == 0
    assert err.getvalue() == ""


@pytest.mark.skipif(not shutil.which("head"), reason="needs head")
def test_a_closed_pipe_in_a_real_shell(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    # `true` exits before transferkit writes, so every write meets a closed pipe
    proc = subprocess.run(["bash", "-c", f"'{sys.executable}' -m transferkit datasets --json | true; "
                                         "exit ${PIPESTATUS[0]}"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
