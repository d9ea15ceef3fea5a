"""S2 (detection): scenes, plain domain, N labelled images; test = the fixed 100.

Rows, each on the same labelled images (transferkit's own split and ``--shots`` sample,
rebuilt with ``load_splits``) and scored by the same COCO mAP (pycocotools) on the same
test images:

- **transferkit**: ``tk.fit(data="scenes", domain="plain", task="detection",
  backbone="efficientnet_lite0", shots=N, seed=S, compare="scratch", epochs=E, batch_size=8)``
  -- what ``transferkit fit --data scenes --domain plain --task detection --backbone
  efficientnet_lite0 --shots N --compare scratch --epochs E --batch-size 8`` runs: its
  default strategy (frozen encoder; the FPN and FCOS head train), selection on validation
  mAP when there is a validation split; its ``scratch`` baseline is the row below it;
- **torchvision FCOS (peer)**: ``torchvision.models.detection.FCOS`` on the same
  EfficientNet-Lite0 encoder (the packaged ImageNet weights) + torchvision FPN (P3-P7, 256
  channels, 4-conv head: torchvision's defaults), ``min_size = max_size = 128``, everything
  trained with the torchvision fine-tuning tutorial's optimiser (SGD lr 0.005, momentum 0.9,
  weight decay 5e-4), batch 8, no augmentation, E epochs, last epoch kept;
- **torchvision FCOS from scratch**: the same loop from random weights.

    python benchmarks/s2_detection.py --shots 50 --seeds 1 --epochs 12   # -> results/s2_detection.md
    python benchmarks/s2_detection.py --quick                              # 1 seed, 10 images, 2 epochs
    python benchmarks/s2_detection.py --arms peer --out results/s2_peer.md   # one arm (arms run in parallel)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # this checkout's transferkit, not an installed one

from _common import machine, mean_std, parser, setup, timed, versions  # noqa: E402

ARMS = ("tk", "peer", "peer-scratch")


def _splits(shots: int, seed: int) -> Any:
    from transferkit.data import load_splits

    return load_splits("scenes", domain="plain", shots=shots, seed=seed, targets="boxes")


def transferkit_rows(shots: int, seed: int, epochs: int, workdir: Path) -> dict[str, dict[str, float]]:
    """transferkit's model and its --compare scratch baseline (one fit)."""
    import transferkit as tk

    run = tk.fit(data="scenes", domain="plain", task="detection", backbone="efficientnet_lite0",
                 shots=shots, seed=seed, epochs=epochs, batch_size=8, compare="scratch",
                 out=str(workdir / f"tk-{shots}-{seed}"), log=None)
    s = run.summary
    return {"transferkit (default: frozen encoder, FPN + FCOS head)": s["metrics"]["test"],
            "transferkit --compare scratch (same model, random weights)": s["baselines"]["scratch"]["test"],
            "prior boxes (each class's mean training box)": s["baselines"]["prior_boxes"]["test"],
            "_strategy": {"name": s.get("strategy")}}


def torchvision_row(shots: int, seed: int, epochs: int, pretrained: bool) -> dict[str, float]:
    """torchvision's FCOS on the Lite0 encoder + FPN, the tutorial's SGD, a plain loop."""
    from collections import OrderedDict

    import torch
    from torch import nn
    from torchvision.models.detection import FCOS
    from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelP6P7

    from transferkit.backbones import create_backbone
    from transferkit.backbones.dense import DenseEncoder
    from transferkit.tasks._detection_ops import coco_map

    torch.manual_seed(seed)
    splits = _splits(shots, seed)
    classes = list(splits.train.classes)
    timm_bb = create_backbone("efficientnet_lite0", image_size=128, pretrained=pretrained)
    enc = DenseEncoder(timm_bb.describe())
    if pretrained:
        enc.load_from(timm_bb.model)

    class EncoderFPN(nn.Module):  # torchvision's BackboneWithFPN, on the smp/timm encoder
        def __init__(self) -> None:
            super().__init__()
            self.body, self.out_channels = enc.encoder, 256
            ch = enc.out_channels
            self.fpn = FeaturePyramidNetwork([ch[3], ch[4], ch[5]], 256, extra_blocks=LastLevelP6P7(256, 256))

        def forward(self, x: torch.Tensor) -> Any:
            f = self.body(x)
            return self.fpn(OrderedDict((str(i), f[i]) for i in (3, 4, 5)))

    model = FCOS(EncoderFPN(), num_classes=len(classes), min_size=128, max_size=128,
                 image_mean=enc.mean, image_std=enc.std)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=5e-4)

    def images(ds: Any, idx: Any) -> list[torch.Tensor]:
        return [torch.from_numpy(np.asarray(ds.x[int(i)], dtype=np.float32) / 255.0).permute(2, 0, 1)
                for i in idx]

    def targets(ds: Any, idx: Any) -> list[dict[str, torch.Tensor]]:
        out = []
        for i in idx:
            rows = ds.y[int(i)]
            rows = rows[rows[:, 0] >= 0]
            out.append({"boxes": torch.from_numpy(rows[:, 1:5] * 128.0), "labels": torch.from_numpy(rows[:, 0]).long()})
        return out

    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(splits.train), generator=gen).split(8):
            loss = sum(model(images(splits.train, idx), targets(splits.train, idx)).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    dets = np.full((len(splits.test), 100, 6), -1.0, np.float32)
    with torch.no_grad():
        for start in range(0, len(splits.test), 16):
            idx = range(start, min(start + 16, len(splits.test)))
            for j, d in zip(idx, model(images(splits.test, idx)), strict=True):
                n = min(100, len(d["scores"]))
                dets[j, :n, 0] = d["labels"][:n].numpy()
                dets[j, :n, 1] = d["scores"][:n].numpy()
                dets[j, :n, 2:] = d["boxes"][:n].numpy() / 128.0
    m = coco_map(splits.test.y, dets, classes)
    return {k: m[k] for k in ("map", "map_50", "map_75")}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "s2_detection.md")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--shots", type=int, nargs="+", default=[50, 200], help="Labelled images per run.")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS),
                   help="Which arms run (tk: transferkit and its --compare scratch row; peer: the "
                   "torchvision loop; peer-scratch: the same from random weights).")
    args = p.parse_args()
    setup(install=False)
    seeds = 1 if args.quick else args.seeds
    shots_list = (10,) if args.quick else tuple(args.shots)
    epochs = 2 if args.quick else args.epochs
    rows: dict[tuple[int, str], list[tuple[dict[str, float], float]]] = {}

    def record(shots: int, name: str, m: dict[str, float], wall: float, seed: int) -> None:
        rows.setdefault((shots, name), []).append((m, wall))
        print(f"{shots:>3} images | {name:<62} seed {seed}: mAP {m['map']:.4f} mAP@.5 {m['map_50']:.4f} "
              f"wall {wall:.0f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        for shots in shots_list:
            for seed in range(seeds):
                if "tk" in args.arms:
                    with timed() as t:
                        tk_rows = transferkit_rows(shots, seed, epochs, Path(tmp))
                    tk_rows.pop("_strategy")
                    for name, m in tk_rows.items():
                        record(shots, name, m, t.wall if name.startswith("transferkit (") else float("nan"), seed)
                for arm, name, pretrained in (("peer", "torchvision FCOS, plain loop (peer)", True),
                                              ("peer-scratch", "torchvision FCOS from scratch", False)):
                    if arm not in args.arms:
                        continue
                    with timed() as t:
                        m = torchvision_row(shots, seed, epochs, pretrained)
                    record(shots, name, m, t.wall, seed)
    info, vers = machine(), versions(["torch", "torchvision", "timm", "pycocotools"])
    command = "python benchmarks/s2_detection.py" + (" --quick" if args.quick else (
        f" --seeds {seeds} --epochs {epochs} --shots " + " ".join(map(str, shots_list))
        + ("" if set(args.arms) == set(ARMS) else " --arms " + " ".join(args.arms))))
    lines = ["## S2 detection: scenes (plain), few labelled images", "",
             f"Test: the fixed 100 plain test images, COCO mAP (pycocotools); {epochs} epochs, batch 8, "
             f"128 px; seeds {seeds}. Machine: {info['cores']} cores ({info['cpu']}), load average "
             f"{info['load_avg']}, versions {vers}. Command: `{command}`. The transferkit wall time "
             "covers its fit with the scratch comparison and the baselines.", "",
             "| labelled images | method | test mAP@[.5:.95] % (mean ± std) | test mAP@.5 % (mean ± std) | "
             "per seed (mAP@.5) | wall s |",
             "|---|---|---|---|---|---|"]
    for (shots, name), vals in rows.items():
        m, sd = mean_std([v[0]["map"] for v in vals])
        m50, sd50 = mean_std([v[0]["map_50"] for v in vals])
        per = ", ".join(f"{100 * v[0]['map_50']:.1f}" for v in vals)
        walls = [v[1] for v in vals if v[1] == v[1]]
        wall = f"{mean_std(walls)[0]:.0f}" if walls else "(in the row above)"
        lines.append(f"| {shots} | {name} | {100 * m:.1f} ± {100 * sd:.1f} | {100 * m50:.1f} ± {100 * sd50:.1f} | "
                     f"{per} | {wall} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
