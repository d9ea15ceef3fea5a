"""The low-severity defects of the adversarial pass (issue 24) that were still open: each
now ends with a clear message, or does what was asked."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reliability.helpers import IMG, TAB, assert_ok, assert_user_error, cli, write_image_folder, write_table


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("low-image")
    run = tmp / "run"
    assert_ok(cli("fit", "--data", write_image_folder(tmp / "imgs", per_class=3), *IMG, "--out", run))
    return run


def test_predict_on_a_folder_skips_hidden_files_and_folders_named_like_images(tmp_path: Path,
                                                                             image_run: Path) -> None:
    folder = tmp_path / "in"
    (folder / "album.png").mkdir(parents=True)  # a folder named like an image
    Image.fromarray(np.full((12, 12, 3), 90, np.uint8)).save(folder / "a.png")
    (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    res = cli("predict", image_run, folder)
    assert_ok(res)
    assert [r.split(",")[0] for r in res.out.strip().splitlines()[1:]] == [str(folder / "a.png")]


def test_predict_has_the_skip_bad_it_advises(tmp_path: Path, image_run: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((12, 12, 3), 90, np.uint8)).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not an image")
    assert_user_error(cli("predict", image_run, folder), "b.png", "--skip-bad")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = cli("predict", image_run, folder, "--skip-bad")
    assert_ok(res)
    assert len(res.out.strip().splitlines()) == 2
    assert any("skipped 1 unreadable image file(s)" in str(w.message) and "b.png" in str(w.message)
               for w in caught)


def test_none_inputs_zero_size_and_ambiguous_arrays_are_clear_errors(image_run: Path) -> None:
    import transferkit as tk
    from transferkit.errors import ConfigError, DataError

    with pytest.raises(ConfigError, match="'run_dir' parameter of load must be a run directory"):
        tk.load(None)
    model = tk.load(image_run)
    with pytest.raises(DataError, match="No inputs to predict on"):
        model.predict(None)
    with pytest.raises(DataError, match=r"empty \(shape \(0, 0, 3\)\).*at least one pixel"):
        model.predict(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(DataError, match=r"Image 0 is empty"):
        model.predict([np.zeros((0, 5), np.uint8)])
    with pytest.raises(DataError, match=r"\(32, 32, 5\) is ambiguous.*5 channels.*a list of images"):
        model.predict(np.zeros((32, 32, 5), np.uint8))
    assert len(model.predict(np.zeros((5, 32, 32), np.uint8))) == 5  # a batch of 5 grey images
    assert len(model.predict(np.zeros((32, 32, 3), np.uint8))) == 1  # one RGB image


def test_duplicate_csv_column_names_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "dup.csv"
    rows = "\n".join(f"{i},{i % 3},{'xy'[i % 2]}" for i in range(20))
    data.write_text("a,a,label\n" + rows + "\n")
    assert_user_error(cli("fit", "--data", data, *TAB, "--out", tmp_path / "run"),
                      "columns 1 and 2", "both named 'a'", "rename one")


def test_a_huge_text_is_cut_before_tokenising(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from transferkit.backbones.text import CHARS_PER_TOKEN, TextBackbone

    TextBackbone.tiny_example(tmp_path)
    bb = TextBackbone.from_spec(str(tmp_path / "tiny-bert"), max_length=16)
    seen: list[int] = []
    real = type(bb.tokenizer).__call__

    def spy(self, texts, *a, **k):
        seen.extend(len(t) for t in texts)
        return real(self, texts, *a, **k)

    monkeypatch.setattr(type(bb.tokenizer), "__call__", spy)
    huge = "good tea " * 1_000_000  # 9 MB
    enc = bb.collate([huge, "short"])
    assert enc["input_ids"].shape[1] == 16
    assert seen == [CHARS_PER_TOKEN * 16, 5]
    assert bb.collate([huge[: CHARS_PER_TOKEN * 16]])["input_ids"].tolist()[0] == enc["input_ids"].tolist()[0]


def test_preprocessing_json_spells_out_the_recipe_and_the_table_layout(tmp_path: Path,
                                                                      image_run: Path) -> None:
    import torch
    import torch.nn.functional as F

    import transferkit as tk

    out = tmp_path / "exp"
    assert_ok(cli("export", image_run, "--format", "onnx", "--out", out))
    pre = json.loads((out / "preprocessing.json").read_text())
    recipe, desc = " ".join(pre["recipe"]), pre["preprocessing"]
    assert "torch.nn.functional.interpolate" in recipe and "centre crop" in recipe.lower()
    # follow the recipe by hand on non-square images, up- and downscaled: it gives the input exactly
    rng = np.random.default_rng(0)
    size, crop = desc["image_size"], desc["crop_pct"]
    for h, w in ((45, 30), (70, 90)):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        short = int(np.floor(size / crop)) if crop < 1 else size
        new_h, new_w = (max(short, int(short * h / w)), short) if w <= h else (short, max(short, int(short * w / h)))
        x = torch.from_numpy(img).permute(2, 0, 1)[None].double() / 255
        x = F.interpolate(x, size=(new_h, new_w), mode=desc["interpolation"], align_corners=False,
                          antialias=new_h < h or new_w < w).clamp(0, 1)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        x = x[..., top:top + size, left:left + size]
        x = (x - torch.tensor(desc["mean"]).view(1, 3, 1, 1)) / torch.tensor(desc["std"]).view(1, 3, 1, 1)
        mine = tk.load(image_run).model.backbone.collate([img])
        assert torch.allclose(mine.double(), x, atol=1e-5), (h, w)

    tab = tmp_path / "tab"
    assert_ok(cli("fit", "--data", write_table(tmp_path / "t.csv", edit={(3, "f1"): ""}), *TAB, "--out", tab))
    assert_ok(cli("export", tab, "--format", "onnx", "--out", tmp_path / "tab-exp"))
    layout = json.loads((tmp_path / "tab-exp" / "preprocessing.json").read_text())["recipe"]
    assert layout[0].startswith("Input tensor: float32 (batch, 5)")
    assert layout[1].startswith("[0] column 'f0' as a number; missing -> ")
    assert layout[5] == "[4] 1.0 if column 'f1' is missing, else 0.0"
