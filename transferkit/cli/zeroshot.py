"""``transferkit zeroshot``: classify images of unseen classes by their names."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS, add_config_arguments, config_from_args


@COMMANDS.register("zeroshot", help="Zero-shot image classification: learn a map from image "
                   "features to class-name embeddings on seen classes, classify unseen classes by "
                   "name (ZSL and generalised ZSL with calibrated stacking); writes a run that "
                   "predicts, evaluates and serves.")
class ZeroShotCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from transferkit.jobs.zeroshot import ZeroShotConfig

        add_config_arguments(parser, ZeroShotConfig)
        parser.add_argument("--overwrite", action="store_true",
                            help="Replace an existing run directory (kept until the new run is complete).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.jobs.zeroshot import ZeroShotConfig, zeroshot
        from transferkit.pipeline import console_log

        cfg = config_from_args(ZeroShotConfig, args)
        result = zeroshot(cfg, log=console_log, overwrite=args.overwrite)
        z = result.summary["zeroshot"]
        g = z["gzsl"]
        print(f"zsl_accuracy={z['zsl_accuracy']:.4f} chance={z['zsl_chance']:.4f} "
              f"gzsl_seen={g['acc_seen']:.4f} gzsl_unseen={g['acc_unseen']:.4f} gzsl_h={g['h']:.4f} "
              f"run_dir={result.run_dir}")
        return 0
