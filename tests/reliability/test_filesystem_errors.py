"""A full disk, a quota, a read-only mount: the file system's refusal is an error in words
(exit 2) that names the file and what to do, never "internal error ... This is a bug";
the run directory is left as it was (issue 24, low items: --out on a full disk or a
read-only file system)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from reliability.helpers import assert_user_error, cli, write_table
from transferkit.cli import FILESYSTEM_ERRNOS, filesystem_message

_FIT = ("--backbone", "tabular", "--strategy", "full", "--epochs", "1", "--quiet")


@pytest.mark.parametrize(("code", "advice"), [(errno.ENOSPC, "free disk space"),
                                              (errno.EROFS, "read-only"),
                                              (errno.EDQUOT, "quota")])
def test_a_write_the_disk_refuses_is_a_user_error_naming_file_and_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, advice: str) -> None:
    from transferkit.pipeline import run as run_module

    def refuse(self, *args, **kwargs):  # noqa: ANN001, ANN202 - stands in for Run.save_model
        raise OSError(code, errno.errorcode[code], str(self.dir / "model.safetensors"))

    monkeypatch.setattr(run_module.Run, "save_model", refuse)
    data = write_table(tmp_path / "t.csv", n=60)
    out = tmp_path / "run"
    result = cli("fit", "--data", data, *_FIT, "--out", out)
    assert_user_error(result, "model.safetensors", advice, "--out")
    assert "internal error" not in result.err
    assert not (out / "summary.json").exists()  # no half-written run in place


def test_other_os_errors_stay_internal_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the file system's refusals are the user's to fix; a missing file inside
    transferkit's own flow is still reported as a bug (exit 1), not silenced."""
    from transferkit.pipeline import run as run_module

    def vanish(self, *args, **kwargs):  # noqa: ANN001, ANN202
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "x")

    monkeypatch.setattr(run_module.Run, "save_model", vanish)
    data = write_table(tmp_path / "t.csv", n=60)
    result = cli("fit", "--data", data, *_FIT, "--out", tmp_path / "run")
    assert result.rc == 1 and "internal error" in result.err


def test_every_refusal_has_advice() -> None:
    for code in FILESYSTEM_ERRNOS:
        msg = filesystem_message(OSError(code, "refused", "/some/file"))
        assert "/some/file" in msg and "To fix:" in msg
