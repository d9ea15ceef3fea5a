"""Run directories on the Hugging Face Hub: ``transferkit push RUN REPO`` and
``transferkit.load("hf://user/repo")``.

A run directory is the unit of deployment, so a Hub repo holds a run directory: its
``transferkit.json``, ``model.safetensors``, ``config.yaml``, ``summary.json``, ``metrics.jsonl``
and, for text models, ``tokenizer/`` (a zero-shot run: ``novelty.safetensors``; a multimodal
run: ``multimodal.json`` and ``multimodal.safetensors`` in place of the first two), plus a
``README.md`` model card built with ``huggingface_hub.ModelCard`` from ``summary.json``.
Repos are private unless asked otherwise; the HTML report (which shows test examples) is uploaded only on request; the
checkpoints never are. Loading needs the ``hf://`` prefix, so a local folder that happens
to be called ``user/repo`` is never mistaken for a Hub repo.

Errors say what happened -- repo not found (or private), gated, not authorised, no
network -- instead of one "offline" message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transferkit.errors import RunDirError, TransferkitError
from transferkit.multimodal.saved import MANIFEST as MM_MANIFEST
from transferkit.multimodal.saved import WEIGHTS as MM_WEIGHTS
from transferkit.novelty import FILE as NOVELTY
from transferkit.rundir import CONFIG, MANIFEST, SUMMARY, WEIGHTS, read_json, read_manifest

PREFIX = "hf://"
#: what a pushed run holds (the report only with ``with_report``; checkpoints never)
#: NOVELTY: a run's out-of-distribution detector (zero-shot runs), which loading needs;
#: MM_MANIFEST, MM_WEIGHTS: a multimodal run's column statistics (encoders, image size,
#: number scaling, category values) and fused heads, which its predictor reads instead of
#: MANIFEST and WEIGHTS
RUN_FILES = (MANIFEST, WEIGHTS, CONFIG, SUMMARY, "metrics.jsonl", "tokenizer/*", NOVELTY, MM_MANIFEST,
             MM_WEIGHTS, "README.md")


class HubError(TransferkitError, RuntimeError):
    """The Hub could not give or take a run: not found, gated, not authorised or unreachable."""


def is_hub_ref(path: Any) -> bool:
    """True for ``"hf://user/repo"`` (optionally ``@revision``)."""
    return isinstance(path, str) and path.startswith(PREFIX)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``"hf://user/repo@v1"`` -> ("user/repo", "v1")."""
    body = ref[len(PREFIX):].strip("/")
    repo, _, revision = body.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise HubError(f"'{ref}' is not a Hub reference: write hf://<user or org>/<repo>[@revision].")
    return repo, revision or None


def _explain(exc: Exception, repo: str, action: str) -> HubError:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return HubError(f"The Hub repo '{repo}' is gated: accept its conditions on its page, then log "
                        "in (`hf auth login`, or set HF_TOKEN) and try again.")
    if isinstance(exc, RepositoryNotFoundError):
        return HubError(f"The Hub repo '{repo}' was not found, or it is private and this machine is "
                        "not logged in as someone who may read it (`hf auth login`, or set HF_TOKEN).")
    if isinstance(exc, RevisionNotFoundError):
        return HubError(f"The Hub repo '{repo}' has no such revision: {exc}.")
    if isinstance(exc, LocalEntryNotFoundError):
        return HubError(f"Cannot {action} '{repo}': the Hub is unreachable from this machine (offline, "
                        "or HF_HUB_OFFLINE is set) and the run is not in the local Hub cache.")
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return HubError(f"Not authorised to {action} '{repo}' (HTTP {status}): log in with a token "
                            "that may write there (`hf auth login`, or set HF_TOKEN).")
        return HubError(f"The Hub answered an error for '{repo}' (HTTP {status}): {exc}")
    return HubError(f"Cannot {action} '{repo}': {exc}")


def download_run(ref: str, cache_dir: str | Path | None = None) -> Path:
    """The local folder of the run at ``ref`` (``hf://user/repo[@revision]``), downloaded
    into the Hub cache (only the run's files)."""
    from huggingface_hub import snapshot_download

    repo, revision = parse_ref(ref)
    try:
        folder = snapshot_download(repo, revision=revision, cache_dir=cache_dir,
                                   allow_patterns=list(RUN_FILES))
    except Exception as exc:
        raise _explain(exc, repo, "download") from None
    if not any((Path(folder) / name).is_file() for name in (MANIFEST, MM_MANIFEST)):
        raise RunDirError(f"The Hub repo '{repo}' holds no transferkit run ({MANIFEST}, or a multimodal "
                          f"run's {MM_MANIFEST}, is missing); push one with `transferkit push RUN REPO`.")
    return Path(folder)


def _manifest(run: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's manifest, checked: ``transferkit.json``, or for a multimodal run its
    ``multimodal.json`` (its weights checked against the recorded sha256) read as the
    classification of rows with several modalities that summary.json says it is."""
    from transferkit.multimodal.saved import MultimodalPredictor, is_multimodal_run, run_view

    if not is_multimodal_run(run):
        return read_manifest(run)
    return run_view(MultimodalPredictor(run, device="cpu").manifest, summary)  # a complete, unedited run


def model_card(run_dir: str | Path, repo: str) -> Any:
    """A ``huggingface_hub.ModelCard`` for the run: the Hub's front matter, then the same card
    ``transferkit export`` writes (its task's metrics, baselines, intended use, limitations),
    then how to load it from the Hub."""
    from huggingface_hub import ModelCard, ModelCardData

    from transferkit.export import model_card as card_text
    from transferkit.tasks import get_task

    run = Path(run_dir)
    summary = read_json(run / SUMMARY) if (run / SUMMARY).is_file() else {}
    manifest = _manifest(run, summary)
    task = get_task(manifest.get("task")).name
    card_data = ModelCardData(library_name="transferkit", license="apache-2.0",
                              tags=["transferkit", task, str(manifest.get("modality"))])
    usage = ["## Use from the Hub", "", "```python", "import transferkit as tk",
             f'model = tk.load("hf://{repo}")', "model.predict(inputs)", "```", "",
             "Licences: this card and transferkit are Apache-2.0; the backbone's pretrained weights "
             "and the training data keep their own (see `transferkit models`, `transferkit datasets`)."]
    inputs = None
    if manifest.get("modality") == "multimodal":  # rows of a table: say which columns, read how
        rows = (summary.get("data") or {}).get("rows") or {}
        summary = {**summary, "data": {**(summary.get("data") or {}),
                                       "target": Path(str((summary.get("data") or {}).get("data", "?"))).name,
                                       **{f"n_{k}": v for k, v in rows.items()}}}
        inputs = ("Inputs are rows of a table with the columns " + ", ".join(
            f"`{c['column']}` ({c['kind']}, {c['encoder']})" for c in manifest.get("columns") or [])
            + "; an empty cell or an absent column is a missing modality. `model.predict` takes a "
            "DataFrame, a list of `{column: value}` rows or a CSV/Parquet path (image paths relative "
            "to its folder).")
    return ModelCard("\n".join(["---", card_data.to_yaml(), "---", "", card_text(summary, manifest, inputs),
                                "", *usage]))


def push_run(run_dir: str | Path, repo: str, *, private: bool = True, with_report: bool = False,
             token: str | None = None, api: Any = None) -> str:
    """Upload the run to the Hub repo ``repo`` (created private unless ``private=False``);
    returns the repo's URL. The report (which shows test examples) only with ``with_report``."""
    from huggingface_hub import HfApi

    run = Path(run_dir)
    _manifest(run, {})  # a complete run directory, or a clear error
    repo, revision = parse_ref(repo if is_hub_ref(repo) else PREFIX + repo)
    if revision:
        raise HubError(f"Push to a repo, not a revision: drop '@{revision}' from '{repo}@{revision}'.")
    api = api or HfApi(token=token)
    patterns = [*RUN_FILES, *(("report.html",) if with_report else ())]
    try:
        url = api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
        api.upload_file(path_or_fileobj=str(model_card(run, repo)).encode("utf-8"), path_in_repo="README.md",
                        repo_id=repo, repo_type="model")
        api.upload_folder(folder_path=str(run), repo_id=repo, repo_type="model",
                          allow_patterns=[p for p in patterns if p != "README.md"],
                          commit_message="transferkit run")
    except Exception as exc:
        raise _explain(exc, repo, "push to") from None
    return str(url)


__all__ = ["PREFIX", "RUN_FILES", "HubError", "download_run", "is_hub_ref", "model_card",
           "parse_ref", "push_run"]
