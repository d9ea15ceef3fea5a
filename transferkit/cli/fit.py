"""``transferkit fit``: the main job."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS, add_config_arguments, config_from_args
from transferkit.config import FitConfig


@COMMANDS.register("fit", help="Fit a transferred model on a small labelled target dataset "
                   "and write a run directory.")
class FitCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        add_config_arguments(parser, FitConfig)
        parser.add_argument("--no-pretrained", action="store_true",
                            help="Random-init backbone (no pretrained weights).")
        parser.add_argument("--resume", action="store_true",
                            help="Continue an interrupted run from its last checkpoint (the same "
                                 "configuration and data are required), or extend a finished run "
                                 "with more --epochs (a new schedule from the rate it ended at).")
        parser.add_argument("--overwrite", action="store_true",
                            help="Replace the run already in the run directory (it is kept until "
                                 "the new one is complete); without it an existing run is refused.")
        parser.add_argument("--prior-correction", metavar="auto|em|bbse|match|none|FILE|match:FILE", default=None,
                            help="Classification: move the predictions to the target's class prior "
                                 "(same as --set task_params.prior_correction=...): 'auto' uses the "
                                 "labelled pool's prior when known, else EM on the test inputs "
                                 "(labels unused); 'bbse' estimates it from the confusion matrix of "
                                 "the calibration examples; a JSON/CSV file gives class frequencies. 'match' "
                                 "(or match:FILE) predicts the unlabelled test inputs in that prior's "
                                 "proportions instead of re-weighting the probabilities.")
        parser.add_argument("--prior-pool", metavar="FILE", default=None,
                            help="Classification: unlabelled target inputs (a file or folder as "
                                 "predict reads them) on which EM estimates the class prior for "
                                 "--prior-correction auto|em|match, instead of the test inputs (same as "
                                 "--set task_params.prior_pool=...).")
        parser.add_argument("--calibration", choices=("auto", "temperature", "bcts", "none"), default=None,
                            help="Classification: temperature scaling ('bcts': plus one bias per "
                                 "class) on the validation split, or without one on a linear probe's "
                                 "cross-fitted training outputs (same as --set "
                                 "task_params.calibration=...; default auto: bcts before a prior "
                                 "correction, else temperature).")
        parser.add_argument("--decision", metavar="RULE", default=None,
                            help="Binary classification: 'cost=5:1' (a false negative costs 5 false "
                                 "positives: threshold 1/6 on the calibrated probability of the "
                                 "positive class), 'precision=0.9' or 'recall=0.9' (threshold met on "
                                 "the validation split); stored in the run, used by predict and "
                                 "serve (same as --set task_params.decision=...).")
        parser.add_argument("--class-descriptions", metavar="FILE", default=None,
                            help="Classification with a text backbone: one line per class, "
                                 "'name<TAB>description' or 'name: description'; the head starts as "
                                 "their embeddings (same as --set task_params.class_descriptions=...). "
                                 "With --shots 0 the class names alone are used when it is absent.")
        parser.add_argument("--template", metavar="TEXT", default=None,
                            help="The sentence each class name or description is put into, with '{}' "
                                 "where it goes, e.g. 'This review is about {}.' (same as --set "
                                 "task_params.template=...).")
        parser.add_argument("--quiet", action="store_true", help="Print only the final line.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Print what would be read and computed, with estimated time and "
                                 "memory from a few timed batches, and exit without training.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.cli.output import print_run_summary
        from transferkit.jobs.fit import fit

        if args.no_pretrained:
            args.overrides = ["backbone.pretrained=false", *args.overrides]
        # task_params shortcuts; --set still wins
        for key in ("prior_correction", "prior_pool", "calibration", "decision", "class_descriptions", "template"):
            if getattr(args, key) is not None:
                args.overrides = [f"task_params.{key}={getattr(args, key)}", *args.overrides]
        cfg = config_from_args(FitConfig, args)
        if args.dry_run:
            fit(cfg, dry_run=True, log=_log)
            return 0
        result = fit(cfg, resume=args.resume, overwrite=args.overwrite, log=None if args.quiet else _log)
        print_run_summary(result.summary, result.run_dir)
        return 0


def _log(msg: str) -> None:
    from transferkit.pipeline import console_log as log

    log(msg)
