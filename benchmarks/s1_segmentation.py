"""S1 (segmentation): scenes, plain domain, 10 and 50 labelled images; test = the fixed 100.

Rows, each on the same labelled images (transferkit's own split and ``--shots`` sample,
rebuilt with ``load_splits``) and scored by the same mIoU on the same test images:

- **transferkit**: ``tk.fit(data="scenes", domain="plain", task="segmentation",
  backbone="efficientnet_lite0", shots=N, seed=S)`` -- the README command ``transferkit fit
  --data scenes --domain plain --task segmentation --backbone efficientnet_lite0 --shots N``
  (less ``--compare scratch``): its default strategy (frozen encoder; its multi-scale maps
  cached once per image, no augmentation; a 3-block U-Net decoder, ending at stride 4 with its
  logits upsampled, trains on them) for the task's step budget (``task_params.min_steps``, 100
  optimizer steps at the default batch 32) at the one learning rate of ``task_params.lr_grid``
  (0.003), its last step kept: no validation is held out, all N labelled images train; never
  the test split;
- **smp U-Net (peer)**: ``smp.Unet("tu-tf_efficientnet_lite0")`` with the same packaged
  ImageNet weights loaded into ``model.encoder.model``, everything trained, a plain loop:
  Adam 1e-3, cross-entropy + Dice, batch 8, no augmentation, E epochs, last epoch kept;
- **smp U-Net from scratch**: the same loop from random weights.

``--source-domain textured`` adds the seed's pattern (pretrain on one domain, few-shot on
the other): one source run, trained once per benchmark run and timed apart --
``transferkit fit --data scenes --domain textured --task segmentation --strategy full
--epochs 20 --batch-size 8`` (docs/tasks.md's cross-domain recipe; all 240 textured training
images, seed 0, never a plain image) -- then, per seed, the README command with ``--backbone
<source run>``: its encoder and, the classes being the same, its decoder are the start
(``backbone.keep_head``); and the same with ``--set backbone.keep_head=false`` (the encoder
only, a fresh decoder).

Before the first timed row, one untimed warm-up imports what every arm uses (transferkit and
its segmentation task, segmentation-models-pytorch, timm), reads the packaged encoder weights
once and builds the scenes data, so the first seed's first row does not pay the process's
imports for all the arms (it did before 2026-12-04: seed 0's transferkit row was 13 s where
seeds 1-2 took 8 s).

    python benchmarks/s1_segmentation.py --seeds 3        # -> results/s1_segmentation.md
    python benchmarks/s1_segmentation.py --quick          # 1 seed, 10 images, 64 px, 5 epochs
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # this checkout's transferkit, not an installed one

from _common import machine, mean_std, parser, setup, timed, versions  # noqa: E402


def _splits(shots: int, seed: int) -> Any:
    from transferkit.data import load_splits

    return load_splits("scenes", domain="plain", shots=shots, seed=seed, targets="masks")


def transferkit_row(shots: int, seed: int, epochs: int, size: int, workdir: Path) -> float:
    import transferkit as tk

    # the README command as typed (its schedule is the task's step budget, not the peers' epochs),
    # less --compare scratch (the scratch row is the smp loop's below)
    extra = {} if size == 128 else {"image_size": size}
    run = tk.fit(data="scenes", domain="plain", task="segmentation", backbone="efficientnet_lite0",
                 shots=shots, seed=seed, out=str(workdir / f"tk-{shots}-{seed}"), log=None, **extra)
    return float(run.summary["metrics"]["test"]["miou"])


def source_run(domain: str, workdir: Path) -> tuple[Path, float, float]:
    """The source run on ``domain`` (docs/tasks.md's recipe), its wall and CPU seconds."""
    import transferkit as tk

    with timed() as t:
        run = tk.fit(data="scenes", domain=domain, task="segmentation", backbone="efficientnet_lite0",
                     strategy="full", epochs=20, batch_size=8, out=str(workdir / f"source-{domain}"), log=None)
    return Path(run.run_dir), t.wall, t.cpu


def sourced_row(source: Path, keep_head: bool, shots: int, seed: int, size: int, workdir: Path) -> float:
    """The README command with ``--backbone <source run>`` (and ``keep_head`` false: encoder only)."""
    import transferkit as tk

    extra = {} if size == 128 else {"image_size": size}
    run = tk.fit(data="scenes", domain="plain", task="segmentation", backbone=str(source), shots=shots, seed=seed,
                 out=str(workdir / f"src-{keep_head}-{shots}-{seed}"), log=None,
                 overrides=[] if keep_head else ["backbone.keep_head=false"], **extra)
    assert bool(run.summary["source_head"]["kept"]) == keep_head, run.summary["source_head"]
    return float(run.summary["metrics"]["test"]["miou"])


def smp_row(shots: int, seed: int, epochs: int, size: int, pretrained: bool) -> float:
    """The plain smp loop (Adam 1e-3, CE + Dice, batch 8, no augmentation)."""
    import segmentation_models_pytorch as smp
    import torch
    import torch.nn.functional as F

    from transferkit.backbones import create_backbone
    from transferkit.backbones.dense import DenseEncoder
    from transferkit.tasks.segmentation import segmentation_metrics

    torch.manual_seed(seed)
    splits = _splits(shots, seed)
    k = len(splits.train.classes)
    model = smp.Unet("tu-tf_efficientnet_lite0", encoder_weights=None, classes=k)
    timm_bb = create_backbone("efficientnet_lite0", image_size=size, pretrained=pretrained)
    if pretrained:  # the same packaged weights transferkit uses, by name and shape
        model.encoder.model.load_state_dict({n: timm_bb.model.state_dict()[n]
                                             for n in model.encoder.model.state_dict()})
    prep = DenseEncoder(timm_bb.describe())  # the same resize + normalisation
    x_tr = prep.collate(list(splits.train.x))
    y_tr = torch.from_numpy(splits.train.y.astype(np.int64))
    dice = smp.losses.DiceLoss("multiclass", from_logits=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x_tr), generator=gen).split(8):
            logits = F.interpolate(model(x_tr[idx]), size=y_tr.shape[-2:], mode="bilinear")
            loss = F.cross_entropy(logits, y_tr[idx]) + dice(logits, y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    preds = []
    with torch.no_grad():
        for start in range(0, len(splits.test), 16):
            xb = prep.collate(list(splits.test.x[start:start + 16]))
            preds.append(model(xb).argmax(1).numpy())
    return segmentation_metrics(splits.test.y, np.concatenate(preds), list(splits.train.classes))["miou"]


def warm_up(size: int) -> None:
    """Untimed: the imports, weights and data every arm uses, once per process."""
    import segmentation_models_pytorch  # noqa: F401

    import transferkit.tasks.segmentation  # noqa: F401
    from transferkit.backbones import create_backbone

    create_backbone("efficientnet_lite0", image_size=size, pretrained=True)
    _splits(10, 0)


def main() -> None:
    p = parser(__doc__.splitlines()[0], "s1_segmentation.md")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--shots", type=int, nargs="+", default=[10, 50], help="Labelled images per run.")
    p.add_argument("--first-seed", type=int, default=0,
                   help="The first seed (seeds first-seed .. first-seed + seeds - 1), to add seeds to a table.")
    p.add_argument("--source-domain", default="", help="Also the rows from a source run on this scenes "
                   "domain (textured): with its decoder kept, and encoder only.")
    p.add_argument("--skip-peers", action="store_true", help="Only the transferkit rows (to add source rows "
                   "to a table measured before).")
    args = p.parse_args()
    setup(install=False)
    seeds = 1 if args.quick else args.seeds
    shots_list = (10,) if args.quick else tuple(args.shots)
    epochs = 5 if args.quick else args.epochs
    size = 64 if args.quick else args.image_size
    rows: dict[tuple[int, str], list[tuple[float, float]]] = {}
    warm_up(size)
    source_note = ""
    with tempfile.TemporaryDirectory() as tmp:
        arms = [("transferkit (default: frozen encoder, 3-block U-Net decoder)", transferkit_row, Path(tmp))]
        if not args.skip_peers:
            arms += [("smp U-Net, plain loop (peer)", smp_row, True), ("smp U-Net from scratch", smp_row, False)]
        if args.source_domain:
            source, wall, cpu = source_run(args.source_domain, Path(tmp))
            source_note = (f" Source run (once, seed 0, timed apart): `fit --data scenes --domain "
                           f"{args.source_domain} --task segmentation --strategy full --epochs 20 --batch-size 8`, "
                           f"{wall:.0f} s wall, {cpu:.0f} s CPU.")
            for keep, label in ((True, "decoder kept"), (False, "encoder only, `backbone.keep_head=false`")):
                arms.append((f"transferkit, `--backbone` {args.source_domain} source run ({label})",
                             lambda n, s, e, z, w, k=keep: sourced_row(source, k, n, s, z, w), Path(tmp)))
        for shots in shots_list:
            for seed in range(args.first_seed, args.first_seed + seeds):
                for name, fn, extra in arms:
                    with timed() as t:
                        miou = fn(shots, seed, epochs, size, extra)
                    rows.setdefault((shots, name), []).append((miou, t.wall, t.cpu))
                    print(f"{shots:>3} images | {name:<55} seed {seed}: mIoU {miou:.4f} wall {t.wall:.0f} s "
                          f"CPU {t.cpu:.0f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    info, vers = machine(), versions(["torch", "timm", "segmentation-models-pytorch"])
    lines = ["## S1 segmentation: scenes (plain), few labelled images", "",
             f"Test: the fixed 100 plain test images; {epochs} epochs, batch 8, {size} px; seeds "
             f"{seeds}. Machine: {info['cores']} cores ({info['cpu']}), load average "
             f"{info['load_avg']}, versions {vers}. Command: `python benchmarks/s1_segmentation.py"
             + (" --quick" if args.quick else f" --seeds {seeds} --epochs {epochs} --image-size {size} --shots "
                + " ".join(map(str, shots_list))
                + (f" --first-seed {args.first_seed}" if args.first_seed else "")
                + (f" --source-domain {args.source_domain}" if args.source_domain else "")
                + (" --skip-peers" if args.skip_peers else "")) + "`." + source_note, "",
             "| labelled images | method | test mIoU % (mean ± std) | per seed | wall s | CPU s |",
             "|---|---|---|---|---|---|"]
    for (shots, name), vals in rows.items():
        m, sd = mean_std([v[0] for v in vals])
        per = ", ".join(f"{100 * v[0]:.1f}" for v in vals)
        lines.append(f"| {shots} | {name} | {100 * m:.1f} ± {100 * sd:.1f} | {per} | "
                     f"{mean_std([v[1] for v in vals])[0]:.0f} | {mean_std([v[2] for v in vals])[0]:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
