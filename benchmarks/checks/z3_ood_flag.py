"""Z3 -- the zero-shot run's out-of-distribution flag, per class and on synthetic inputs.

Reads a run written by ``transferkit zeroshot`` (e.g. the README's ``transferkit zeroshot
--data fashion-mnist --out runs/zsl``), rebuilds its test split from config.yaml (the
features come from the feature cache the run filled), and reports the share of each
class's test images that the run's novelty detector flags at its level, beside what the
run recorded, plus ``transferkit predict`` on three synthetic images (uniform noise, a
blank image, RGB noise). Nothing is chosen here: the level is the run's ``--ood-level``.

    python benchmarks/checks/z3_ood_flag.py runs/zsl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="A zeroshot run directory.")
    args = parser.parse_args()
    from PIL import Image

    from transferkit.features import extract_features
    from transferkit.jobs.fit import resolve_config
    from transferkit.jobs.predict import load
    from transferkit.jobs.zeroshot import ZeroShotConfig, _load
    from transferkit.options import from_dict
    from transferkit.pipeline.build import build_backbone

    run = Path(args.run)
    cfg = from_dict(ZeroShotConfig, yaml.safe_load((run / "config.yaml").read_text()), "zeroshot")
    summary = json.loads((run / "summary.json").read_text())["zeroshot"]
    predictor = load(run, device="cpu")
    splits, _entry = _load(cfg)
    fit_cfg = resolve_config(data=cfg.data.data, backbone=cfg.backbone, strategy="linear-probe",
                             pool_stages=cfg.pool_stages)
    raw = extract_features(build_backbone(fit_cfg, splits.train), splits.test, cache_dir=cfg.cache_dir,
                           progress=False)
    flags, y = predictor.novelty.flags(raw), np.asarray(splits.test.y)
    level = predictor.novelty.level
    print(f"run {run}: level {level:g}, {summary['novelty']['n_calibration']} held-out seen images calibrate it; "
          f"feature dim {raw.shape[1]}\n")
    print("| class | seen/unseen | test images | flagged |\n|---|---|---|---|")
    for c, name in enumerate(splits.test.classes):
        kind = "seen" if name in summary["seen"] else "unseen"
        print(f"| {name} | {kind} | {int((y == c).sum())} | {flags[y == c].mean():.1%} |")
    rec = summary["novelty"]["flagged"]
    print(f"\nall seen-class test images: {rec['seen_test']:.1%}, all unseen: {rec['unseen_test']:.1%} (run's record)\n")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        images = {"uniform noise 28x28": rng.integers(0, 256, (28, 28), dtype=np.uint8),
                  "blank 28x28": np.zeros((28, 28), np.uint8),
                  "RGB noise 64x64": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)}
        paths = []
        for i, image in enumerate(images.values()):
            paths.append(os.path.join(tmp, f"{i}.png"))
            Image.fromarray(image).save(paths[-1])
        rows = predictor.prediction_rows(paths)
    print("| input | class | top probability | ood_p_value | out_of_distribution |\n|---|---|---|---|---|")
    for name, row in zip(images, rows, strict=True):
        top = max(v for k, v in row.items() if k.startswith("p_"))
        print(f"| {name} | {row['class']} | {top:.3f} | {row['ood_p_value']:.4f} | {row['out_of_distribution']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
