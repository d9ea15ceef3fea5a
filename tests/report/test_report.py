"""report.html: content, self-containment, optional sections, CLI, and a real browser."""

from __future__ import annotations

import base64
import json
import re
from html import escape
from pathlib import Path

import numpy as np
import pytest

from report.factory import make_run

WARNINGS = ["negative transfer: the transferred model is 3.0 accuracy points below the scratch baseline",
            "leakage: 2 test examples are exact duplicates of training examples (e.g. 7.png)"]


@pytest.fixture(autouse=True)
def _index(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_RUNS_INDEX", str(tmp_path / "index.sqlite"))


@pytest.fixture
def run(tmp_path) -> Path:
    return make_run(tmp_path, "tabular", warnings=WARNINGS)[0]


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_report_shows_what_was_done_metrics_baselines_and_warnings(run):
    from transferkit.report import write_report

    path = write_report(run)
    assert path == run / "report.html"
    html = path.read_text(encoding="utf-8")
    summary = json.loads((run / "summary.json").read_text())
    for text in ("What was done", "linear-probe", escape(summary["choice"]), "Metrics", "from scratch",
                 "oracle", "upper bound", "Learning curves", "Per-class metrics", "Timings",
                 "negative transfer", "leakage", "7.png", "Errors and calibration"):
        assert text in html, text
    assert re.search(r'<tr class="oracle">', html), "the oracle row must be marked as such"
    acc = summary["metrics"]["test"]["accuracy"]
    assert f"{acc * 100:.1f} %" in html
    pngs = _images(html)
    assert len(pngs) == 3  # learning curves, confusion matrix, calibration
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 2000 for p in pngs)


def test_report_is_self_contained(run):
    from transferkit.report import write_report

    html = write_report(run).read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html), "no external resource"
    assert "@import" not in html and "url(" not in html


def test_user_text_is_escaped(tmp_path):
    from transferkit.report import write_report

    run, _ = make_run(tmp_path, "tabular", warnings=["leakage: <script>alert(1)</script>"])
    summary = json.loads((run / "summary.json").read_text())
    summary["choice"] = "<img src=x onerror=alert(1)>"
    (run / "summary.json").write_text(json.dumps(summary))
    html = write_report(run).read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_projection_npz_adds_before_and_after_panels(run):
    from transferkit.report import write_report

    rng = np.random.default_rng(0)
    np.savez(run / "projection.npz", before_s=rng.normal(0, 1, (50, 6)), before_t=rng.normal(3, 1, (40, 6)),
             after_s=rng.normal(0, 1, (50, 6)), after_t=rng.normal(0.2, 1, (40, 6)))
    html = write_report(run).read_text()
    assert "Source and target features" in html and len(_images(html)) == 4


def test_test_features_are_projected_when_no_projection_file(run):
    from transferkit.report import write_report

    np.save(run / "features_test.npy", np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32))
    np.save(run / "labels_test.npy", np.arange(30) % 2)
    html = write_report(run).read_text()
    assert "Test features" in html and len(_images(html)) == 4


def test_optional_sections_are_omitted_gracefully(tmp_path):
    from transferkit.report import write_report

    run, _ = make_run(tmp_path, "tabular", with_log=False)
    summary = json.loads((run / "summary.json").read_text())
    summary["metrics"]["test"] = {"accuracy": 0.9}
    summary["baselines"] = {"scratch": None, "source_only": None, "oracle": None}
    summary.pop("timings")
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "metrics.jsonl").write_text('{"stage": "head", "step": 1, "train_loss": 0.5}\n{"truncated": ')
    html = write_report(run).read_text()
    assert "90.0 %" in html and "Baselines not run" in html
    assert "Per-class" not in html and "Timings" not in html and "Test features" not in html
    assert len(_images(html)) == 1  # the learning curve of the one readable record


def test_missing_summary_is_a_clear_error(tmp_path):
    from transferkit.errors import RunDirError
    from transferkit.report import write_report

    with pytest.raises(RunDirError, match="summary.json"):
        write_report(tmp_path)


def test_cli_report_rebuilds_the_file(run, capsys):
    from transferkit.cli import main

    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").is_file() and "report.html" in capsys.readouterr().out
    assert main(["report", str(run / "nope")]) == 2


@pytest.mark.browser
def test_report_renders_in_headless_chromium(run, tmp_path):
    from PIL import Image

    from report.browser import chrome
    from transferkit.report import write_report

    np.savez(run / "projection.npz", before_s=np.random.default_rng(0).normal(size=(40, 4)),
             before_t=np.random.default_rng(1).normal(2, 1, size=(40, 4)))
    path = write_report(run)
    with chrome(tmp_path) as driver:
        driver.get(path.resolve().as_uri())
        assert "fit" in driver.title
        loaded = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert len(loaded) == 4 and all(loaded)
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    pixels = np.asarray(Image.open(shot).convert("L"))
    non_white = (pixels < 240).mean()
    assert non_white > 0.03, f"the screenshot is almost blank ({non_white:.1%} non-white pixels)"


def test_fit_writes_the_report_and_records_the_run(tmp_path):
    """End to end through the real pipeline: a small tabular fit (a few seconds)."""
    from transferkit.jobs.fit import fit
    from transferkit.runs import list_runs

    run = fit(data="breast-cancer-wdbc", backbone="tabular", strategy="full", epochs=3,
              out=str(tmp_path / "fit-run"), log=None)
    html = (run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Learning curves" in html and "Per-class metrics" in html and "benign" in html
    assert len(_images(html)) == 3
    rows = list_runs()
    assert [r["name"] for r in rows] == ["fit-run"]
    assert rows[0]["accuracy"] == pytest.approx(run.summary["metrics"]["test"]["accuracy"])
