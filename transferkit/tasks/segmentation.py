"""Semantic segmentation: one class per pixel.

The backbone is read as a multi-scale encoder (:class:`~transferkit.backbones.dense.DenseEncoder`:
segmentation-models-pytorch's ``tu-<timm name>`` encoder holding the backbone's weights)
and the head is smp's U-Net decoder (``decoder_blocks`` of it: by default 3, ending at stride
4, the logits upsampled to the input size) and segmentation head, so the strategies mean: the
linear probe trains the decoder on a frozen encoder -- the probe analogue: the encoder's
multi-scale maps are computed once per image (train, validation, test) and cached, and the
decoder trains on them through the one training loop, without augmentation (the cached
maps are the same every epoch) --, partial the top encoder stages and the decoder (raw
inputs), full everything. ``--compare scratch`` trains the same U-Net from random weights.

On the cached maps the decoder trains at the one learning rate of ``lr_grid`` (0.003) on
every ``--shots`` image for the step budget, its last step kept; with a grid of two rates or
more it is trained once per rate from the same start, and the run with the best validation
mIoU is kept, at its best validation step (never the test split): the label budget then
holds out validation for it (20 % of the ``--shots`` images, at least one).

Loss: cross-entropy + ``dice_weight`` x multiclass Dice (smp's ``DiceLoss`` from logits, computed
from the class indices: :func:`dice_loss`); with
``class_balance`` > 0 the cross-entropy is class-balanced: a class's pixels weigh its inverse
pixel frequency in the training masks to the power ``class_balance``, so that small
foreground classes count more against the background.
Metrics, from the pixel confusion matrix of a split: mIoU (the selection and transfer-gain
metric: the mean over classes present in the targets or the predictions of
``TP / (TP + FP + FN)``, background included), Dice (the same mean of
``2 TP / (2 TP + FP + FN)``), pixel accuracy, and per-class IoU (detailed). Baseline:
``majority``, every pixel the most frequent class of the training masks.

The model predicts at its input size (``image_size``, a multiple of 32); predictions at
another size are resized to the mask's size (nearest) before they are scored.
``postprocess`` gives class maps ``(N, S, S)``; ``predict --output-dir DIR`` writes them
as 8-bit PNGs (mask values of the class map) at each input's own size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import DataError
from transferkit.options import Options, option
from transferkit.tasks import TASKS
from transferkit.tasks._base import Accumulator, Task, unique_stems, with_l2_sp

#: the model's test mIoU must beat the majority mask's by this much (2 points, as the other
#: tasks' floors), or the floor warning is given: 8.0 % against 7.9 % has learnt nothing
FLOOR_MARGIN = 0.02


@dataclass
class SegmentationConfig(Options):
    """Parameters of the segmentation task."""

    dice_weight: float = option(1.0, "Weight of the Dice loss added to the cross-entropy (0: "
                                "cross-entropy alone).", ge=0)
    class_balance: float = option(0.0, "Class balance of the cross-entropy: each class's pixels "
                                  "weigh (1 / its pixel frequency in the training masks) to this "
                                  "power (0: plain cross-entropy; 1: scikit-learn's 'balanced'), so "
                                  "small foreground classes count more. Off by default: on the 3-block "
                                  "decoder it did not help (S1 probe, 50 scenes images, 100 steps: 31.9 % "
                                  "mIoU on held-out pool images at 0.5 vs 33.1 % at 0); on the 5-block "
                                  "decoder at width 64 it did (16.3 % vs 12.1 %).", ge=0, le=2)
    decoder_width: int = option(128, "Channels of the U-Net decoder's first block; each further "
                                "block halves it (128 with 3 blocks: 128, 64, 32).", ge=16)
    decoder_blocks: int = option(3, "U-Net decoder blocks, each doubling the resolution from the "
                                 "encoder's stride 32; the logits of the last one are upsampled "
                                 "(bilinear) to the input size. 3: the decoder stops at stride 4 (the "
                                 "skips of strides 16, 8 and 4) with 32 channels, ahead of 11 classes; "
                                 "5 is smp's full-resolution U-Net, whose last blocks at 128 px hold "
                                 "16 and 8 channels at width 128 -- fewer than the scenes' 11 classes, "
                                 "and 5 times the compute (S1 probe, 50 scenes images, frozen encoder: "
                                 "38.6 % mIoU on held-out pool images at 3 blocks vs 12-16 % at 5).",
                                 ge=1, le=5)
    min_steps: int = option(100, "The step budget: every training stage (the decoder on the "
                            "frozen encoder by default; the --compare scratch U-Net too) runs at "
                            "least this many optimizer steps, epochs stretched to reach them "
                            "(10 images at the default batch are 1 step per epoch: 10 epochs leave a "
                            "fresh decoder untrained); early stopping does not end a stage sooner. "
                            "100 at batch 32: the 3-block decoder on 50 scenes images reaches ~32 % "
                            "mIoU on held-out pool images by step 75-100 (S1 probe). 0: train.epochs "
                            "alone.", ge=0)
    lr_grid: list[float] = option(help="Learning rates of the decoder on the frozen "
                                  "encoder's cached maps. One rate (the default, 0.003) is used as it "
                                  "is: no validation is held out, every --shots image trains, for the "
                                  "whole step budget (a 20 % hold-out of 10 images is 2 validation "
                                  "images: too few to choose on, and 2 fewer to learn from). Two or "
                                  "more: one run each from the same start, the one with the best "
                                  "validation mIoU kept at its best step; with --shots 20 % of the "
                                  "images are then held out for it (without a validation split, "
                                  "train.lr). An empty list: train.lr. Other strategies train at "
                                  "train.lr.", factory=lambda: [3e-3], gt=0, le=10)


class UnetHead(nn.Module):
    """smp's U-Net decoder and segmentation head: encoder feature maps -> logits ``(B, K, S, S)``;
    ``blocks`` decoder blocks from the deepest map (None: one per encoder stage, to full
    resolution), the logits upsampled from where the last block ends."""

    def __init__(self, encoder_channels: list[int], num_classes: int, width: int = 128,
                 blocks: int | None = None) -> None:
        super().__init__()
        from segmentation_models_pytorch.base import SegmentationHead, initialization
        from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder

        depth = len(encoder_channels) - 1  # the encoder's stages: its stride is 2 ** depth
        blocks = depth if blocks is None else min(int(blocks), depth)
        channels = [max(1, width >> i) for i in range(blocks)]
        self.decoder = UnetDecoder(encoder_channels=encoder_channels, decoder_channels=channels,
                                   n_blocks=len(channels))
        # the decoder ends at stride 2 ** (depth - blocks): the logits are upsampled from there
        self.segmentation_head = SegmentationHead(in_channels=channels[-1], out_channels=num_classes,
                                                  kernel_size=3, upsampling=2 ** (depth - blocks))
        initialization.initialize_decoder(self.decoder)
        initialization.initialize_head(self.segmentation_head)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:  # [(B, C_i, h_i, w_i)] -> (B, K, S, S)
        return self.segmentation_head(self.decoder(features))


def to_mask_size(logits: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Logits ``(B, K, S, S)`` resized (bilinear) to the masks' ``(H, W)`` when they differ."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Class maps ``(N, S, S')`` resized (nearest) to ``(N, H, W)``."""
    maps = np.asarray(maps)
    if maps.shape[1:] == tuple(size):
        return maps
    rows = np.minimum((np.arange(size[0]) + 0.5) * maps.shape[1] / size[0], maps.shape[1] - 1).astype(int)
    cols = np.minimum((np.arange(size[1]) + 0.5) * maps.shape[2] / size[1], maps.shape[2] - 1).astype(int)
    return maps[:, rows][:, :, cols]


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """``(K, K)`` pixel counts, rows the true class, columns the predicted one."""
    y = np.asarray(y, dtype=np.int64).ravel()
    pred = np.asarray(pred, dtype=np.int64).ravel()
    ok = (y >= 0) & (y < k)
    return np.bincount(y[ok] * k + pred[ok], minlength=k * k).reshape(k, k)


def confusion_metrics(cm: np.ndarray, classes: list[str] | None = None,
                      detailed: bool = False) -> dict[str, Any]:
    """mIoU, Dice and pixel accuracy of a confusion matrix (classes absent from both targets
    and predictions are left out of the means; per-class IoU with ``detailed``).

    >>> cm = np.array([[3, 1], [0, 4]])  # background: 3 right, 1 called 'object'
    >>> m = confusion_metrics(cm)
    >>> round(m["miou"], 4), round(m["dice"], 4), m["pixel_accuracy"]
    (0.775, 0.873, 0.875)
    """
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    seen = (tp + fp + fn) > 0
    iou = np.divide(tp, tp + fp + fn, out=np.full(len(tp), np.nan), where=seen)
    dice = np.divide(2 * tp, 2 * tp + fp + fn, out=np.full(len(tp), np.nan), where=seen)
    total = cm.sum()
    out: dict[str, Any] = {"miou": float(np.nanmean(iou)) if seen.any() else 0.0,
                           "dice": float(np.nanmean(dice)) if seen.any() else 0.0,
                           "pixel_accuracy": float(tp.sum() / total) if total else 0.0}
    if detailed:
        names = classes or [str(i) for i in range(len(tp))]
        out["per_class_iou"] = {names[i]: (None if np.isnan(iou[i]) else float(iou[i]))
                                for i in range(len(tp))}
        out["pixels"] = int(total)
    return out


def segmentation_metrics(y: np.ndarray, maps: np.ndarray, classes: list[str],
                         detailed: bool = False) -> dict[str, Any]:
    """The metrics of predicted class maps ``(N, S, S)`` against masks ``y`` ``(N, H, W)``."""
    y = np.asarray(y)
    if y.ndim != 3:
        raise DataError(f"Expected masks (N, H, W); got targets of shape {y.shape}.")
    if len(maps) != len(y):
        raise DataError(f"Expected predictions for {len(y)} masks; got {len(maps)}.")
    if not len(y):
        raise DataError("Metrics need labelled masks; this split has none.")
    return {**confusion_metrics(confusion(y, resize_maps(maps, y.shape[1:]), len(classes)),
                                classes, detailed), "n": int(len(y))}


def pixel_class_weights(masks: np.ndarray, num_classes: int, power: float) -> torch.Tensor | None:
    """Class weights of the cross-entropy from training masks: scikit-learn's 'balanced'
    weights of the pixels (``n / (K_present * n_c)``) to the power ``power`` (0: None, plain
    cross-entropy; classes absent from the masks weigh 0, they are never a target).

    >>> [round(w, 4) for w in pixel_class_weights(np.array([[[0, 0, 0, 1]]]), 2, 1.0).tolist()]
    [0.6667, 2.0]
    """
    if not power:
        return None
    from transferkit.train.regularizers import class_weights

    return class_weights(np.asarray(masks, dtype=np.int64).ravel(), num_classes) ** float(power)


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """smp's multiclass ``DiceLoss(mode="multiclass", from_logits=True)`` (smooth 0, ``eps``
    1e-7; a class absent from the batch's targets adds 0 and still counts in the mean), computed
    from the class indices: the per-class intersection is a scatter-add of each pixel's
    probability of its own class, so no one-hot ``(B, K, H, W)`` tensor is built. The same value
    and gradient as smp's (tested), 3x faster on the CPU for 10 masks of 128 x 128 and 11 classes
    (forward and backward), which is a third of a frozen-encoder decoder step.

    One pixel of class 0 at probability 0.5: Dice 2 x 0.5 / (0.5 + 1) for class 0, loss 1/3;
    class 1 is absent (0); the mean over the 2 classes:

    >>> round(float(dice_loss(torch.zeros(1, 2, 1, 1), torch.tensor([[[0]]]))), 4)
    0.1667
    """
    probs = logits.log_softmax(dim=1).exp()  # (B, K, H, W), as smp turns logits into probabilities
    k = probs.shape[1]
    flat = targets.reshape(-1).long()
    own = probs.gather(1, targets.long().unsqueeze(1)).reshape(-1)  # each pixel's probability of its class
    intersection = torch.zeros(k, dtype=probs.dtype, device=probs.device).index_add(0, flat, own)
    counts = torch.bincount(flat, minlength=k).to(probs.dtype)
    cardinality = probs.sum(dim=(0, 2, 3)) + counts
    loss = (1.0 - 2.0 * intersection / cardinality.clamp_min(eps)) * (counts > 0).to(probs.dtype)
    return loss.mean()


class SegmentationObjective(nn.Module):
    """Cross-entropy (class-balanced by ``weight``) + ``dice_weight`` x Dice over the pixels (+ L2-SP)."""

    def __init__(self, forward: Callable[[nn.Module, Any], torch.Tensor], num_classes: int,
                 dice_weight: float = 1.0, l2_sp: Any = None, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.forward_fn, self.l2_sp, self.dice_weight = forward, l2_sp, float(dice_weight)
        self.num_classes = num_classes
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, y = batch  # y: (B, H, W) class positions
        y = y.long()
        logits = to_mask_size(self.forward_fn(model, inputs).float(), y.shape[-2:])  # (B, K, H, W)
        weight = self.weight.to(logits.device) if self.weight is not None else None
        ce = F.cross_entropy(logits, y.to(logits.device), weight=weight)
        loss = ce
        logs = {"ce": float(ce.detach())}
        if self.dice_weight:
            dice = dice_loss(logits, y.to(logits.device))
            logs["dice_loss"] = float(dice.detach())
            loss = loss + self.dice_weight * dice
        return with_l2_sp(loss, logs, self.l2_sp)


class SegmentationAccumulator(Accumulator):
    """Validation loss (mean pixel cross-entropy) and the confusion-matrix metrics."""

    def __init__(self) -> None:
        self.cm: np.ndarray | None = None
        self.ce_sum, self.pixels = 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:  # (B, K, S, S), (B, H, W)
        targets = targets.long()
        logits = to_mask_size(outputs.detach().float(), targets.shape[-2:])
        self.ce_sum += float(F.cross_entropy(logits, targets.to(logits.device), reduction="sum"))
        self.pixels += int(targets.numel())
        k = logits.shape[1]
        cm = confusion(targets.cpu().numpy(), logits.argmax(1).cpu().numpy(), k)
        self.cm = cm if self.cm is None else self.cm + cm

    def compute(self) -> dict[str, float]:
        if self.cm is None:
            return {}
        return {"loss": self.ce_sum / max(1, self.pixels), **confusion_metrics(self.cm)}


@TASKS.register("segmentation", config=SegmentationConfig,
                help="Semantic segmentation: a class per pixel (U-Net decoder on the backbone's "
                "multi-scale features; cross-entropy + Dice; selects on mIoU).")
class SegmentationTask(Task):
    """A class per pixel: smp's U-Net on the backbone's encoder."""

    name = "segmentation"
    selection_metric = "miou"
    directions = {"miou": "max", "dice": "max", "pixel_accuracy": "max", "loss": "min"}
    gain_metric = "miou"
    gain_label = "mIoU"
    shots_meaning = "labelled training images in total (each with its whole mask)"
    targets = "masks"
    cached_inputs = False
    cached_maps = True
    unrecorded_params = {"decoder_blocks": 5}  # runs before decoder_blocks: smp's full 5 blocks

    def __init__(self, config: SegmentationConfig | None = None) -> None:
        super().__init__(config if config is not None else SegmentationConfig())

    # ------------------------------------------------------------------ targets
    def output_dim(self, data: Any) -> int:
        return len(data.classes)

    def describe_targets(self, data: Any) -> dict[str, Any]:
        values = (data.meta or {}).get("mask_values") or list(range(len(data.classes)))
        return {"classes": list(data.classes), "mask_values": [int(v) for v in values]}

    def check_targets(self, manifest: dict[str, Any]) -> str | None:
        classes = manifest.get("classes") or []
        values = manifest.get("mask_values") or []
        outputs = (manifest.get("head") or {}).get("num_classes")
        if len(values) != len(classes):
            return f"lists {len(values)} mask values for {len(classes)} classes."
        if outputs is not None and outputs != len(classes):
            return f"lists {len(classes)} classes but its head has {outputs} outputs."
        return None

    # ------------------------------------------------------------------ model
    def min_train_steps(self) -> int:
        return int(self.config.min_steps)

    def head_lr_grid(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.config.lr_grid)

    def prepare_backbone(self, backbone: Any) -> Any:
        from transferkit.backbones.dense import DenseEncoder

        return backbone if isinstance(backbone, DenseEncoder) else DenseEncoder.from_backbone(backbone)

    def head_for(self, backbone: Any, in_dim: int, out_dim: int) -> nn.Module:
        return UnetHead(list(backbone.out_channels), out_dim, self.config.decoder_width,
                        self.config.decoder_blocks)

    def describe_head(self, head: nn.Module) -> dict[str, Any]:
        """The parameters that rebuild the head (transferkit.json's ``task_params``)."""
        return {"task_params": {"decoder_width": int(self.config.decoder_width),
                                "decoder_blocks": int(self.config.decoder_blocks),
                                "dice_weight": float(self.config.dice_weight)}}

    def objective(self, forward: Callable[[nn.Module, Any], torch.Tensor], train_cfg: Any,
                  train_data: Any, *, num_outputs: int | None, l2_sp: Any = None) -> nn.Module:
        k = int(num_outputs or len(train_data.classes))
        power = self.config.class_balance  # the masks are read only when they weigh the classes
        weight = pixel_class_weights(np.asarray(train_data.y), k, power) if power else None
        return SegmentationObjective(forward, k, self.config.dice_weight, l2_sp, weight)

    def example_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = to_mask_size(outputs.float(), targets.shape[-2:])
        return F.cross_entropy(logits, targets.long(), reduction="none").flatten(1).mean(1)  # (B,)

    def accumulator(self) -> Accumulator:
        return SegmentationAccumulator()

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.argmax(1)  # (B, K, S, S) -> (B, S, S) class positions

    def metrics(self, targets: np.ndarray, outputs: np.ndarray, meta: dict[str, Any],
                detailed: bool = False) -> dict[str, Any]:
        return segmentation_metrics(targets, outputs, list(meta["classes"]), detailed)

    #: how many test masks (their predictions, and their images, which the report overlays the
    #: masks on: Run.save_test_predictions) a run keeps for the report
    report_images = 6
    #: a segmentation run as --backbone gives its decoder too when the classes match: S1, 10
    #: plain images from a textured-scenes source, 22.2 % mIoU kept vs 12.0 % fresh (3 seeds)
    keeps_source_head = True

    def test_arrays(self, targets: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray] | None:
        y = np.asarray(targets)[: self.report_images]
        pred = resize_maps(np.asarray(outputs)[: self.report_images], y.shape[1:])
        return {"mask_true": y.astype(np.int16), "mask_pred": pred.astype(np.int16)}

    def baselines(self, train: Any, test: Any) -> dict[str, Any]:
        counts = np.bincount(np.asarray(train.y, dtype=np.int64).ravel(), minlength=len(train.classes))
        major = int(counts.argmax())
        maps = np.full(np.shape(test.y), major, dtype=np.int64)
        return {"majority": {"class": train.classes[major],
                             "test": segmentation_metrics(test.y, maps, list(train.classes))}}

    def floor_warning(self, metrics: dict[str, Any], baselines: dict[str, Any],
                      meta: dict[str, Any]) -> str | None:
        floor = ((baselines.get("majority") or {}).get("test") or {}).get("miou")
        model = metrics.get("test", {}).get("miou")
        if floor is None or model is None or model > floor + FLOOR_MARGIN:
            return None
        return (f"the model's test mIoU ({model:.3f}) is not above painting every pixel "
                f"'{baselines['majority']['class']}' ({floor:.3f}): it has learnt nothing useful. Train "
                "longer (--epochs), use more labelled images, or --strategy full.")

    def headline(self, metrics: dict[str, Any]) -> str:
        return ", ".join(f"{k} {metrics[k]:.4f}" for k in ("miou", "dice", "pixel_accuracy") if k in metrics)

    def mask_values(self, maps: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
        """Class positions -> the mask values of the class map (what a mask file holds)."""
        values = np.asarray(meta.get("mask_values") or range(len(meta["classes"])), dtype=np.int64)
        return values[np.asarray(maps, dtype=np.int64)]

    def prediction_rows(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[dict[str, Any]]:
        classes = list(meta["classes"])
        rows = []
        for m in np.asarray(outputs, dtype=np.int64):
            counts = np.bincount(m.ravel(), minlength=len(classes))
            rows.append({"classes": ";".join(classes[c] for c in np.flatnonzero(counts)),
                         **{f"fraction_{classes[c]}": round(float(counts[c] / m.size), 4)
                            for c in np.flatnonzero(counts)}})
        return rows

    def predictions(self, outputs: np.ndarray, meta: dict[str, Any]) -> list[Any]:
        """One mask per input: the class map as mask values ``(S, S)`` int64."""
        return list(self.mask_values(outputs, meta))

    def write_outputs(self, names: list[str], items: list[Any], outputs: np.ndarray,
                      meta: dict[str, Any], folder: str | Path) -> list[str]:
        """Each input's mask as an 8-bit PNG (16-bit when a mask value exceeds 255) at the
        input's own size, named after the input; returns the paths written."""
        import io

        from PIL import Image

        from transferkit.rundir import atomic_write_bytes

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        values = self.mask_values(outputs, meta)
        wide = int(values.max(initial=0)) > 255
        paths = []
        for stem, item, mask in zip(unique_stems(names, "mask"), items, values, strict=True):
            h, w = np.asarray(item).shape[:2]
            mask = resize_maps(mask[None], (h, w))[0]
            img = Image.fromarray(mask.astype(np.uint16 if wide else np.uint8))
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            path = folder / f"{stem}.png"
            atomic_write_bytes(path, buf.getvalue())
            paths.append(str(path))
        return paths

    def output_spec(self, meta: dict[str, Any]) -> dict[str, Any]:
        k = len(meta["classes"])
        return {"name": "logits", "shape": ["batch", k, "size", "size"],
                "meaning": f"per-pixel logits of the {k} classes; argmax over axis 1 is the class map",
                "card": f"per-pixel logits of {k} classes (argmax: the mask)"}

    def card(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return {"noun": "segmentation model",
                "columns": (("miou", "mIoU", "pct"), ("dice", "Dice", "pct"),
                            ("pixel_accuracy", "pixel accuracy", "pct")),
                "gain": "{gain_pct:+.1f} mIoU points", "gain_short": "{gain_pct:+.1f} pts",
                "use": "Labelling each pixel of images like the target data above with one of the "
                       "listed classes.",
                "limits": ["Every pixel gets one of the known classes, even in unrelated images.",
                           "Objects much smaller than the encoder's stride-4 features may be missed."]}

    # ------------------------------------------------------------------ examples
    @classmethod
    def tiny_example(cls, workdir: Any) -> dict[str, Any]:
        """A folder of 20 32x32 images with squares and bars on noise, masks and a class map."""
        from PIL import Image

        root = Path(workdir) / "tiny-segmentation"
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        (root / "classes.csv").write_text("index,name\n0,background\n1,square\n2,bar\n")
        rng = np.random.default_rng(0)
        for i in range(20):
            img = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
            mask = np.zeros((32, 32), np.uint8)
            t, left = rng.integers(2, 18, 2)
            mask[t:t + 12, left:left + 12] = 1
            c = rng.integers(0, 28)
            mask[:, c:c + 3] = 2
            img[mask == 1] = (220, 40, 40)
            img[mask == 2] = (40, 220, 40)
            Image.fromarray(img).save(root / "images" / f"im{i:02d}.png")
            Image.fromarray(mask, mode="L").save(root / "masks" / f"im{i:02d}.png")
        return {"data": str(root), "backbone": "timm:mobilenetv3_small_050", "pretrained": False,
                "strategy": "full", "epochs": 2, "image_size": 32,
                "task_params": {"min_steps": 2}}  # tiny and quick: no step budget beyond 2 epochs

    @classmethod
    def matches(cls, y: Any) -> tuple[bool, str]:
        return False, "it takes masks (a folder with images/, masks/ and classes.csv, or 'scenes')"
