"""Loading never unpickles by default: weights are safetensors or read with
``weights_only=True``; a run directory or weight file carrying a malicious pickle is
refused with a message, and the pickle's payload never runs. ``serve`` binds to loopback."""

from __future__ import annotations

import ast
import inspect
import shutil
from pathlib import Path

import pytest
import torch

import transferkit
from reliability.helpers import assert_ok, assert_user_error, cli, malicious_pickle, write_table
from transferkit.errors import UnsafeFileError

PACKAGE = Path(transferkit.__file__).parent


@pytest.fixture
def evil_run(tmp_path: Path, table_run: Path, request) -> tuple[Path, Path]:
    """A copy of a finished run whose model.safetensors is really a pickle."""
    run, marker = tmp_path / "evil-run", tmp_path / "PWNED"
    shutil.copytree(table_run, run)
    malicious_pickle(run / "model.safetensors", marker, zip_format=getattr(request, "param", False))
    return run, marker


@pytest.mark.parametrize("evil_run", [False, True], ids=["pickle", "torch-zip"], indirect=True)
@pytest.mark.parametrize("command", ["predict", "evaluate", "fit-on-run-backbone"])
def test_a_run_directory_holding_a_pickle_is_refused_and_never_unpickled(
        tmp_path: Path, evil_run: tuple[Path, Path], command: str) -> None:
    run, marker = evil_run
    data = write_table(tmp_path / "rows.csv")
    argv = {"predict": ["predict", run, data],
            "evaluate": ["evaluate", run],
            "fit-on-run-backbone": ["fit", "--data", data, "--backbone", run, "--epochs", "1",
                                    "--quiet", "--out", tmp_path / "new-run"]}[command]
    res = cli(*argv)
    assert_user_error(res, "model.safetensors", "not safetensors", "never unpickles")
    assert not marker.exists()


def test_load_and_serve_refuse_a_pickled_run(evil_run: tuple[Path, Path]) -> None:
    run, marker = evil_run
    with pytest.raises(UnsafeFileError, match="arbitrary code"):
        transferkit.load(run)
    pytest.importorskip("fastapi")
    from transferkit.serve import create_app

    with pytest.raises(UnsafeFileError):
        create_app(run)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_backbone_weights_holding_a_pickle_are_refused(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "PWNED"
    weights = malicious_pickle(tmp_path / f"evil{suffix}", marker, zip_format=True)
    res = cli("fit", "--data", write_table(tmp_path / "t.csv"), "--backbone", "timm:test_efficientnet",
              "--backbone-weights", weights, "--quiet", "--out", tmp_path / "run")
    assert_user_error(res, f"evil{suffix}", "without unpickling", ".safetensors")
    assert not marker.exists()


def test_a_plain_state_dict_is_still_accepted_as_backbone_weights(tmp_path: Path) -> None:
    from transferkit.backbones import create_backbone

    source = create_backbone("timm:test_efficientnet", pretrained=False)
    torch.save(source.state_dict(), tmp_path / "good.pt")  # tensors only: weights_only loads it
    loaded = create_backbone("timm:test_efficientnet", weights=str(tmp_path / "good.pt"))
    for (k, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_a_checkpoint_holding_a_pickle_is_refused_on_resume(tmp_path: Path) -> None:
    data, run, marker = write_table(tmp_path / "t.csv"), tmp_path / "run", tmp_path / "PWNED"
    args = ("fit", "--data", data, "--backbone", "tabular", "--strategy", "full", "--epochs", "1",
            "--checkpoint-every", "1", "--quiet", "--out", run)
    assert_ok(cli(*args))
    (ckpt,) = (run / "checkpoints" / "full").iterdir()
    malicious_pickle(ckpt / "optimizer.pt", marker)
    res = cli(*args, "--resume")
    assert_user_error(res, "checkpoint", "unpickling", "without --resume")
    assert not marker.exists()


def test_a_hf_folder_with_a_pickled_pytorch_model_bin_is_not_unpickled(tmp_path: Path,
                                                                         tiny_bert: Path) -> None:
    folder, marker = tmp_path / "bert", tmp_path / "PWNED"
    shutil.copytree(tiny_bert, folder)
    (folder / "model.safetensors").unlink()
    malicious_pickle(folder / "pytorch_model.bin", marker, zip_format=True)
    res = cli("fit", "--data", write_table(tmp_path / "t.csv"), "--backbone", f"hf:{folder}",
              "--quiet", "--out", tmp_path / "run")
    assert_user_error(res, str(folder), "pytorch_model.bin", "unpickling", "safetensors")
    assert not marker.exists()


def _unsafe_calls(source: str) -> list[str]:
    """Calls that could unpickle: torch.load without weights_only=True, pickle/joblib/dill
    loads, pandas.read_pickle, numpy.load with allow_pickle=True."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
        if name.endswith("torch.load") and kw.get("weights_only") != "True":
            found.append(f"{name} (line {node.lineno}) without weights_only=True")
        elif name.split(".")[-1] in ("loads", "load", "Unpickler") and \
                name.split(".")[0] in ("pickle", "cPickle", "joblib", "dill", "cloudpickle") or name.endswith("read_pickle"):
            found.append(f"{name} (line {node.lineno})")
        elif name.endswith("np.load") and kw.get("allow_pickle") == "True":
            found.append(f"{name} (line {node.lineno}) with allow_pickle=True")
    return found


def test_the_unsafe_call_finder_finds_unsafe_calls() -> None:
    bad = "torch.load(p)\ntorch.load(p, weights_only=False)\npickle.loads(b)\npd.read_pickle(f)\n" \
          "np.load(f, allow_pickle=True)\ntorch.load(p, weights_only=True)\nnp.load(f)\n"
    assert len(_unsafe_calls(bad)) == 5


def test_no_module_of_the_package_unpickles() -> None:
    offenders = {str(p.relative_to(PACKAGE)): calls for p in sorted(PACKAGE.rglob("*.py"))
                 if (calls := _unsafe_calls(p.read_text(encoding="utf-8")))}
    assert not offenders, offenders


def test_serve_binds_to_loopback_by_default() -> None:
    import ipaddress

    from transferkit.cli import build_parser

    args = build_parser().parse_args(["serve", "some-run"])
    assert ipaddress.ip_address(args.host).is_loopback
    from transferkit.serve import serve

    assert ipaddress.ip_address(inspect.signature(serve).parameters["host"].default).is_loopback
