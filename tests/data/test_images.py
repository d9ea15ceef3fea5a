from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from transferkit.data import load
from transferkit.data.images import load_image_folder, read_image
from transferkit.data.lazy import LazyImages
from transferkit.errors import DataError


def _png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG") if mode else Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def test_read_image_grey_and_rgb(tmp_path: Path) -> None:
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    (tmp_path / "g.png").write_bytes(_png_bytes(grey))
    out = read_image(tmp_path / "g.png")
    assert out.dtype == np.uint8 and out.shape == (6, 8)
    np.testing.assert_array_equal(out, grey)
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(read_image(_png_bytes(rgb)), rgb)


def test_read_image_converts_alpha_palette_and_16_bit(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half transparent
    out = read_image(_png_bytes(rgba))
    assert out.shape == (4, 4, 3)
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[3, 0]) == (255, 255, 255)  # on white
    pal = Image.fromarray(np.full((3, 3, 3), 40, np.uint8)).convert("P")
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    assert read_image(buf.getvalue()).shape == (3, 3, 3)
    deep = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out16 = read_image(tmp_path / "deep.png")
    assert out16.dtype == np.uint8 and out16.shape == (4, 4) and out16.max() > 200


def test_truncated_png_error_names_the_file(image_folder: Path) -> None:
    bad = image_folder / "dog" / "1.png"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(DataError, match=r"dog/1\.png"):
        read_image(bad)
    with pytest.raises(DataError, match=r"dog/1\.png.*--skip-bad"):
        load(image_folder)


def test_skip_bad_loads_the_rest_and_lists_the_file(image_folder: Path) -> None:
    bad = image_folder / "dog" / "1.png"
    bad.write_bytes(bad.read_bytes()[:60])
    (image_folder / "cat" / "empty.png").write_bytes(b"")
    ds = load(image_folder, skip_bad=True)
    assert len(ds) == 7  # 8 good files, one of them truncated; plus one empty file
    assert sorted(Path(s["file"]).name for s in ds.skipped) == ["1.png", "empty.png"]
    assert all(s["error"] for s in ds.skipped)


def test_zero_byte_image_is_an_error(image_folder: Path) -> None:
    (image_folder / "cat" / "zero.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero\.jpg.*empty"):
        load(image_folder)


def test_folder_without_images_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "root" / "cat").mkdir(parents=True)
    (tmp_path / "root" / "loose.png").write_bytes(b"x")
    (tmp_path / "root" / "cat" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"no images.*<class name>/<image>.*loose\.png"):
        load(tmp_path / "root")


def test_image_folder_mixed_sizes_modes_and_labels(image_folder: Path) -> None:
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(image_folder / "cat" / "big.bmp")
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(image_folder / "dog" / "x.JPG")
    ds = load_image_folder(image_folder)
    assert ds.modality == "image" and ds.classes == ["cat", "dog"] and len(ds) == 10
    assert isinstance(ds.x, LazyImages)  # indexed: decoded when read
    shapes = {item.shape for item in ds.x}
    assert {(20, 30), (9, 9, 3), (12, 12, 3)} <= shapes
    assert list(np.bincount(ds.y)) == [5, 5]
    assert ds.ids[0] == "cat/0.png"


def test_input_files_are_not_modified(image_folder: Path) -> None:
    files = sorted(image_folder.rglob("*.png"))
    before = {f: (hashlib.sha1(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in files}
    load(image_folder, split="train")
    after = {f: (hashlib.sha1(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns) for f in files}
    assert before == after


def test_missing_file_error() -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_image("/nonexistent/dir/x.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation_is_applied(fmt: str) -> None:
    arr = np.zeros((4, 6, 3), np.uint8)
    arr[0, 0] = 255  # a white corner shows where the top-left went
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, exif=exif, **({"quality": 100} if fmt == "JPEG" else {}))
    out = read_image(buf.getvalue())
    assert out.shape == (6, 4, 3)
    assert out[0, -1].min() > 200 and out[-1, 0].max() < 60


def test_png_without_metadata_is_read_as_stored() -> None:
    arr = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(_png_bytes(arr)), arr)
