"""Runs on the Hugging Face Hub, against a mocked Hub (these machines cannot reach it)."""

from __future__ import annotations

import shutil

import httpx
import numpy as np
import pytest

import transferkit as tk
from transferkit.cli import main
from transferkit.hub import HubError, parse_ref, push_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("hub") / "run"
    tk.fit(data="breast-cancer-wdbc", backbone="tabular:8", strategy="full", epochs=2, out=str(out),
           log=None)
    (out / "checkpoints").mkdir(exist_ok=True)
    return out


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        return f"https://hub.example/{repo_id}"

    def upload_file(self, **kw):
        self.calls.append(("upload_file", kw))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))


def _response(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "http://127.0.0.1/x"))


def test_push_is_private_by_default_with_a_card_and_no_report(run_dir):
    api = FakeApi()
    url = push_run(run_dir, "me/wdbc", api=api)
    calls = dict(api.calls)
    assert url.endswith("me/wdbc") and calls["create_repo"]["private"] is True
    card = calls["upload_file"]["path_or_fileobj"].decode()
    assert card.startswith("---") and "library_name: transferkit" in card
    assert "## Metrics" in card and "| accuracy |" in card  # the task's test metrics, as export writes them
    assert 'tk.load("hf://me/wdbc")' in card
    patterns = calls["upload_folder"]["allow_patterns"]
    assert "model.safetensors" in patterns and "report.html" not in patterns
    assert not any("checkpoints" in p for p in patterns)
    api = FakeApi()
    push_run(run_dir, "me/wdbc", private=False, with_report=True, api=api)
    assert dict(api.calls)["create_repo"]["private"] is False
    assert "report.html" in dict(api.calls)["upload_folder"]["allow_patterns"]


def test_load_from_the_hub_predicts_like_the_local_run(run_dir, tmp_path, monkeypatch):
    import huggingface_hub

    def snapshot(repo_id, revision=None, cache_dir=None, allow_patterns=None):
        assert (repo_id, revision) == ("me/wdbc", "v1") and "model.safetensors" in allow_patterns
        target = tmp_path / "hub-cache"
        shutil.copytree(run_dir, target, dirs_exist_ok=True)
        return str(target)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    rows = tk.data.load("breast-cancer-wdbc", split="test").x.head(3)
    np.testing.assert_allclose(tk.load("hf://me/wdbc@v1").predict_proba(rows),
                               tk.load(run_dir).predict_proba(rows), atol=1e-6)


@pytest.mark.parametrize("error, message", [
    ("RepositoryNotFoundError", "was not found, or it is private"),
    ("GatedRepoError", "is gated"),
    ("LocalEntryNotFoundError", "unreachable"),
    ("HfHubHTTPError401", "Not authorised"),
])
def test_hub_errors_say_what_happened(error, message, monkeypatch):
    import huggingface_hub
    from huggingface_hub import errors

    def fail(*_a, **_k):
        if error == "LocalEntryNotFoundError":
            raise errors.LocalEntryNotFoundError("offline")
        if error == "HfHubHTTPError401":
            raise errors.HfHubHTTPError("unauthorised", response=_response(401))
        raise getattr(errors, error)("no", response=_response(404))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)
    with pytest.raises(HubError, match=message):
        tk.load("hf://me/missing")


def test_a_local_folder_is_never_taken_for_a_hub_repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "me" / "repo").mkdir(parents=True)
    with pytest.raises(Exception, match="not a complete run directory"):
        tk.load("me/repo")  # no hf:// prefix: a local path
    with pytest.raises(HubError, match="hf://<user or org>/<repo>"):
        parse_ref("hf://just-a-name")


def test_push_command_reports_hub_errors_as_exit_2(run_dir, monkeypatch, capsys):
    import huggingface_hub
    from huggingface_hub import errors

    class Refusing(FakeApi):
        def create_repo(self, repo_id, **kw):
            raise errors.HfHubHTTPError("forbidden", response=_response(403))

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: Refusing())
    assert main(["push", str(run_dir), "me/wdbc"]) == 2
    assert "Not authorised" in capsys.readouterr().err
