"""Detection: COCO / YOLO readers and their errors, the scenes' boxes, COCO mAP against
hand-computed AP, the FCOS head's loss and decoding, the prior-box baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from transferkit.data.boxes import box_rows, load_detection_folder
from transferkit.errors import ConfigError, DataError
from transferkit.tasks._detection_ops import FcosHead, coco_map, fcos_detections, fcos_loss
from transferkit.tasks.detection import DetectionTask

CLASSES = ["a", "b"]


def _targets(*images):
    m = max(len(i) for i in images)
    out = np.full((len(images), m, 5), -1.0, np.float32)
    out[..., 1:] = 0
    for n, rows in enumerate(images):
        if rows:
            out[n, :len(rows)] = rows
    return out


def _dets(*images):
    m = max(len(i) for i in images)
    out = np.full((len(images), m, 6), -1.0, np.float32)
    for n, rows in enumerate(images):
        if rows:
            out[n, :len(rows)] = rows
    return out


def test_map_of_a_known_ranking_matches_hand_computed_ap():
    # two true boxes of class a; detections ranked TP (0.9), FP (0.8, far away), TP (0.7)
    y = _targets([[0, .1, .1, .3, .3], [0, .6, .6, .9, .9]])
    d = _dets([[0, .9, .1, .1, .3, .3], [0, .8, .4, .0, .5, .05], [0, .7, .6, .6, .9, .9]])
    # precision at recall .5 is 1, at recall 1 it is 2/3; COCO interpolates on 101 recall points:
    # 51 points (0 .. .50) at 1, 50 points (.51 .. 1) at 2/3; every IoU threshold alike (IoU 1 or 0)
    ap = (51 * 1.0 + 50 * 2 / 3) / 101
    m = coco_map(y, d, CLASSES)
    assert m["map"] == pytest.approx(ap) and m["map_50"] == pytest.approx(ap)
    assert m["per_class_ap"] == {"a": pytest.approx(ap), "b": None}


def test_map_counts_the_iou_thresholds_a_box_passes():
    # one box, one detection of IoU 0.625 (x2 short by 3/8 of the width): a match at
    # IoU .50, .55, .60 of the ten thresholds .50:.05:.95 -> mAP 0.3, mAP@.5 1
    y = _targets([[1, .0, .0, .8, .4]])
    d = _dets([[1, .95, .0, .0, .5, .4]])
    m = coco_map(y, d, CLASSES)
    assert m["map"] == pytest.approx(0.3) and m["map_50"] == pytest.approx(1.0) and m["map_75"] == 0.0
    # the wrong class finds nothing
    assert coco_map(y, _dets([[0, .95, .0, .0, .8, .4]]), CLASSES)["map"] == 0.0


def _yolo(root, labels, classes="a\nb\n", size=(40, 20)):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text(classes)
    for i, text in enumerate(labels):
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(root / "images" / f"i{i}.png")
        (root / "labels" / f"i{i}.txt").write_text(text)
    return root


def test_yolo_folder_reads_boxes_as_fractions(tmp_path):
    root = _yolo(tmp_path / "y", ["1 0.5 0.5 0.5 0.5\n0 0.25 0.25 0.1 0.1\n", ""])
    ds = load_detection_folder(root)
    assert ds.boxes and ds.classes == CLASSES and ds.y.shape == (2, 2, 5)
    assert np.allclose(box_rows(ds.y[0]), [[1, .25, .25, .75, .75], [0, .2, .2, .3, .3]])
    assert len(box_rows(ds.y[1])) == 0  # an empty label file: no objects
    assert ds.describe()["class_counts"] == [1, 1]


@pytest.mark.parametrize("line, message", [
    ("0 0.9 0.5 0.4 0.2", "lies outside the 40x20 image"),
    ("1 0.5 0.5 0.0 0.2", "width or height <= 0"),
    ("5 0.5 0.5 0.1 0.1", "class 5 is not one of the 2 classes"),
])
def test_bad_yolo_boxes_name_file_and_box_or_are_skipped(tmp_path, line, message):
    root = _yolo(tmp_path / "y", ["0 0.5 0.5 0.2 0.2\n", line + "\n"])
    with pytest.raises(DataError, match=message) as err:
        load_detection_folder(root)
    assert "i1.txt' line 1" in str(err.value)
    ds = load_detection_folder(root, skip_bad=True)
    assert len(ds) == 1 and ds.skipped[0]["file"].endswith("i1.png") and message in ds.skipped[0]["error"]


def test_coco_folder_and_its_errors(tmp_path):
    root = tmp_path / "c"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(root / "images" / "p.png")
    doc = {"images": [{"id": 7, "file_name": "p.png", "width": 100, "height": 50}],
           "categories": [{"id": 3, "name": "cat"}, {"id": 1, "name": "dog"}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 5, 20, 10]},
                           {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 1}]}
    (root / "annotations.json").write_text(json.dumps(doc))
    ds = load_detection_folder(root)
    assert ds.classes == ["dog", "cat"]  # by category id
    assert np.allclose(box_rows(ds.y[0]), [[1, .1, .1, .3, .3]])  # the crowd region left out
    doc["annotations"][0]["category_id"] = 9
    (root / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"image 'p.png'.*annotation 1 has the category id 9"):
        load_detection_folder(root)
    doc["annotations"][0].update(category_id=3, bbox=[90, 5, 20, 10])
    (root / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"annotation 1\).*x2=110.*outside the 100x50 image"):
        load_detection_folder(root)


def test_scenes_boxes_hold_every_pixel_of_their_glyph():
    from transferkit.data.builtin.scenes import MAX_HEIGHT, SIZE, render_scene_objects

    _, masks, boxes = render_scene_objects(12, "plain", 3)
    for mask, rows in zip(masks, boxes, strict=True):
        rows = box_rows(rows)
        assert 1 <= len(rows) <= 4
        px = rows[:, 1:] * SIZE
        assert (px[:, 2:] - px[:, :2] > 0).all() and (px[:, 3] - px[:, 1] <= MAX_HEIGHT).all()
        for c in np.unique(mask[mask > 0]):  # each painted pixel of a digit lies in a box of that digit
            ys, xs = np.nonzero(mask == c)
            own = px[rows[:, 0] == c - 1]
            inside = ((xs[:, None] >= own[:, 0]) & (xs[:, None] < own[:, 2])
                      & (ys[:, None] >= own[:, 1]) & (ys[:, None] < own[:, 3])).any(1)
            assert inside.all()


def test_fcos_head_trains_and_decodes_to_fractional_boxes():
    torch.manual_seed(0)
    head = FcosHead([3, 8, 8, 16, 16, 32], num_classes=2, width=64, num_convs=1)
    feats = [torch.randn(2, 3, 64, 64)] + [torch.randn(2, c, 64 >> i, 64 >> i)
                                           for i, c in enumerate([8, 8, 16, 16, 32], 1)]
    out = head(feats)
    assert out.shape == (2, 64 // 8 * 64 // 8 + 16 + 4 + 1 + 1, 2 + 11)
    y = torch.tensor([[[0, .1, .1, .6, .6]], [[-1, 0, 0, 0, 0]]])  # the second image has no box
    loss = fcos_loss(out, y, 2)
    loss.backward()
    assert torch.isfinite(loss) and head.head.classification_head.cls_logits.weight.grad is not None
    assert fcos_loss(out.detach(), y, 2, per_image=True).shape == (2,)
    for bad in (48, 32):
        with pytest.raises(ConfigError, match="multiple of 32 and at least 64"):
            FcosHead([3, 8, 8, 16, 16, 32], num_classes=2, width=bad)
    dets = fcos_detections(out.detach(), 2, detections=10)
    assert dets.shape == (2, 10, 6)
    kept = dets[dets[..., 0] >= 0]
    assert ((kept[:, 2:] >= 0) & (kept[:, 2:] <= 1)).all() and (kept[:, 1] >= 0.05).all()


def test_prior_boxes_baseline_and_floor_warning():
    from transferkit.data import TransferDataset

    y = _targets([[0, .1, .1, .3, .3]], [[0, .2, .2, .4, .4], [1, .5, .5, .9, .9]])
    ds = TransferDataset(name="t", modality="image", x=np.zeros((2, 8, 8, 3), np.uint8), y=y,
                         classes=CLASSES, meta={"boxes": True})
    from transferkit.tasks import infer_task

    assert infer_task(ds)[0] == "detection"  # boxes go to the task that takes them
    task = DetectionTask()
    base = task.baselines(ds, ds)["prior_boxes"]
    assert base["boxes"] == 3 and 0.0 <= base["test"]["map"] < 1.0
    floor = base["test"]["map"]
    assert "mean training box" in task.floor_warning({"test": {"map": floor}}, {"prior_boxes": base}, {})
    assert task.floor_warning({"test": {"map": floor + 0.1}}, {"prior_boxes": base}, {}) is None


def test_fit_predict_report_and_onnx_of_a_tiny_detector(tmp_path, monkeypatch):
    import transferkit as tk
    from transferkit.cli import main
    from transferkit.export import export

    monkeypatch.chdir(tmp_path)
    data = DetectionTask.tiny_example(tmp_path)
    run = tk.fit(data=data["data"], task="detection", backbone="timm:mobilenetv3_small_050",
                 pretrained=False, image_size=64, strategy="linear-probe", epochs=1,
                 task_params={"fpn_width": 64, "head_convs": 1}, out=str(tmp_path / "run"), log=None)
    assert run.summary["strategy"] == "linear-probe" and "prior_boxes" in run.summary["baselines"]
    assert "true and predicted boxes" in (run.run_dir / "report.html").read_text()
    img = tmp_path / "one.png"
    Image.fromarray(np.full((30, 90, 3), 200, np.uint8)).save(img)
    out = tmp_path / "pred.json"
    assert main(["predict", str(run.run_dir), str(img), "--output-dir", str(tmp_path / "boxes"),
                 "--format", "json", "-o", str(out)]) == 0
    row = json.loads(out.read_text())[0]
    boxes = json.loads(row["boxes"])
    assert row["n_boxes"] == len(boxes) and row["output"].endswith("one.png")
    assert all(0 <= b["x1"] <= b["x2"] <= 90 and 0 <= b["y1"] <= b["y2"] <= 30 for b in boxes)  # input pixels
    assert json.loads((tmp_path / "boxes" / "one.json").read_text()) == boxes
    assert Image.open(tmp_path / "boxes" / "one.png").size == (90, 30)
    # ONNX: the raw FCOS outputs per anchor, checked against PyTorch by export itself
    folder = export(run.run_dir, "onnx", tmp_path / "onnx")
    pre = json.loads((folder / "preprocessing.json").read_text())
    assert pre["parity"]["max_abs_diff"] < 1e-3 and pre["outputs"][0]["shape"][-1] == 2 + 11
