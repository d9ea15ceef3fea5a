"""Image folders indexed, not loaded: checks before training, the check cache, --revalidate."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from transferkit.data import file_check, load
from transferkit.data.dataset import TransferDataset
from transferkit.data.decode import read_image
from transferkit.data.images import load_image_folder
from transferkit.data.lazy import LazyImages
from transferkit.errors import DataError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private check cache that also keeps files written a moment ago (the tests' files)."""
    monkeypatch.setenv("TRANSFERKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(file_check, "_QUIESCENT_S", 0.0)
    return tmp_path / "cache"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the check pass decodes."""
    seen: list[str] = []

    def counting(path: str, max_pixels: int | None = None) -> np.ndarray:
        seen.append(path)
        return read_image(path, max_pixels)

    monkeypatch.setattr(file_check, "read_image", counting)
    return seen


def test_folder_is_indexed_and_decoded_on_access(image_folder: Path, cache: Path) -> None:
    ds = load_image_folder(image_folder)
    assert isinstance(ds.x, LazyImages) and len(ds.x) == 8
    files = sorted(image_folder.rglob("*.png"))
    eager = [read_image(f) for f in files]
    np.testing.assert_array_equal(ds.x[3], eager[3])
    np.testing.assert_array_equal(ds.input(5), eager[5])
    assert [a.shape for a in ds.x] == [a.shape for a in eager]  # iteration decodes each
    part = ds.subset([6, 1], split="train")
    assert isinstance(part.x, LazyImages) and part.ids == ["dog/2.png", "cat/1.png"]
    np.testing.assert_array_equal(ds.x[1:3][1], eager[2])
    # the content key is the one the decoded arrays had: feature-cache keys are unchanged
    same = TransferDataset(ds.name, "image", eager, ds.y, ds.classes)
    assert ds.content_hash() == same.content_hash()
    assert part.item_hash(0) == same.item_hash(6)


def test_corrupt_file_is_found_before_training_or_skipped(image_folder: Path, cache: Path) -> None:
    bad = image_folder / "cat" / "2.png"
    bad.write_bytes(bad.read_bytes()[:70])  # truncated: its header still reads
    with pytest.raises(DataError, match=r"cat/2\.png.*--skip-bad"):
        load(image_folder, split="train")
    ds = load_image_folder(image_folder, skip_bad=True)
    assert len(ds) == 7 and "cat/2.png" not in ds.ids
    assert [s["file"] for s in ds.skipped] == [str(bad)]
    assert "Cannot decode image file" in ds.skipped[0]["error"]
    # the cached verdict is the same error, without decoding the file again
    with pytest.raises(DataError, match=r"cat/2\.png"):
        load_image_folder(image_folder)


def test_second_load_uses_the_check_cache_and_revalidate_checks_again(
        image_folder: Path, cache: Path, decodes: list[str]) -> None:
    first = load_image_folder(image_folder)
    assert len(decodes) == 8
    decodes.clear()
    second = load_image_folder(image_folder)
    assert decodes == [] and second.content_hash() == first.content_hash()
    load_image_folder(image_folder, revalidate=True)
    assert len(decodes) == 8
    decodes.clear()
    # a rewrite in place that keeps the size and sets the mtime back is still seen (ctime moves)
    target = image_folder / "dog" / "0.png"
    st = target.stat()
    time.sleep(0.05)
    target.write_bytes(target.read_bytes())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_mtime_ns == st.st_mtime_ns and target.stat().st_size == st.st_size
    load_image_folder(image_folder)
    assert decodes == [str(target.resolve())]


def test_over_limit_verdicts_follow_the_limit(image_folder: Path, cache: Path, decodes: list[str]) -> None:
    load_image_folder(image_folder)
    with pytest.raises(DataError, match=r"cat/0\.png.* over the limit of 0\.0001 megapixels"):
        load_image_folder(image_folder, max_pixels=100)  # 12 x 12 = 144 pixels each
    with pytest.raises(DataError, match="None of the 8 image files"):
        load_image_folder(image_folder, max_pixels=100, skip_bad=True)
    decodes.clear()
    assert len(load_image_folder(image_folder)) == 8 and decodes == []  # the decode checks still hold


def test_big_folder_is_checked_in_rounds_and_stops_at_the_first_bad_one(tmp_path: Path, cache: Path,
                                                                       decodes: list[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "many"
    for k, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(np.full((4, 4), 10 * i + k, np.uint8)).save(root / name / f"{i}.png")
    monkeypatch.setattr(file_check, "_CHUNK", 5)
    (root / "cat" / "1.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"cat/1\.png.*empty"):
        load_image_folder(root)
    assert len(decodes) == 5  # the first round found it: the other 19 files were not read
    ds = load_image_folder(root, skip_bad=True)
    assert len(ds) == 23 and ds.skipped[0]["file"].endswith("cat/1.png")


def test_checks_are_cached_under_the_cache_dir_a_command_gives(image_folder: Path, cache: Path,
                                                               tmp_path: Path, decodes: list[str]) -> None:
    chosen = tmp_path / "chosen"
    with file_check.check_cache_dir(chosen):  # what fit/adapt/zeroshot do with --cache-dir
        load_image_folder(image_folder)
    assert (chosen / "data" / "checks.sqlite").is_file() and not (cache / "data").exists()
    decodes.clear()
    load_image_folder(image_folder, cache_dir=chosen)  # the same cache, given directly
    assert decodes == []


def test_shards_are_joined_block_by_block_into_one_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transferkit.features import cache as feature_cache

    monkeypatch.setattr(feature_cache, "JOIN_ROWS", 2)
    store = feature_cache.FeatureCache(tmp_path)
    rows = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    for rank, (lo, hi) in enumerate(((0, 4), (4, 7))):
        w = store.shard_writer("k", rank, hi - lo)
        w.write(np.arange(hi - lo)[::-1], rows[lo:hi][::-1])  # rows written in any order
        w.commit()
    store.join_shards("k", [4, 3], {"n": 7})
    np.testing.assert_array_equal(store.get("k"), rows)
    assert not list((tmp_path / "features").glob("*.tmp"))
    w = store.shard_writer("j", 0, 2)
    w.write(np.arange(2), rows[:2])
    w.commit()
    with pytest.raises(ValueError, match="holds 2 rows, expected 3"):
        store.join_shards("j", [3])
    assert store.get("j") is None and not list((tmp_path / "features").glob("*.tmp"))
