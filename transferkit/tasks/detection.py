"""Object detection: boxes and classes per image.

The backbone is read as a multi-scale encoder (:class:`~transferkit.backbones.dense.DenseEncoder`,
as for segmentation) and the head is torchvision's FCOS: a feature pyramid (P3-P7) and the
FCOS classification / box / centerness head (:mod:`transferkit.tasks._detection_ops`). The
strategies mean: the linear probe trains the FPN and head on a frozen encoder (raw images
each step, nothing cached, no augmentation), partial the top encoder stages too, full
everything; ``--compare scratch`` trains the same detector from random weights.

Targets are ``(N, M, 5)`` rows ``[class, x1, y1, x2, y2]`` with corners as fractions of the
image (:mod:`transferkit.data.boxes`), so images keep their boxes when the encoder resizes
them (``image_size``: the scenes are read at their native 128 px). Loss: torchvision's FCOS
loss (sigmoid focal + GIoU + centerness). Decoding: score >= ``score_threshold``, class-wise
NMS at IoU ``nms_iou``, at most ``max_detections`` per image.

Metrics (pycocotools' ``COCOeval``, area range all, 100 detections): ``map`` -- mAP over IoU
.50:.05:.95, the selection and transfer-gain metric -- ``map_50``, ``map_75`` and (detailed)
per-class AP. Baseline ``prior_boxes``: every test image gets, for each class, that class's
mean training box, scored by the class's share of the training boxes (a detector that has
learnt only where objects tend to be).

``postprocess`` gives ``(N, D, 6)`` rows ``[class, score, x1, y1, x2, y2]`` (fractions,
class -1 = padding); predictions are boxes in each input's pixels; ``predict --output-dir``
writes per input a JSON list of boxes and the image with the boxes drawn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit.data.boxes import box_rows
from transferkit.errors import DataError
from transferkit.options import Options, option
from transferkit.tasks import TASKS
from transferkit.tasks._base import Accumulator, Task, unique_stems, with_l2_sp
from transferkit.tasks._detection_ops import EXTRA, FcosHead, coco_map, fcos_detections, fcos_loss


@dataclass
class DetectionConfig(Options):
    """Parameters of the detection task."""

    fpn_width: int = option(128, "Channels of the feature pyramid and the FCOS head (torchvision's "
                            "default is 256; 128 for CPU speed); a multiple of 32.", ge=64)
    head_convs: int = option(2, "3x3 convolutions in each FCOS branch (torchvision's default is 4; "
                             "2 for CPU speed).", ge=0)
    score_threshold: float = option(0.05, "Lowest score a detection keeps (COCO evaluation's usual "
                                    "0.05; raise it for fewer, surer boxes in predictions).", ge=0, le=1)
    nms_iou: float = option(0.6, "IoU above which a lower-scored box of the same class is dropped "
                            "(torchvision FCOS's 0.6).", gt=0, le=1)
    max_detections: int = option(100, "Most boxes kept per image (COCO evaluation's 100).", ge=1)


def detection_metrics(y: np.ndarray, dets: np.ndarray, classes: list[str],
                      detailed: bool = False) -> dict[str, Any]:
    """The metrics of detections ``(N, D, 6)`` against boxes ``y`` ``(N, M, 5)``."""
    y, dets = np.asarray(y), np.asarray(dets)
    if y.ndim != 3 or y.shape[-1] != 5:
        raise DataError(f"Expected boxes (N, M, 5); got targets of shape {y.shape}.")
    if len(dets) != len(y):
        raise DataError(f"Expected detections for {len(y)} images; got {len(dets)}.")
    if not len(y):
        raise DataError("Metrics need labelled images; this split has none.")
    m = coco_map(y, dets, classes)
    out: dict[str, Any] = {k: m[k] for k in ("map", "map_50", "map_75")}
    out["n"] = int(len(y))
    if detailed:
        out["per_class_ap"] = m["per_class_ap"]
        out["boxes"] = int((y[..., 0] >= 0).sum())
    return out


class DetectionObjective(nn.Module):
    """torchvision's FCOS loss (+ L2-SP)."""

    def __init__(self, forward: Callable[[nn.Module, Any], torch.Tensor], num_classes: int,
                 l2_sp: Any = None) -> None:
        super().__init__()
        self.forward_fn, self.num_classes, self.l2_sp = forward, num_classes, l2_sp

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, y = batch  # y: (B, M, 5)
        loss = fcos_loss(self.forward_fn(model, inputs), y, self.num_classes)
        return with_l2_sp(loss, {"fcos": float(loss.detach())}, self.l2_sp)


class DetectionAccumulator(Accumulator):
    """Validation loss (FCOS loss per image) and the COCO-style mAP."""

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config
        self.dets: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.loss_sum, self.n = 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:  # (B, A, K+11), (B, M, 5)
        k = outputs.shape[-1] - EXTRA
        self.loss_sum += float(fcos_loss(outputs.detach(), targets, k)) * len(outputs)
        self.n += len(outputs)
        self.dets.append(_decode(outputs.detach(), self.config).numpy())
        self.targets.append(_pad(targets.detach().float().cpu().numpy()))

    def compute(self) -> dict[str, float]:
        if not self.n:
            return {}
        k = max(int(np.concatenate([t[..., 0].ravel() for t in self.targets]).max(initial=0)) + 1,
                int(max(d[..., 0].max(initial=0) for d in self.dets)) + 1)
        m = coco_map(_stack(self.targets), np.concatenate(self.dets), [str(c) for c in range(k)])
        return {"loss": self.loss_sum / self.n, "map": m["map"], "map_50": m["map_50"]}


def _decode(outputs: torch.Tensor, config: DetectionConfig) -> torch.Tensor:
    k = outputs.shape[-1] - EXTRA
    return fcos_detections(outputs, k, int(config.max_detections), float(config.score_threshold),
                           float(config.nms_iou))


def _pad(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.float32).reshape(len(y), -1, 5)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    """Batches of ``(B_i, M_i, 5)`` targets -> one array padded to the largest M."""
    m = max(p.shape[1] for p in parts)
    out = [np.concatenate([p, np.tile([[-1, 0, 0, 0, 0]], (len(p), m - p.shape[1], 1))], 1)
           if p.shape[1] < m else p for p in parts]
    return np.concatenate(out).astype(np.float32)


@TASKS.register("detection", config=DetectionConfig,
                help="Object detection: boxes and classes per image (torchvision FCOS with a feature "
                "pyramid on the backbone's multi-scale features; selects on COCO mAP@[.5:.95]).")
class DetectionTask(Task):
    """Boxes and classes per image: torchvision's FCOS on the backbone's encoder."""

    name = "detection"
    selection_metric = "map"
    directions = {"map": "max", "map_50": "max", "map_75": "max", "loss": "min"}
    gain_metric = "map"
    gain_label = "mAP"
    shots_meaning = "labelled training images in total (each with all its boxes)"
    targets = "boxes"
    cached_inputs = False

    def __init__(self, config: DetectionConfig | None = None) -> None:
        super().__init__(config if config is not None else DetectionConfig())

    # ------------------------------------------------------------------ targets
    def output_dim(self, data: Any) -> int:
        return len(data.classes)

    def describe_targets(self, data: Any) -> dict[str, Any]:
        return {"classes": list(data.classes), "boxes": "[class, x1, y1, x2, y2], corners as fractions"}

    def check_targets(self, manifest: dict[str, Any]) -> str | None:
        classes = manifest.get("classes") or []
        outputs = (manifest.get("head") or {}).get("num_classes")
        if outputs is not None and outputs != len(classes):
            return f"lists {len(classes)} classes but its head has {outputs} outputs."
        return None

    # ------------------------------------------------------------------ model
    def prepare_backbone(self, backbone: Any) -> Any:
        from transferkit.backbones.dense import DenseEncoder

        return backbone if isinstance(backbone, DenseEncoder) else DenseEncoder.from_backbone(backbone)

    def head_for(self, backbone: Any, in_dim: int, out_dim: int) -> nn.Module:
        return FcosHead(list(backbone.out_channels), out_dim, self.config.fpn_width, self.config.head_convs)

    def describe_head(self, head: nn.Module) -> dict[str, Any]:
        return {"task_params": {k: getattr(self.config, k) for k in
                                ("fpn_width", "head_convs", "score_threshold", "nms_iou", "max_detections")}}

    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        return DetectionObjective(forward, int(num_outputs or len(train_data.classes)), l2_sp)

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return fcos_loss(outputs, targets, outputs.shape[-1] - EXTRA, per_image=True)  # (B,)

    def accumulator(self) -> Accumulator:
        return DetectionAccumulator(self.config)

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        return _decode(outputs, self.config)  # (B, A, K+11) -> (B, D, 6)

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        return detection_metrics(targets, outputs, list(meta["classes"]), detailed)

    #: how many test images (and their true and predicted boxes) a run keeps for the report
    report_images = 6

    def test_arrays(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray] | None:
        n = self.report_images
        return {"boxes_true": np.asarray(targets)[:n].astype(np.float32),
                "boxes_pred": np.asarray(outputs)[:n, :20].astype(np.float32)}

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        classes = list(train.classes)
        rows = np.concatenate([box_rows(r) for r in np.asarray(train.y)] + [np.zeros((0, 5), np.float32)])
        counts = np.bincount(rows[:, 0].astype(np.int64), minlength=len(classes))
        prior = np.full((len(classes), 6), -1.0, dtype=np.float32)
        for c in np.flatnonzero(counts):
            prior[c] = [c, counts[c] / counts.sum(), *rows[rows[:, 0] == c, 1:5].mean(0)]
        prior = prior[prior[:, 0] >= 0]
        prior = prior[np.argsort(-prior[:, 1], kind="stable")] if len(prior) else np.full((1, 6), -1.0, np.float32)
        dets = np.broadcast_to(prior, (len(test),) + prior.shape)
        return {"prior_boxes": {"boxes": int(len(rows)),
                                "test": detection_metrics(test.y, dets, classes)}}

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        floor = ((baselines.get("prior_boxes") or {}).get("test") or {}).get("map")
        model = metrics.get("test", {}).get("map")
        if floor is None or model is None or model > floor:
            return None
        return (f"the model's test mAP ({model:.3f}) is no better than putting each class's mean "
                f"training box on every image ({floor:.3f}): it has learnt nothing useful. Train longer "
                "(--epochs), use more labelled images, or --strategy full.")

    def headline(self, metrics: dict[str, Any]) -> str:
        return ", ".join(f"{k} {metrics[k]:.4f}" for k in ("map", "map_50", "map_75") if k in metrics)

    def boxes_in_pixels(self, dets: np.ndarray, size: tuple[int, int], meta: dict[str, Any]) -> list[dict[str, Any]]:
        """One image's detections ``(D, 6)`` as ``{class, score, x1, y1, x2, y2}`` in pixels of an
        image of ``size`` = (H, W)."""
        classes, (h, w) = list(meta["classes"]), size
        out = []
        for c, s, x1, y1, x2, y2 in np.asarray(dets, dtype=np.float64).reshape(-1, 6):
            if c >= 0:
                out.append({"class": classes[int(c)], "score": round(float(s), 4),
                            "x1": round(x1 * w, 1), "y1": round(y1 * h, 1), "x2": round(x2 * w, 1),
                            "y2": round(y2 * h, 1)})
        return out

    def _per_item(self, items: Any, outputs: np.ndarray, meta: dict[str, Any]) -> list[list[dict[str, Any]]]:
        sizes = [tuple(np.asarray(it).shape[:2]) for it in items] if items is not None else None
        size = int((meta.get("backbone") or {}).get("image_size") or 1)
        return [self.boxes_in_pixels(d, sizes[i] if sizes else (size, size), meta)
                for i, d in enumerate(np.asarray(outputs))]

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return self.rows_for(None, outputs, meta)

    def rows_for(self, items: Any, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per input: how many boxes, their classes, and the boxes as JSON (pixels)."""
        return [{"n_boxes": len(b), "classes": ";".join(sorted({d["class"] for d in b})),
                 "boxes": json.dumps(b)} for b in self._per_item(items, outputs, meta)]

    def answers_for(self, items: Any, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"boxes": b} for b in self._per_item(items, outputs, meta)]

    def answers(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        return self.answers_for(None, outputs, meta)

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        return self._per_item(None, outputs, meta)

    def predictions_for(self, items: Any, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """One list of boxes per input, in the input's pixels."""
        return self._per_item(items, outputs, meta)

    def write_outputs(self, names: list[str], items: list[Any], outputs: np.ndarray,
                      meta: dict[str, Any], folder: str | Path) -> list[str]:
        """Per input: ``<stem>.json`` (its boxes in pixels) and ``<stem>.png`` (the image with the
        boxes drawn, class and score beside each); returns the PNG paths."""
        from transferkit.report.boxes import draw_boxes
        from transferkit.rundir import atomic_write_bytes, atomic_write_text

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for stem, item, boxes in zip(unique_stems(names, "image"), items, self._per_item(items, outputs, meta),
                                     strict=True):
            atomic_write_text(folder / f"{stem}.json", json.dumps(boxes, indent=1) + "\n")
            atomic_write_bytes(folder / f"{stem}.png", draw_boxes(np.asarray(item), boxes))
            paths.append(str(folder / f"{stem}.png"))
        return paths

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        k = len(meta["classes"])
        return {"name": "logits", "shape": ["batch", "anchors", k + EXTRA],
                "meaning": f"per anchor location: {k} class logits, 4 box regression values (FCOS "
                           "left/top/right/bottom, in anchor sizes), 1 centerness logit, the anchor "
                           "box x1 y1 x2 y2 and the input H, W; decode with torchvision's FCOS "
                           "(score sqrt(sigmoid(class) * sigmoid(centerness)), NMS)",
                "card": f"FCOS outputs per anchor ({k} classes); boxes after decoding and NMS"}

    def card(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return {"noun": "object detector",
                "columns": (("map", "mAP@[.5:.95]", "pct"), ("map_50", "mAP@.5", "pct"),
                            ("map_75", "mAP@.75", "pct")),
                "gain": "{gain_pct:+.1f} mAP points", "gain_short": "{gain_pct:+.1f} pts",
                "use": "Finding and classifying objects of the listed classes in images like the "
                       "target data above.",
                "limits": ["Objects of other classes are missed or given one of the known classes.",
                           "Objects much smaller than 8 px at the model's input size may be missed."]}

    # ------------------------------------------------------------------ examples
    @classmethod
    def tiny_example(cls, workdir: Any) -> dict[str, Any]:
        """A YOLO folder of 24 64x64 images with one or two squares (red or green) on noise."""
        from PIL import Image

        root = Path(workdir) / "tiny-detection"
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "classes.txt").write_text("red\ngreen\n")
        rng = np.random.default_rng(0)
        for i in range(24):
            img = rng.integers(0, 60, (64, 64, 3)).astype(np.uint8)
            lines = []
            for c in range(1 + i % 2):
                s = int(rng.integers(12, 24))
                t, left = rng.integers(0, 64 - s, 2)
                img[t:t + s, left:left + s] = (220, 40, 40) if c == 0 else (40, 220, 40)
                lines.append(f"{c} {(left + s / 2) / 64:.6f} {(t + s / 2) / 64:.6f} {s / 64:.6f} {s / 64:.6f}")
            Image.fromarray(img).save(root / "images" / f"im{i:02d}.png")
            (root / "labels" / f"im{i:02d}.txt").write_text("\n".join(lines) + "\n")
        return {"data": str(root), "backbone": "timm:mobilenetv3_small_050", "pretrained": False,
                "strategy": "full", "epochs": 2, "image_size": 64}

    @classmethod
    def matches(cls, y: Any) -> tuple[bool, str]:
        return False, ("it takes boxes (a folder with images/ and COCO annotations.json or YOLO labels/, "
                       "or 'scenes' with --task detection)")
