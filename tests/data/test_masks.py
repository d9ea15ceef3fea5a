"""Segmentation folders: the mask reader keeps class indices; bad masks name file and value."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from transferkit.data import load_splits
from transferkit.data.masks import load_segmentation_folder, read_class_map, read_mask
from transferkit.errors import ConfigError, DataError


def _folder(root, masks, values="index,name\n0,background\n7,cat\n"):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.csv").write_text(values)
    for i, m in enumerate(masks):
        Image.fromarray(np.full(m.shape + (3,), 20 * i, np.uint8)).save(root / "images" / f"im{i}.jpg")
        Image.fromarray(m.astype(np.uint8), mode="L").save(root / "masks" / f"im{i}.png")
    return root


def test_palette_mask_gives_indices_not_colours(tmp_path):
    m = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    img = Image.fromarray(m, mode="P")
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    img.save(tmp_path / "p.png")
    assert np.array_equal(read_mask(tmp_path / "p.png"), m)


def test_16_bit_mask_keeps_its_values_unscaled(tmp_path):
    m = np.array([[0, 300], [1000, 65535]], np.uint16)
    Image.fromarray(m).save(tmp_path / "m16.png")
    assert Image.open(tmp_path / "m16.png").mode.startswith("I")
    got = read_mask(tmp_path / "m16.png", {0: "a", 300: "b", 1000: "c", 65535: "d"})
    assert got.tolist() == m.astype(np.int64).tolist()


def test_unknown_mask_value_names_file_and_value(tmp_path):
    Image.fromarray(np.array([[0, 5]], np.uint8), mode="L").save(tmp_path / "bad.png")
    with pytest.raises(DataError, match=r"bad\.png' holds the value 5.*class map"):
        read_mask(tmp_path / "bad.png", {0: "bg", 1: "obj"})


def test_colour_masks_are_refused(tmp_path):
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(DataError, match="mode 'RGB'.*class indices"):
        read_mask(tmp_path / "rgb.png")


def test_class_maps_in_csv_json_and_yaml(tmp_path):
    (tmp_path / "a.csv").write_text("0,bg\n3,road\n")
    (tmp_path / "b.json").write_text('{"0": "bg", "3": "road"}')
    (tmp_path / "c.yaml").write_text("- bg\n- road\n")
    assert read_class_map(tmp_path / "a.csv") == read_class_map(tmp_path / "b.json") == {0: "bg", 3: "road"}
    assert read_class_map(tmp_path / "c.yaml") == {0: "bg", 1: "road"}
    (tmp_path / "d.csv").write_text("0,bg\n0,road\n")
    with pytest.raises(DataError, match="index 0 twice"):
        read_class_map(tmp_path / "d.csv")


def test_folder_stores_class_positions_and_splits_as_masks(tmp_path):
    masks = [np.where(np.arange(16).reshape(4, 4) % (i + 2) == 0, 7, 0) for i in range(10)]
    root = _folder(tmp_path / "seg", masks)
    ds = load_segmentation_folder(root)
    assert ds.dense and ds.y.shape == (10, 4, 4) and ds.classes == ["background", "cat"]
    assert set(np.unique(ds.y)) == {0, 1}  # mask value 7 is class position 1
    assert ds.meta["mask_values"] == [0, 7]
    splits = load_splits(str(root), targets="masks", shots=3)
    assert len(splits.train) == 3 and splits.train.y.ndim == 3
    with pytest.raises(ConfigError, match="holds masks.*--task segmentation"):
        load_splits(str(root), targets="classes")


def test_missing_mask_names_the_stem_or_is_skipped(tmp_path):
    root = _folder(tmp_path / "seg", [np.zeros((4, 4))] * 3)
    (root / "masks" / "im1.png").unlink()
    with pytest.raises(DataError, match=r"im1.jpg' has no mask: expected .*masks/im1\.png"):
        load_segmentation_folder(root)
    ds = load_segmentation_folder(root, skip_bad=True)
    assert len(ds) == 2 and "im1" in ds.skipped[0]["file"]
