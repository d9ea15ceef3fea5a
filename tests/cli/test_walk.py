"""A walk through every command a user types, on tiny tables: each ends with status 0 and
prints its summary line, and one bad input per command ends with status 2 and a message
that names the problem (never an internal error)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from reliability.helpers import CliResult, assert_ok, assert_user_error, cli, write_table


def _ok(*argv: Any) -> CliResult:
    res = cli(*argv)
    assert_ok(res)
    assert "internal error" not in res.err
    return res


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def _blobs(path: Path, shift: float, seed: int, n: int = 80) -> Path:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pd.DataFrame({"a": y + rng.normal(0, 0.5, n), "b": y + rng.normal(0, 0.5, n) + shift,
                  "label": np.where(y == 0, "no", "yes")}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 60-row table, a shifted source/target pair, a feature cache and a finished fit."""
    root = tmp_path_factory.mktemp("walk")
    paths = {"root": root, "table": write_table(root / "table.csv"), "cache": root / "cache",
             "source": _blobs(root / "source.csv", 0.0, 0), "target": _blobs(root / "target.csv", 1.5, 1),
             "fit": root / "fit"}
    res = _ok("fit", "--data", paths["table"], "--backbone", "tabular:8", "--epochs", "2",
              "--out", paths["fit"], "--cache-dir", paths["cache"])
    # a backbone without pretrained weights defaults to full fine-tuning (the console says why)
    assert "fit: tabular:8 / full" in res.out and "transferred" in res.out
    assert f"run directory: {paths['fit']}" in _flat(res.out)
    return paths


# --------------------------------------------------------------------------- jobs


def test_fit(walk: dict[str, Path]) -> None:
    summary = json.loads((walk["fit"] / "summary.json").read_text())
    assert summary["command"] == "fit" and 0 <= summary["metrics"]["test"]["accuracy"] <= 1
    assert_user_error(cli("fit", "--data", walk["root"] / "missing.csv", "--backbone", "tabular:8"),
                      "missing.csv", "does not exist")


ADAPT_RUNS = {
    "features": ("--method", "coral"),                          # alignment on cached features
    "shallow": ("--method", "subspace"),                        # shallow method
    "sweep": ("--method", "coral", "--sweep"),                  # lambda chosen by the validator
    "end-to-end": ("--method", "mmd", "--strategy", "full"),    # alignment while fine-tuning
}


@pytest.mark.parametrize("kind", sorted(ADAPT_RUNS))
def test_adapt(walk: dict[str, Path], kind: str) -> None:
    out = walk["root"] / f"adapt-{kind}"
    res = _ok("adapt", "--source", walk["source"], "--target", walk["target"], "--backbone", "tabular:8",
              "--epochs", "2", "--quiet", "--cache-dir", walk["cache"], "--out", out, *ADAPT_RUNS[kind])
    text = _flat(res.out)
    gain = json.loads((out / "summary.json").read_text())["adapt"]["adaptation_gain"]
    assert f"adaptation gain over source-only: {gain * 100:+.1f} points" in text
    assert "source_only" in text and "oracle (upper bound)" in text
    assert "target test accuracy: adapted" in text and "label-free" in text


def test_adapt_bad_method(walk: dict[str, Path]) -> None:
    assert_user_error(cli("adapt", "--source", walk["source"], "--target", walk["target"],
                          "--method", "corall"), "corall", "did you mean")


def test_pretrain(walk: dict[str, Path]) -> None:
    out = walk["root"] / "pretrain"
    res = _ok("pretrain", "--data", walk["table"], "--epochs", "2", "--quiet", "--out", out)
    assert "pretrain: tabular / full" in res.out  # --arch inferred from the table
    assert_user_error(cli("pretrain", "--data", "digits", "--out", walk["root"] / "p2"),
                      "needs --arch for image data", "timm:resnet10t")


def test_rank(walk: dict[str, Path]) -> None:
    res = _ok("rank", "--data", walk["table"], "--backbones", "tabular:8,tabular:16",
              "--cache-dir", walk["cache"])
    assert "transferability on" in res.out and "tabular:16" in res.out
    assert_user_error(cli("rank", "--data", walk["table"], "--shots", "0"), "--shots", ">= 1")


# --------------------------------------------------------------------------- a finished run


def test_evaluate(walk: dict[str, Path]) -> None:
    res = _ok("evaluate", walk["fit"])
    assert "balanced accuracy" in res.out and "(n=" in res.out and "confusion matrix" in res.out
    assert_user_error(cli("evaluate", walk["root"] / "no-run"), "no-run")


def test_predict(walk: dict[str, Path]) -> None:
    res = _ok("predict", walk["fit"], walk["table"])
    lines = res.out.splitlines()
    assert lines[0].startswith("input,class") and len(lines) == 61
    bad = walk["root"] / "bad.csv"  # an integer beyond float range (a 401-digit number)
    bad.write_text("f0,f1,f2,f3\n1,2,3,4\n1,2,3,4\n1," + "9" * 401 + ",3,4\n", encoding="utf-8")
    assert_user_error(cli("predict", walk["fit"], bad), "row 2", "'f1'", "401 digits")


def test_export(walk: dict[str, Path]) -> None:
    out = walk["root"] / "export"
    res = _ok("export", walk["fit"], "--format", "safetensors", "--out", out)
    assert f"exported safetensors to {out}" in _flat(res.out)
    assert (out / "MODEL_CARD.md").is_file()
    assert_user_error(cli("export", walk["root"] / "no-run", "--format", "safetensors"), "no-run")


def test_serve(walk: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The command builds the app and hands it to uvicorn; the app answers (no real server)."""
    import uvicorn
    from fastapi.testclient import TestClient

    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    _ok("serve", walk["fit"], "--port", "8123")
    assert started["host"] == "127.0.0.1" and started["port"] == 8123
    client = TestClient(started["app"])
    assert client.get("/health").json()["status"] == "ok"
    rows = pd.read_csv(walk["table"]).drop(columns=["label"]).head(3).to_dict(orient="records")
    reply = client.post("/predict", json={"rows": rows})
    assert reply.status_code == 200 and len(reply.json()["predictions"]) == 3
    assert_user_error(cli("serve", walk["fit"], "--api-key", ""), "--api-key", "empty")


def test_report(walk: dict[str, Path]) -> None:
    res = _ok("report", walk["fit"])
    assert f"report: {walk['fit'] / 'report.html'}" in _flat(res.out)
    assert_user_error(cli("report", walk["root"]), "summary.json")


# --------------------------------------------------------------------------- listings


def test_runs(walk: dict[str, Path]) -> None:
    index = walk["root"] / "index.sqlite"
    res = _ok("runs", "--index", index, "--record", walk["fit"])
    assert f"runs ({index})" in _flat(res.out) and "%" in res.out  # the table with its metrics
    rows = json.loads(_ok("runs", "--index", index, "--json").out)
    assert [(r["name"], r["backbone"]) for r in rows] == [("fit", "tabular:8")]
    assert_user_error(cli("runs", "--index", index, "--record", walk["root"] / "no-run"), "no-run")


def test_cache(walk: dict[str, Path], tmp_path: Path) -> None:
    res = _ok("cache", "ls", "--cache-dir", walk["cache"])
    assert "feature entries" in res.out and "tabular:8" in res.out
    assert "Cleared the feature cache" in _ok("cache", "clear", "--cache-dir", tmp_path / "c").out
    res = cli("cache", "purge")
    assert res.rc == 2 and "invalid choice: 'purge'" in res.err


def test_datasets() -> None:
    res = _ok("datasets")
    assert "breast-cancer-wdbc" in res.out and " available" in res.out
    assert any(r["name"] == "breast-cancer-biopsy" for r in json.loads(_ok("datasets", "--json").out))
    res = cli("datasets", "--jsn")
    assert res.rc == 2 and "unrecognized arguments: --jsn" in res.err


def test_models() -> None:
    res = _ok("models")
    assert "built-in backbones" in res.out and "tabular[:<sizes>]" in _flat(res.out)
    res = cli("models", "--all")
    assert res.rc == 2 and "unrecognized arguments: --all" in res.err


def test_list() -> None:
    assert "strategies:" in _ok("list", "strategies").out
    assert_user_error(cli("list", "strategis"), "strategis", "did you mean 'strategies'")


def test_config() -> None:
    res = _ok("config")
    assert "configuration keys" in res.out and "train.grad_clip" in res.out
    assert "train:" in _ok("config", "--yaml").out
    res = cli("config", "--yml")
    assert res.rc == 2 and "unrecognized arguments: --yml" in res.err
