"""Segmentation: metrics computed by hand, the encoder's weights, masks written by predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferkit.tasks import get_task, infer_task
from transferkit.tasks.segmentation import confusion_metrics, segmentation_metrics


def test_iou_and_dice_of_known_masks():
    y = np.array([[[0, 0, 1, 1],
                   [0, 0, 1, 1],
                   [2, 2, 2, 0]]])
    p = np.array([[[0, 1, 1, 1],
                   [0, 0, 1, 0],
                   [2, 2, 0, 0]]])
    m = segmentation_metrics(y, p, ["bg", "a", "b"], detailed=True)
    # class bg: TP 4, FP 2, FN 1 ; a: TP 3, FP 1, FN 1 ; b: TP 2, FP 0, FN 1
    iou = [4 / 7, 3 / 5, 2 / 3]
    dice = [8 / 11, 6 / 8, 4 / 5]
    assert m["per_class_iou"] == pytest.approx(dict(zip(["bg", "a", "b"], iou, strict=True)))
    assert m["miou"] == pytest.approx(np.mean(iou))
    assert m["dice"] == pytest.approx(np.mean(dice))
    assert m["pixel_accuracy"] == pytest.approx(9 / 12)


def test_absent_classes_leave_the_mean_and_predictions_are_resized():
    y = np.zeros((1, 4, 4), int)
    y[0, :2, :2] = 1
    small = np.array([[[1, 0], [0, 0]]])  # predicted at half the size: nearest upscaling
    m = segmentation_metrics(y, small, ["bg", "a", "never"])
    assert m["miou"] == 1.0 and m["pixel_accuracy"] == 1.0
    assert confusion_metrics(np.zeros((2, 2), int))["miou"] == 0.0


def test_majority_baseline_paints_the_most_frequent_class():
    from transferkit.data import TransferDataset

    masks = np.zeros((3, 4, 4), np.int16)
    masks[:, 0, 0] = 1
    ds = TransferDataset("m", "image", np.zeros((3, 4, 4, 3), np.uint8), masks, ["bg", "obj"])
    base = get_task("segmentation").baselines(ds, ds)["majority"]
    assert base["class"] == "bg"
    assert base["test"]["pixel_accuracy"] == pytest.approx(15 / 16)
    assert base["test"]["miou"] == pytest.approx((15 / 16) / 2)  # obj: IoU 0
    assert infer_task(ds)[0] == "segmentation"


def test_dense_encoder_holds_the_packaged_weights():
    from transferkit.backbones import create_backbone

    timm_bb = create_backbone("efficientnet_lite0", image_size=64)
    enc = get_task("segmentation").prepare_backbone(timm_bb)
    own = enc.encoder.model.state_dict()
    assert enc.loaded["tensors"] == len(own) and "conv_head" in enc.loaded["unused"]
    assert f"{len(own)} tensors loaded" in enc.describe_adapter()
    src = timm_bb.model.state_dict()
    assert all(torch.equal(own[k], src[k]) for k in own)
    feats = enc(enc.collate([np.zeros((40, 50, 3), np.uint8)]))
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4, 2]


def test_predict_writes_masks_at_the_input_size(tmp_path, monkeypatch):
    import json

    from PIL import Image

    import transferkit as tk
    from transferkit.cli import main
    from transferkit.tasks.segmentation import SegmentationTask

    monkeypatch.chdir(tmp_path)
    data = SegmentationTask.tiny_example(tmp_path)
    run = tk.fit(data=data["data"], task="segmentation", backbone="timm:mobilenetv3_small_050",
                 pretrained=False, image_size=32, strategy="linear-probe", epochs=1,
                 task_params={"decoder_width": 32, "min_steps": 0}, out=str(tmp_path / "run"), log=None)
    assert run.summary["strategy"] == "linear-probe"
    assert tk.load(run.run_dir).model.head.segmentation_head[0].in_channels == 2  # 32 halved 4 times
    assert "majority" in run.summary["baselines"]
    assert "true and predicted masks" in (run.run_dir / "report.html").read_text()
    img = tmp_path / "one.png"
    Image.fromarray(np.zeros((24, 40, 3), np.uint8)).save(img)
    out = tmp_path / "pred.json"
    assert main(["predict", str(run.run_dir), str(img), "--output-dir", str(tmp_path / "masks"),
                 "--format", "json", "-o", str(out)]) == 0
    rows = json.loads(out.read_text())
    mask = np.asarray(Image.open(rows[0]["output"]))
    assert mask.shape == (24, 40) and set(np.unique(mask)) <= {0, 1, 2}
    # the run is a backbone: its fine-tuned multi-scale encoder (pretrain on one domain, fit on another)
    from transferkit.backbones import create_backbone

    enc = create_backbone(str(run.run_dir))
    assert torch.equal(enc.encoder.model.conv_stem.weight, run.model.backbone.encoder.model.conv_stem.weight)
    assert get_task("segmentation").prepare_backbone(enc) is enc
    # export: the ONNX model gives the same per-pixel logits (export checks them against PyTorch)
    from transferkit.export import export

    out_dir = export(run.run_dir, "onnx", tmp_path / "onnx")
    assert (tmp_path / "onnx" / "model.onnx").is_file() and out_dir


def test_packed_maps_unpack_to_the_encoders_maps_and_the_same_logits():
    from transferkit.backbones import create_backbone

    enc = get_task("segmentation").prepare_backbone(
        create_backbone("timm:mobilenetv3_small_050", image_size=32, pretrained=False)).eval()
    packed = enc.packed_maps()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        maps, rows = enc(x), packed(x)
        assert rows.shape == (2, packed.feature_dim)
        assert packed.feature_dim == sum(m[0].numel() for m in maps[1:])  # the input is left out
        back = packed.unpack(rows)
        assert back[0].shape == (2, 0, 32, 32)
        for a, b in zip(back[1:], maps[1:], strict=True):
            assert torch.equal(a, b)
        head = get_task("segmentation").head_for(enc, 0, 3).eval()
        assert torch.allclose(head(back), head(maps))  # the decoder reads the input's size only
    assert packed.describe()["packed_maps"] and packed.fingerprint() != enc.fingerprint()


def test_the_frozen_decoder_trains_on_cached_maps_with_the_lr_chosen_on_validation(tmp_path):
    """The frozen encoder's maps are cached once per image (train and validation entries in the
    feature cache); the decoder trains once per learning rate of the grid, each stretched to
    the step budget, and the run with the best validation mIoU is kept; the --compare scratch
    U-Net trains on raw images for the same budget."""
    import json

    import transferkit as tk
    from transferkit.features import FeatureCache
    from transferkit.tasks.segmentation import SegmentationConfig, SegmentationTask

    assert SegmentationTask().min_train_steps() == SegmentationConfig().min_steps > 100
    data = SegmentationTask.tiny_example(tmp_path)
    run = tk.fit(data=data["data"], task="segmentation", backbone="timm:mobilenetv3_small_050",
                 pretrained=False, image_size=32, strategy="linear-probe", epochs=1, batch_size=32,
                 shots=10, compare="scratch", cache_dir=str(tmp_path / "cache"),
                 task_params={"decoder_width": 16, "min_steps": 5, "lr_grid": [1e-4, 3e-2]},
                 out=str(tmp_path / "run"), log=None)
    steps: dict[str, int] = {}
    for line in (run.run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        steps[rec["stage"]] = max(steps.get(rec["stage"], 0), int(rec.get("step", 0)))
    # 8 train images at batch 32: 1 step per epoch; 2 held out as validation for the grid
    assert steps == {"head@lr0.0001": 5, "head@lr0.03": 5, "scratch-full": 5}
    stage = run.summary["stages"][0]
    grid = stage["lr_grid"]
    assert set(grid) == {"0.0001", "0.03"}
    assert stage["lr"] == float(max(grid, key=lambda k: grid[k]))  # the best on validation
    assert stage["best_metric"] == max(grid.values())
    cache = FeatureCache(tmp_path / "cache")
    entries = [json.loads(f.read_text()) for f in cache.features_dir.glob("*.json")]
    assert sorted(e["n"] for e in entries) == [2, 8]  # validation and train, once per image


def test_a_model_within_two_points_of_the_majority_mask_gets_the_floor_warning():
    from transferkit.tasks.segmentation import SegmentationTask

    task = SegmentationTask()
    majority = {"majority": {"class": "background", "test": {"miou": 0.079}}}
    assert "not above painting every pixel 'background'" in task.floor_warning(
        {"test": {"miou": 0.080}}, majority, {})
    assert task.floor_warning({"test": {"miou": 0.2}}, majority, {}) is None
