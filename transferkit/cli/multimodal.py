"""``transferkit multimodal``: classify rows of images, texts, numbers and categories."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS, add_config_arguments, config_from_args


@COMMANDS.register("multimodal", help="Multimodal rows: each column (image paths, texts, numbers, "
                   "categories) through its own encoder, missing cells masked, fused at feature "
                   "level and late; test accuracy of each.")
class MultimodalCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from transferkit.jobs.multimodal import MultimodalConfig

        add_config_arguments(parser, MultimodalConfig)
        parser.add_argument("--overwrite", action="store_true",
                            help="Replace an existing run directory (kept until the new run is complete).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.jobs.multimodal import MultimodalConfig, multimodal
        from transferkit.pipeline import console_log

        result = multimodal(config_from_args(MultimodalConfig, args), log=console_log,
                            overwrite=args.overwrite)
        for name, scores in result.summary["multimodal"]["fusion"].items():
            print(f"{name}: accuracy={scores['accuracy']:.4f} balanced_accuracy={scores['balanced_accuracy']:.4f}")
        print(f"run_dir={result.run_dir}")
        return 0
