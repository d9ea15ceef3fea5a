"""Multimodal runs in `transferkit compare` (paired only on the same, fingerprint-checked test
rows) and `transferkit push` (the pushed copy, loaded back, predicts what the run predicts)."""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferkit.errors import ConfigError


@pytest.fixture(scope="module")
def table(tmp_path_factory, rows_writer) -> Path:
    return rows_writer(tmp_path_factory.mktemp("mm-compare"), 48, seed=1, missing_every=4, weight_gap=1.5,
                      random_colour=True, grey=(30, 220))


def _run(table: Path, name: str, columns: str, test_fraction: float = 0.25) -> Path:
    from transferkit.jobs.multimodal import multimodal

    return multimodal(data=str(table / "rows.csv"), columns=columns, out=str(table / name),
                      test_fraction=test_fraction, val_fraction=0.15).run_dir


@pytest.fixture(scope="module")
def runs(table) -> tuple[Path, Path]:
    """Two multimodal runs of the same rows, split alike: every column, and the number alone."""
    return (_run(table, "all-columns", "image=photo,number=weight,category=colour"),
            _run(table, "number-only", "number=weight"))


def test_two_multimodal_runs_of_the_same_rows_get_the_paired_test(runs, capsys):
    from transferkit.cli import main
    from transferkit.jobs.compare import compare_runs

    a, b = runs
    with np.load(a / "test_predictions.npz") as z:
        y, pa, late = z["y"], z["outputs"].argmax(1), z["outputs_late"].argmax(1)
    with np.load(b / "test_predictions.npz") as z:
        pb = z["outputs"].argmax(1)
    summary = json.loads((a / "summary.json").read_text())["multimodal"]["fusion"]
    assert (pa == y).mean() == pytest.approx(summary["concat"]["accuracy"])  # the outputs the summary scored
    assert (late == y).mean() == pytest.approx(summary["late"]["accuracy"])
    result = compare_runs(a, b)
    assert result["n"] == len(y) == 12 and result["fusion"] == {"a": "concat", "b": "concat"}
    assert result["diff"] == pytest.approx((pa == y).mean() - (pb == y).mean())
    assert result["discordant"] == [int(((pa == y) & (pb != y)).sum()), int(((pa != y) & (pb == y)).sum())]
    # the same run's two fusions, through the command
    assert main(["compare", str(a), str(a), "--fusion-b", "late"]) == 0
    out = capsys.readouterr().out
    assert f"A = {a} (concat fusion)" in out and f"B = {a} (late fusion)" in out and "McNemar" in out
    assert compare_runs(a, a, fusion_b="late")["diff"] == pytest.approx((pa == y).mean() - (late == y).mean())
    with pytest.raises(ConfigError, match="must be one of concat, late. Got 'mean'"):
        compare_runs(a, b, fusion_a="mean")


def test_multimodal_runs_tested_on_other_rows_are_refused_naming_both(runs, table):
    from transferkit.jobs.compare import compare_runs

    a = runs[0]
    other = _run(table, "other-split", "number=weight", test_fraction=0.4)
    with pytest.raises(ConfigError, match="tested on different examples") as err:
        compare_runs(a, other)
    assert str(a) in str(err.value) and str(other) in str(err.value) and "--test-fraction" in str(err.value)
    # the same number of test rows is not enough: the rows' fingerprint decides, never the position
    moved = table / "moved"
    shutil.copytree(runs[1], moved)
    summary = json.loads((moved / "summary.json").read_text())
    summary["fingerprints"]["splits"]["test"] = "0" * 64
    (moved / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ConfigError, match="the split fingerprints differ"):
        compare_runs(a, moved)
    del summary["fingerprints"]["splits"]["test"]  # none at all: cannot be checked, so refused
    (moved / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ConfigError, match="records no test split fingerprint"):
        compare_runs(a, moved)


def test_a_multimodal_run_and_a_fit_are_refused_because_their_rows_cannot_be_checked(runs, tmp_path):
    import transferkit as tk
    from transferkit.jobs.compare import compare_runs

    fit = tmp_path / "fit"
    tk.fit(data="breast-cancer-wdbc", backbone="tabular:8", strategy="linear-probe", shots=10, out=str(fit),
           log=None)
    for pair in ((runs[0], fit), (fit, runs[0])):
        with pytest.raises(ConfigError, match="multimodal run.*cannot be checked") as err:
            compare_runs(*pair)
        assert str(runs[0]) in str(err.value) and str(fit) in str(err.value)
    with pytest.raises(ConfigError, match="not a multimodal run"):
        compare_runs(fit, fit, fusion_a="late")


class FolderHub:
    """A Hub repo as a local folder: ``upload_folder`` copies only what ``allow_patterns``
    matches (as the Hub client filters: fnmatch on the path in the repo), as does the
    download that ``transferkit.load('hf://...')`` makes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create_repo(self, repo_id, **_kw):
        (self.root / repo_id).mkdir(parents=True, exist_ok=True)
        return f"https://hub.example/{repo_id}"

    def upload_file(self, path_or_fileobj, path_in_repo, repo_id, **_kw):
        (self.root / repo_id / path_in_repo).write_bytes(path_or_fileobj)

    def upload_folder(self, folder_path, repo_id, allow_patterns, **_kw):
        _copy(Path(folder_path), self.root / repo_id, allow_patterns)


def _copy(src: Path, dst: Path, patterns: list[str]) -> None:
    for path in src.rglob("*"):
        rel = path.relative_to(src).as_posix()
        if path.is_file() and any(fnmatch.fnmatch(rel, p) for p in patterns):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst / rel)


def test_a_pushed_multimodal_run_loads_back_and_predicts_the_same(runs, table, tmp_path, monkeypatch):
    import huggingface_hub

    import transferkit as tk
    from transferkit.hub import push_run

    run = runs[0]
    hub = FolderHub(tmp_path / "hub")
    assert push_run(run, "me/rows", api=hub).endswith("me/rows")
    pushed = {p.name for p in (tmp_path / "hub" / "me" / "rows").iterdir()}
    assert {"multimodal.json", "multimodal.safetensors", "config.yaml", "summary.json", "README.md"} <= pushed
    assert "report.html" not in pushed and "test_predictions.npz" not in pushed
    card = (tmp_path / "hub" / "me" / "rows" / "README.md").read_text()
    assert "library_name: transferkit" in card and "- multimodal" in card and "| accuracy |" in card
    assert "rows of a table with the columns `photo` (image" in card and "preprocessing.json" not in card
    # the model lines name each column's encoder and the fusions, not a single backbone's features
    assert "`photo` (image: efficientnet_lite0)" in card and "Fusion: feature-level" in card
    assert "-d features" not in card and "logits" not in card and "probabilities over 2 classes" in card

    def snapshot(repo_id, revision=None, cache_dir=None, allow_patterns=None):
        target = tmp_path / "cache" / repo_id
        _copy(tmp_path / "hub" / repo_id, target, allow_patterns)
        return str(target)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    copy, original = tk.load("hf://me/rows"), tk.load(run)
    frame = pd.read_csv(table / "rows.csv")
    frame["photo"] = [None if pd.isna(p) else str(table / p) for p in frame["photo"]]  # paths from anywhere
    for fusion in ("concat", "late"):
        np.testing.assert_array_equal(copy.predict_proba(frame, fusion=fusion),
                                      original.predict_proba(frame, fusion=fusion))
    assert copy.predict(frame) == original.predict(frame)
