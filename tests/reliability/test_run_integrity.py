"""A run directory that was edited or damaged after it was written fails with a clear
error naming the file, never with an internal error or silently different predictions."""

from __future__ import annotations

import json
import shutil

import pytest

import transferkit as tk
from transferkit.errors import RunDirError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("integrity") / "run"
    tk.fit(data="breast-cancer-wdbc", backbone="tabular:8", strategy="full", epochs=1, out=str(out),
           log=None)
    return out


def _copy(run_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(run_dir, target)
    return target


def test_the_manifest_records_the_weights_checksum(run_dir):
    manifest = json.loads((run_dir / "transferkit.json").read_text())
    assert len(manifest["weights_sha256"]) == 64
    tk.load(run_dir)  # and it verifies


def test_flipped_bytes_in_the_weights_are_refused(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF  # a weight changes; the file still parses
    (run / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="does not match the checksum"):
        tk.load(run)


def test_truncated_weights_are_refused_by_name(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDirError, match="model.safetensors"):
        tk.load(run)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["classes"].append("extra"), "lists 3 classes but its head has 2 outputs"),
    (lambda m: m.update(classes=[m["classes"][0]] * 2), "more than once"),
])
def test_an_edited_class_list_is_refused(run_dir, tmp_path, edit, message):
    run = _copy(run_dir, tmp_path)
    manifest = json.loads((run / "transferkit.json").read_text())
    edit(manifest)
    (run / "transferkit.json").write_text(json.dumps(manifest))
    with pytest.raises(RunDirError, match=message):
        tk.load(run)
