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
    assert tk.load(run.run_dir).model.head.segmentation_head[0].in_channels == 8  # 32 halved twice (3 blocks)
    assert "majority" in run.summary["baselines"]
    report = (run.run_dir / "report.html").read_text()
    assert "true and predicted masks" in report and "overlaid on the images" in report
    with np.load(run.run_dir / "test_predictions.npz", allow_pickle=False) as z:
        assert z["images"].shape[1:3] == z["mask_true"].shape[1:] and z["images"].dtype == np.uint8
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

    assert SegmentationTask().min_train_steps() == SegmentationConfig().min_steps >= 100
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


def test_a_shorter_decoder_ends_at_a_coarser_stride_and_upsamples_to_the_input_size():
    from transferkit.tasks.segmentation import UnetHead

    channels = [3, 16, 24, 40, 112, 320]  # efficientnet_lite0's maps, strides 1 .. 32
    maps = [torch.randn(2, c, 64 >> i, 64 >> i) for i, c in enumerate(channels)]
    for blocks, last in ((3, 32), (5, 8)):
        head = UnetHead(channels, 11, 128, blocks)
        assert len(head.decoder.blocks) == blocks
        assert head.decoder(maps).shape[-3:] == (last, 64 >> (5 - blocks), 64 >> (5 - blocks))
        assert head(maps).shape == (2, 11, 64, 64)


def test_a_run_recorded_before_decoder_blocks_loads_with_smps_five_blocks(tmp_path):
    import json

    import transferkit as tk

    data = get_task("segmentation").tiny_example(tmp_path)
    run = tk.fit(data=data["data"], task="segmentation", backbone="timm:mobilenetv3_small_050",
                 pretrained=False, image_size=32, strategy="linear-probe", epochs=1,
                 task_params={"decoder_width": 32, "decoder_blocks": 5, "min_steps": 0},
                 out=str(tmp_path / "run"), log=None)
    manifest_path = run.run_dir / "transferkit.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["task_params"].pop("decoder_blocks") == 5  # as written before the option
    manifest_path.write_text(json.dumps(manifest))
    assert len(tk.load(run.run_dir).model.head.decoder.blocks) == 5


def test_the_class_balanced_loss_is_the_hand_weighted_cross_entropy():
    """class_balance p: w_c = (n / (K_present n_c)) ** p, the weighted mean over pixels."""
    from transferkit.tasks.segmentation import SegmentationObjective, pixel_class_weights

    y = torch.tensor([[[0, 0, 0], [0, 0, 1]]])  # 5 background pixels, 1 object pixel
    w = pixel_class_weights(y.numpy(), 3, 0.5)
    assert w.tolist() == pytest.approx([(6 / 10) ** 0.5, (6 / 2) ** 0.5, 0.0])  # class 2 absent
    assert pixel_class_weights(y.numpy(), 3, 0.0) is None
    logits = torch.randn(1, 3, 2, 3)
    objective = SegmentationObjective(lambda m, x: x, 3, dice_weight=0.0, weight=w)
    loss, logs = objective(None, (logits, y), 0)
    nll = -torch.log_softmax(logits, 1).gather(1, y[:, None])[:, 0]  # (1, 2, 3)
    weights = w[y]
    assert float(loss) == pytest.approx(float((weights * nll).sum() / weights.sum()), rel=1e-5)
    plain, _ = SegmentationObjective(lambda m, x: x, 3, dice_weight=0.0)(None, (logits, y), 0)
    assert float(plain) == pytest.approx(float(nll.mean()), rel=1e-5)
    assert float(loss) != pytest.approx(float(plain))


@pytest.mark.parametrize("seed", [0, 1])
def test_dice_loss_is_smp_dice_loss_in_value_and_gradient(seed):
    """The index-based Dice equals smp's multiclass DiceLoss from logits (absent classes included)."""
    from segmentation_models_pytorch.losses import DiceLoss

    from transferkit.tasks.segmentation import SegmentationObjective, dice_loss

    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 5, 7, 6, generator=gen, requires_grad=True)
    y = torch.randint(0, 5, (3, 7, 6), generator=gen)
    y[y == 3] = 0  # class 3 absent from the targets
    ours, theirs = dice_loss(logits, y), DiceLoss("multiclass", from_logits=True)(logits, y)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-6)
    g_ours, = torch.autograd.grad(ours, logits)
    g_theirs, = torch.autograd.grad(theirs, logits)
    assert torch.allclose(g_ours, g_theirs, atol=1e-7)
    ce = torch.nn.functional.cross_entropy(logits, y)
    loss, logs = SegmentationObjective(lambda m, x: x, 5, dice_weight=0.5)(None, (logits, y), 0)
    assert float(loss) == pytest.approx(float(ce + 0.5 * theirs), rel=1e-5)
    assert logs["dice_loss"] == pytest.approx(float(theirs), abs=1e-6)


def test_a_single_decoder_lr_holds_out_no_validation_and_trains_on_every_shot(tmp_path):
    """A grid of one learning rate has nothing to choose: all the shots train, at that rate."""
    import transferkit as tk

    data = get_task("segmentation").tiny_example(tmp_path)
    run = tk.fit(data=data["data"], task="segmentation", backbone="timm:mobilenetv3_small_050",
                 pretrained=False, image_size=32, strategy="linear-probe", epochs=1, batch_size=32,
                 shots=10, cache_dir=str(tmp_path / "cache"),
                 task_params={"decoder_width": 16, "min_steps": 3, "lr_grid": [0.02]},
                 out=str(tmp_path / "run"), log=None)
    assert run.summary["labels_used"] == {"train": 10, "val": 0}
    stage = run.summary["stages"][0]
    assert stage["steps"] == 3 and "lr_grid" not in stage
    import json

    lrs = [json.loads(line).get("lr", {}).get("head") for line in
           (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert 1e-3 < max(v for v in lrs if v is not None) <= 0.02  # the grid's rate, not train.lr (1e-3)


def test_a_model_within_two_points_of_the_majority_mask_gets_the_floor_warning():
    from transferkit.tasks.segmentation import SegmentationTask

    task = SegmentationTask()
    majority = {"majority": {"class": "background", "test": {"miou": 0.079}}}
    assert "not above painting every pixel 'background'" in task.floor_warning(
        {"test": {"miou": 0.080}}, majority, {})
    assert task.floor_warning({"test": {"miou": 0.2}}, majority, {}) is None


def test_a_segmentation_run_as_backbone_keeps_its_decoder_when_the_classes_match(tmp_path):
    """The seed's pattern: train on one domain, then fit the other with the same classes --
    the source run's decoder is the start, not only its encoder (S1: 22.5 % vs 11.9 % mIoU)."""
    import transferkit as tk
    from transferkit.data import load_splits
    from transferkit.jobs.fit import resolve_config
    from transferkit.pipeline.build import build_model

    data = get_task("segmentation").tiny_example(tmp_path)
    params = {"decoder_width": 16, "min_steps": 0}
    source = tk.fit(data=data["data"], task="segmentation", backbone="timm:mobilenetv3_small_050",
                    pretrained=False, image_size=32, strategy="linear-probe", epochs=1, task_params=params,
                    out=str(tmp_path / "source"), log=None)
    stored = {k: v for k, v in source.model.state_dict().items() if k.startswith("head.")}

    def build(**kwargs):
        cfg = resolve_config(data=data["data"], task="segmentation", backbone=str(source.run_dir),
                             image_size=32, strategy="linear-probe", **kwargs)
        task = get_task("segmentation", cfg.task_params)
        return build_model(cfg, load_splits(cfg.data, targets=task.targets).train, task)

    kept = build(task_params=params)
    assert kept.source_head == {"run": str(source.run_dir), "kept": True, "tensors": len(stored), "classes": 3}
    assert all(torch.equal(kept.state_dict()[k], v) for k, v in stored.items())
    fresh = build(task_params=params, overrides=["backbone.keep_head=false"])
    assert fresh.source_head["why_not"] == "backbone.keep_head is false"
    assert not all(torch.equal(fresh.state_dict()[k], v) for k, v in stored.items())
    other = build(task_params={**params, "decoder_width": 32})
    assert not other.source_head["kept"] and "another shape" in other.source_head["why_not"]
    # the scratch baseline (pretrained=False) never takes it; summary.json says what happened
    run = tk.fit(data=data["data"], task="segmentation", backbone=str(source.run_dir), image_size=32,
                 strategy="linear-probe", epochs=1, task_params=params, compare=["scratch"],
                 out=str(tmp_path / "target"), log=None)
    assert run.summary["source_head"]["kept"] is True
