"""Cached feature extraction: cache hits, corruption, ONNX parity, intermediate blocks."""

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from transferkit.backbones.tabular import TabularBackbone
from transferkit.backbones.timm_models import TimmBackbone
from transferkit.data.dataset import TransferDataset
from transferkit.errors import ConfigError
from transferkit.features import FeatureCache, extract_features

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)


@pytest.fixture(scope="module")
def images():
    x = np.random.default_rng(0).integers(0, 256, size=(10, 16, 16), dtype=np.uint8)
    return TransferDataset("tiny", "image", x, np.arange(10) % 2, ["a", "b"])


@pytest.fixture(scope="module")
def backbone():
    return TimmBackbone("mobilenetv3_small_050", image_size=32).eval()


def _count_forwards(module):
    calls = []
    handle = module.register_forward_pre_hook(lambda m, a: calls.append(1))
    return calls, handle


def test_second_extraction_is_a_cache_hit_without_forward(backbone, images, tmp_path):
    calls, handle = _count_forwards(backbone)
    try:
        first = extract_features(backbone, images, cache_dir=tmp_path, backend="torch", batch_size=4,
                                 progress=False)
        n_first = len(calls)
        second = extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False)
    finally:
        handle.remove()
    assert first.shape == (10, backbone.feature_dim) and first.dtype == np.float32
    assert n_first == 3 and len(calls) == n_first
    assert isinstance(second, np.memmap) and np.array_equal(first, second)
    [entry] = FeatureCache(tmp_path).ls()
    assert entry["shape"] == [10, backbone.feature_dim] and entry["data"] == "tiny"


def test_other_data_or_weights_miss_the_cache(backbone, images, tmp_path):
    extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False)
    extract_features(backbone, images.subset(range(5)), cache_dir=tmp_path, backend="torch", progress=False)
    assert len(FeatureCache(tmp_path).ls()) == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "no-manifest"])
def test_corrupt_entry_is_recomputed(backbone, images, tmp_path, damage):
    ref = np.array(extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False))
    [npy] = (tmp_path / "features").glob("*.npy")
    raw = bytearray(npy.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0xFF
        npy.write_bytes(bytes(raw))
    elif damage == "truncate":
        npy.write_bytes(bytes(raw[: len(raw) // 2]))
    else:
        npy.with_suffix(".json").unlink()
    calls, handle = _count_forwards(backbone)
    try:
        with pytest.warns(UserWarning, match="corrupt") if damage != "no-manifest" else contextlib.nullcontext():
            again = extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False)
    finally:
        handle.remove()
    assert calls and np.allclose(again, ref)
    assert FeatureCache(tmp_path).get(FeatureCache(tmp_path).ls()[0]["key"]) is not None


def test_onnx_backend_matches_torch(backbone, images, tmp_path):
    pytest.importorskip("onnxruntime")
    ref = extract_features(backbone, images, use_cache=False, backend="torch", progress=False)
    got = extract_features(backbone, images, cache_dir=tmp_path, use_cache=False, backend="onnx",
                           progress=False)
    assert np.abs(ref - got).max() < 1e-4
    assert len(FeatureCache(tmp_path).onnx_files()) == 1


def test_upto_block_caches_bottom_activations(backbone, images, tmp_path):
    bottom, top = backbone.split_at(2)
    acts = extract_features(backbone, images, cache_dir=tmp_path, upto_block=2, backend="torch",
                            progress=False)
    full = extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False)
    with torch.inference_mode():
        assert np.allclose(top(torch.from_numpy(np.array(acts))).numpy(), full, atol=1e-5)
    assert len(FeatureCache(tmp_path).ls()) == 2


def test_tabular_backbone_adapts_itself(tmp_path):
    bb, data = TabularBackbone.tiny_example(tmp_path)
    fresh = TabularBackbone([16, 8])
    f = extract_features(fresh, data, cache_dir=tmp_path, progress=False)
    assert f.shape == (len(data), 8) and fresh.adapted


def test_sharded_extraction_gathers_in_order(backbone, images, tmp_path, monkeypatch):
    import accelerate.utils

    import transferkit.features.extract as extract

    full = extract_features(backbone, images, use_cache=False, backend="torch", progress=False)

    class Rank1of2:
        num_processes, process_index, is_main_process = 2, 1, False

        def wait_for_everyone(self):
            pass

    shards = np.array_split(np.arange(len(images)), 2)
    monkeypatch.setattr(extract, "process_state", lambda: Rank1of2())
    monkeypatch.setattr(accelerate.utils, "gather_object", lambda objs: [full[shards[0]], *objs])
    # without the cache the shards are gathered in memory (with it they go through files on
    # disk: tests/data/test_sharded.py runs two real processes)
    got = extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False,
                           use_cache=False)
    assert np.allclose(got, full, atol=1e-6)
    assert FeatureCache(tmp_path).ls() == []


def test_bad_arguments(backbone, images):
    with pytest.raises(ConfigError, match="'backend'.*auto, torch, onnx"):
        extract_features(backbone, images, backend="tensorrt", use_cache=False, progress=False)
    with pytest.raises(ConfigError, match="'batch_size'"):
        extract_features(backbone, images, batch_size=0, progress=False)


def test_cache_cli_ls_and_clear(backbone, images, tmp_path, capsys):
    from transferkit.cli import main

    extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False)
    assert main(["cache", "ls", "--cache-dir", str(tmp_path)]) == 0
    assert "1 feature entries" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert FeatureCache(tmp_path).ls() == []


def test_models_cli_lists_the_builtins(capsys):
    from transferkit.cli import main

    assert main(["models", "--json"]) == 0
    out = capsys.readouterr().out
    for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "minilm"):
        assert name in out


def test_fingerprint_is_memoised_until_a_weight_changes(tmp_path):
    from transferkit.features import backbone_fingerprint, forget_fingerprint

    bb = TimmBackbone("mobilenetv3_small_050", image_size=32).eval()
    first = backbone_fingerprint(bb)
    assert first == bb.fingerprint() == backbone_fingerprint(bb)
    p = next(bb.parameters())
    with torch.no_grad():
        p.add_(1.0)  # in place, as an optimiser step is
    changed = backbone_fingerprint(bb)
    assert changed != first and changed == bb.fingerprint()
    bb.load_state_dict({k: v + 1 for k, v in bb.state_dict().items()})
    assert backbone_fingerprint(bb) not in (first, changed)
    p.data.mul_(2.0)  # .data bypasses version counters: forget_fingerprint is the documented fix
    forget_fingerprint(bb)
    assert backbone_fingerprint(bb) == bb.fingerprint()


def test_fine_tuned_weights_miss_the_cache(images, tmp_path):
    bb = TimmBackbone("mobilenetv3_small_050", image_size=32).eval()
    before = np.array(extract_features(bb, images, cache_dir=tmp_path, backend="torch", progress=False))
    opt = torch.optim.SGD(bb.parameters(), lr=0.5)
    bb(bb.collate(images.x[:4])).pow(2).mean().backward()
    opt.step()
    bb.eval()
    after = extract_features(bb, images, cache_dir=tmp_path, backend="torch", progress=False)
    assert len(FeatureCache(tmp_path).ls()) == 2 and not np.allclose(before, after)


def test_train_modes_are_restored_per_module_and_untouched_by_a_hit(images, tmp_path):
    bb = TimmBackbone("mobilenetv3_small_050", image_size=32)
    bb.train()
    frozen = list(bb.modules())[3]
    frozen.eval()  # a mixed state, as partial fine-tuning leaves it
    modes = {m: m.training for m in bb.modules()}
    extract_features(bb, images, cache_dir=tmp_path, backend="torch", progress=False)
    assert {m: m.training for m in bb.modules()} == modes
    calls, handle = _count_forwards(bb)
    try:
        extract_features(bb, images, cache_dir=tmp_path, backend="torch", progress=False)
    finally:
        handle.remove()
    assert not calls and {m: m.training for m in bb.modules()} == modes


def test_checked_entries_are_remembered_only_while_unchanged(backbone, images, tmp_path, monkeypatch):
    import transferkit.features.cache as cache_module

    extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False)
    cache = FeatureCache(tmp_path)
    [meta] = cache.ls()
    npy, manifest = cache._paths(meta["key"])
    old = npy.stat().st_mtime - 10
    for f in (npy, manifest):
        os.utime(f, (old, old))
    crcs = []
    monkeypatch.setattr(cache_module, "file_crc32",
                        lambda p, real=cache_module.file_crc32: crcs.append(p) or real(p))
    cache.forget_checks()
    assert cache.get(meta["key"]) is not None and cache.get(meta["key"]) is not None
    assert len(crcs) == 1  # the second hit trusts the first check
    raw = bytearray(npy.read_bytes())
    raw[-3] ^= 0xFF
    npy.write_bytes(bytes(raw))  # same size, same inode, new mtime
    with pytest.warns(UserWarning, match="corrupt"):
        assert cache.get(meta["key"]) is None
    assert len(crcs) == 2


def test_fresh_entries_are_checked_on_every_hit(backbone, images, tmp_path):
    extract_features(backbone, images, cache_dir=tmp_path, backend="torch", progress=False)
    cache = FeatureCache(tmp_path)
    [meta] = cache.ls()
    assert cache.get(meta["key"]) is not None  # checked, but too fresh to be remembered
    npy = cache._paths(meta["key"])[0]
    raw = bytearray(npy.read_bytes())
    raw[-3] ^= 0xFF
    npy.write_bytes(bytes(raw))  # may keep the same coarse mtime: must still be caught
    with pytest.warns(UserWarning, match="corrupt"):
        assert cache.get(meta["key"]) is None


def test_onnx_export_is_reused_by_later_processes_without_torch(backbone, images, tmp_path):
    pytest.importorskip("onnxruntime")
    from transferkit.features import forget_sessions

    ref = extract_features(backbone, images, use_cache=False, backend="torch", progress=False)
    forget_sessions()
    calls, handle = _count_forwards(backbone)
    try:
        first = extract_features(backbone, images, cache_dir=tmp_path, use_cache=False, backend="onnx",
                                 progress=False)
        n_check = len(calls)
        forget_sessions()  # as a new process: only the files remain
        second = extract_features(backbone, images, cache_dir=tmp_path, use_cache=False, backend="onnx",
                                  progress=False)
    finally:
        handle.remove()
    assert n_check >= 1 and len(calls) == n_check  # torch ran for the export and its check only
    assert np.abs(first - ref).max() < 1e-4 and np.array_equal(first, second)
    [record] = (tmp_path / "onnx").glob("*.json")
    rec = json.loads(record.read_text())
    assert rec["max_error"] < 1e-4 and len(rec["optimized"]) == 1
    assert (tmp_path / "onnx" / next(iter(rec["optimized"]))).is_file()


def test_changed_onnx_file_is_checked_again(backbone, images, tmp_path):
    pytest.importorskip("onnxruntime")
    from transferkit.features import forget_sessions

    extract_features(backbone, images, cache_dir=tmp_path, use_cache=False, backend="onnx", progress=False)
    [record] = (tmp_path / "onnx").glob("*.json")
    rec = json.loads(record.read_text())
    record.write_text(json.dumps({**rec, "crc32": rec["crc32"] ^ 1}))  # no longer matches the file
    forget_sessions()
    calls, handle = _count_forwards(backbone)
    try:
        extract_features(backbone, images, cache_dir=tmp_path, use_cache=False, backend="onnx", progress=False)
    finally:
        handle.remove()
    assert len(calls) == 1 and json.loads(record.read_text())["crc32"] == rec["crc32"]


def test_onnx_spinning_follows_the_load(monkeypatch):
    from transferkit.features import ort_spinning, physical_cores

    monkeypatch.setenv("TRANSFERKIT_ORT_SPINNING", "0")
    assert ort_spinning() is False
    monkeypatch.delenv("TRANSFERKIT_ORT_SPINNING")
    monkeypatch.setattr(os, "getloadavg", lambda: (physical_cores() + 5.0, 0.0, 0.0))
    assert ort_spinning() is False
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert ort_spinning() is True


def test_failed_export_falls_back_to_torch(backbone, images, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    import transferkit.features.onnx as onnx_module

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_module, "export_onnx", broken)
    ref = extract_features(backbone, images, use_cache=False, backend="torch", progress=False)
    with pytest.warns(UserWarning, match="onnxruntime not used.*unsupported operator"):
        got = extract_features(backbone, images, cache_dir=tmp_path, use_cache=False, backend="auto",
                               progress=False)
    assert np.allclose(got, ref, atol=1e-5)
    with pytest.raises(ConfigError, match="backend='torch'"):
        extract_features(backbone, images, cache_dir=tmp_path, use_cache=False, backend="onnx", progress=False)


def test_texts_are_encoded_by_length_and_returned_in_order(tmp_path):
    """Length-sorted batches (little padding) give the same features, in the data's order."""
    from transferkit.backbones.text import TextBackbone

    bb, _ = TextBackbone.tiny_example(tmp_path)
    texts = ["great", "the coffee is very sweet and i love this tea", "bad", "not good at all",
             "awful taste", "i hate this bitter product and the food was bad"]
    data = TransferDataset("texts", "text", texts, np.arange(6) % 2, ["a", "b"])
    got = extract_features(bb, data, cache_dir=tmp_path / "c", batch_size=2, use_cache=False,
                           progress=False)
    with torch.inference_mode():
        one_by_one = np.concatenate([bb.eval()(bb.collate([t])).numpy() for t in texts])
    np.testing.assert_allclose(got, one_by_one, atol=1e-5)


def test_image_folder_features_equal_the_eager_ones_and_share_their_entry(backbone, images, tmp_path,
                                                                           monkeypatch):
    from PIL import Image

    from transferkit.data.images import load_image_folder

    monkeypatch.setenv("TRANSFERKIT_CACHE_DIR", str(tmp_path / "checks"))
    for i, (arr, label) in enumerate(zip(images.x, images.y, strict=True)):
        (tmp_path / "f" / "ab"[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(tmp_path / "f" / "ab"[label] / f"{i:02d}.png")
    lazy = load_image_folder(tmp_path / "f")
    order = [int(Path(i).stem) for i in lazy.ids]
    eager = TransferDataset("f", "image", [images.x[i] for i in order], lazy.y, lazy.classes)
    streamed = extract_features(backbone, lazy, cache_dir=tmp_path, backend="torch", batch_size=4,
                                progress=False)
    direct = extract_features(backbone, eager, backend="torch", batch_size=4, use_cache=False, progress=False)
    np.testing.assert_array_equal(streamed, direct)
    calls, handle = _count_forwards(backbone)
    try:  # the same content key: the decoded arrays hit the folder's entry
        hit = extract_features(backbone, eager, cache_dir=tmp_path, backend="torch", progress=False)
    finally:
        handle.remove()
    assert calls == [] and np.array_equal(hit, direct)


def test_entry_is_written_batch_by_batch_and_a_failure_leaves_none(backbone, images, tmp_path, monkeypatch):
    from transferkit.features.cache import EntryWriter

    writes = []
    real_write = EntryWriter.write
    monkeypatch.setattr(EntryWriter, "write", lambda self, rows, values: (writes.append(list(rows)),
                                                                           real_write(self, rows, values)))
    feats = extract_features(backbone, images, cache_dir=tmp_path, backend="torch", batch_size=4,
                             progress=False)
    assert writes == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and isinstance(feats, np.memmap)
    np.testing.assert_array_equal(feats, extract_features(backbone, images, backend="torch", batch_size=4,
                                                          use_cache=False, progress=False))
    other = TransferDataset("other", "image", images.x[::-1].copy(), images.y, ["a", "b"])
    calls = []

    def fail_on_the_second_batch(module, args):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("disk gone")

    handle = backbone.register_forward_pre_hook(fail_on_the_second_batch)
    try:
        with pytest.raises(RuntimeError, match="disk gone"):
            extract_features(backbone, other, cache_dir=tmp_path, backend="torch", batch_size=4, progress=False)
    finally:
        handle.remove()
    assert len(FeatureCache(tmp_path).ls()) == 1  # only the first data's entry
    assert not list((tmp_path / "features").glob("*.tmp"))
