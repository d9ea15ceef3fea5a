"""torchvision's FCOS pieces for the detection task: the head on a multi-scale encoder, its
loss and its decoding, and COCO-style mAP with pycocotools.

The head (:class:`FcosHead`) is torchvision's ``FeaturePyramidNetwork`` (P3-P5 from the
encoder's stride-8/16/32 maps, P6-P7 by ``LastLevelP6P7`` as in ``fcos_resnet50_fpn``) and
``FCOSHead``, with torchvision's ``AnchorGenerator`` (one anchor per location, sizes 8-128
px). Its output is one tensor per image, a row per anchor location (so that the engine,
exports and the validation loop pass it around like any logits)::

    [K class logits | 4 box regression | 1 centerness | anchor x1 y1 x2 y2 | image H W]

The loss and the decoding are torchvision's own: :func:`fcos_loss` calls
``FCOS.compute_loss`` (centre sampling, scale ranges, sigmoid focal loss + GIoU +
centerness BCE) and :func:`fcos_detections` ``FCOS.postprocess_detections`` (score
threshold, top-k per level, class-wise NMS with ``torchvision.ops.batched_nms``), on an
FCOS whose only trained parameters are the head's (it holds no weights of its own).
"""

from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

#: extra columns after the class logits: regression (4), centerness (1), anchor (4), H, W
EXTRA = 11
#: the encoder levels the FPN reads (strides 8, 16, 32)
LEVELS = (3, 4, 5)
ANCHOR_SIZES = ((8,), (16,), (32,), (64,), (128,))


class FcosHead(nn.Module):
    """Encoder maps ``[x, f_1, ..., f_5]`` -> ``(B, A, K + 11)`` (see the module docstring)."""

    def __init__(self, encoder_channels: list[int], num_classes: int, width: int = 128,
                 num_convs: int = 2) -> None:
        super().__init__()
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        from transferkit.errors import ConfigError

        if width % 32 or width < 64:  # GroupNorm: 32 groups of >= 2 channels (P7 may be 1x1)
            raise ConfigError(f"The 'fpn_width' parameter of the detection task must be a multiple of 32 "
                              f"and at least 64 (the FCOS head's GroupNorm has 32 groups, each needs 2 "
                              f"values on a 1x1 map). Got {width} instead.")
        from torchvision.models.detection.fcos import FCOSHead
        from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelP6P7

        self.fpn = FeaturePyramidNetwork([int(encoder_channels[i]) for i in LEVELS], width,
                                         extra_blocks=LastLevelP6P7(width, width))
        self.head = FCOSHead(width, num_anchors=1, num_classes=num_classes, num_convs=num_convs)
        self.anchors = AnchorGenerator(ANCHOR_SIZES, ((1.0,),) * len(ANCHOR_SIZES))
        self.num_classes = num_classes

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        from torchvision.models.detection.image_list import ImageList

        x = features[0]
        maps = list(self.fpn(OrderedDict((str(i), features[i]) for i in LEVELS)).values())
        out = self.head(maps)
        b, (h, w) = x.shape[0], x.shape[-2:]
        anchors = self.anchors(ImageList(x, [(int(h), int(w))] * b), maps)[0]  # (A, 4), equal per image
        size = torch.tensor([float(h), float(w)], device=x.device).expand(anchors.shape[0], 2)
        extra = torch.cat([anchors, size], 1).unsqueeze(0).expand(b, -1, -1)
        return torch.cat([out["cls_logits"], out["bbox_regression"], out["bbox_ctrness"], extra], 2)


@lru_cache(maxsize=8)
def fcos_logic(num_classes: int, score_thresh: float = 0.05, nms_thresh: float = 0.6,
               detections: int = 100) -> Any:
    """A torchvision FCOS used for its loss and decoding only (a 1-channel head without
    convolutions; the trained weights are :class:`FcosHead`'s)."""
    from torchvision.models.detection.fcos import FCOS, FCOSHead

    backbone = nn.Identity()
    backbone.out_channels = 1  # type: ignore[assignment]
    return FCOS(backbone, num_classes, head=FCOSHead(1, 1, num_classes, num_convs=0),
                score_thresh=score_thresh, nms_thresh=nms_thresh, detections_per_img=detections).eval()


def split_outputs(out: torch.Tensor, k: int) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[int], tuple[int, int]]:
    """(head outputs, anchors (A, 4), anchors per level, (H, W)) of an output tensor."""
    out = out.float()
    heads = {"cls_logits": out[..., :k], "bbox_regression": out[..., k:k + 4], "bbox_ctrness": out[..., k + 4:k + 5]}
    anchors = out[0, :, k + 5:k + 9]
    _, counts = torch.unique_consecutive(anchors[:, 2] - anchors[:, 0], return_counts=True)
    h, w = out[0, 0, k + 9:k + 11].tolist()
    return heads, anchors, [int(c) for c in counts], (int(h), int(w))


def box_targets(y: torch.Tensor, size: tuple[int, int]) -> list[dict[str, torch.Tensor]]:
    """``(B, M, 5)`` fractional rows -> torchvision targets in pixels of an ``size`` image."""
    h, w = size
    scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=y.device)
    out = []
    for rows in y.float():
        rows = rows[rows[:, 0] >= 0]
        out.append({"boxes": rows[:, 1:5] * scale, "labels": rows[:, 0].long()})
    return out


def fcos_loss(out: torch.Tensor, y: torch.Tensor, k: int, per_image: bool = False) -> torch.Tensor:
    """torchvision's FCOS loss (classification + box regression + centerness) of the batch,
    or ``(B,)`` of each image alone with ``per_image``."""
    heads, anchors, counts, size = split_outputs(out, k)
    targets = box_targets(y.to(out.device), size)
    logic = fcos_logic(k)
    if per_image:
        return torch.stack([fcos_loss(out[i:i + 1], y[i:i + 1], k) for i in range(len(out))])
    losses = logic.compute_loss(targets, heads, [anchors] * len(out), counts)
    return sum(losses.values())  # type: ignore[return-value]


def fcos_detections(out: torch.Tensor, k: int, detections: int = 100, score_thresh: float = 0.05,
                    nms_thresh: float = 0.6) -> torch.Tensor:
    """``(B, D, 6)`` rows ``[class, score, x1, y1, x2, y2]`` (corners as fractions of the
    image), best first, padded with class -1: FCOS's decoding, score threshold and NMS."""
    heads, anchors, counts, (h, w) = split_outputs(out, k)
    split = {key: list(v.split(counts, dim=1)) for key, v in heads.items()}
    per_level = list(anchors.split(counts))
    with torch.no_grad():
        found = fcos_logic(k, score_thresh, nms_thresh, detections).postprocess_detections(
            split, [per_level] * len(out), [(h, w)] * len(out))
    rows = torch.zeros((len(out), detections, 6))
    rows[:, :, 0] = -1
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    for i, d in enumerate(found):
        n = min(detections, len(d["scores"]))
        rows[i, :n, 0] = d["labels"][:n].float().cpu()
        rows[i, :n, 1] = d["scores"][:n].float().cpu()
        rows[i, :n, 2:] = d["boxes"][:n].float().cpu() / scale
    return rows


# --------------------------------------------------------------------------- COCO-style mAP

#: the scale fractional corners are given in for pycocotools (IoU does not depend on it)
COCO_SCALE = 1000.0


def coco_map(targets: np.ndarray, detections: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """COCO-style mAP of detections ``(N, D, 6)`` against targets ``(N, M, 5)`` (both with
    fractional corners, padded with class -1), with pycocotools' ``COCOeval`` (area range
    all, 100 detections per image): ``map`` (IoU .50:.05:.95), ``map_50``, ``map_75`` and
    ``per_class_ap`` (AP at .50:.95 of each class with a true box; None for the others).
    A dataset without any true box gives 0."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt: dict[str, Any] = {"images": [], "annotations": [],
                          "categories": [{"id": c, "name": n} for c, n in enumerate(classes)]}
    dets = []
    for i, (t, d) in enumerate(zip(targets, detections, strict=True)):
        gt["images"].append({"id": i, "width": COCO_SCALE, "height": COCO_SCALE})
        for c, x1, y1, x2, y2 in np.asarray(t, dtype=np.float64).reshape(-1, 5):
            if c < 0:
                continue
            box = [x1 * COCO_SCALE, y1 * COCO_SCALE, (x2 - x1) * COCO_SCALE, (y2 - y1) * COCO_SCALE]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": int(c),
                                      "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        for c, s, x1, y1, x2, y2 in np.asarray(d, dtype=np.float64).reshape(-1, 6):
            if c >= 0:
                dets.append({"image_id": i, "category_id": int(c), "score": float(s),
                             "bbox": [x1 * COCO_SCALE, y1 * COCO_SCALE, (x2 - x1) * COCO_SCALE,
                                      (y2 - y1) * COCO_SCALE]})
    empty = {"map": 0.0, "map_50": 0.0, "map_75": 0.0, "per_class_ap": {c: None for c in classes}}
    if not gt["annotations"]:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        if not dets:
            return {**empty, "per_class_ap": {c: 0.0 if _has(gt, j) else None for j, c in enumerate(classes)}}
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"][:, :, :, 0, -1]  # (T, R, K): area all, 100 detections
    per_class = {}
    for j, c in enumerate(classes):
        p = precision[:, :, j]
        per_class[c] = float(p[p > -1].mean()) if (p > -1).any() else None
    stats = [max(0.0, float(v)) for v in ev.stats[:3]]
    return {"map": stats[0], "map_50": stats[1], "map_75": stats[2], "per_class_ap": per_class}


def _has(gt: dict[str, Any], c: int) -> bool:
    return any(a["category_id"] == c for a in gt["annotations"])


__all__ = ["EXTRA", "FcosHead", "box_targets", "coco_map", "fcos_detections", "fcos_logic", "fcos_loss"]
