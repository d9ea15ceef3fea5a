"""``transferkit adapt``: unsupervised domain adaptation with label-free model selection."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from transferkit.cli import COMMANDS, add_config_arguments, flag_values

if TYPE_CHECKING:
    from transferkit.jobs.adapt.config import AdaptConfig


@COMMANDS.register("adapt", help="Adapt a model trained on a labelled source domain to an "
                   "unlabelled target domain (alignment losses or shallow methods), choosing "
                   "the checkpoint with a label-free validator; reports source-only and oracle.")
class AdaptCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from transferkit.jobs.adapt.config import AdaptConfig

        add_config_arguments(parser, AdaptConfig)
        parser.add_argument("--no-pretrained", action="store_true",
                            help="Random-init backbone (no pretrained weights).")
        parser.add_argument("--overwrite", action="store_true",
                            help="Replace the run already in the run directory (it is kept until "
                                 "the new one is complete); without it an existing run is refused.")
        parser.add_argument("--quiet", action="store_true", help="Print only the final table.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Print what would be read and computed (extractions not in the "
                                 "cache, every candidate's training steps), with estimated time and "
                                 "memory from a few timed batches, and exit without training.")
        parser.epilog = ("methods: alignment losses (coral, mmd, dann, cdan, mcc, entropy), shallow "
                         "methods on cached features (coral-transform, subspace, importance), "
                         "source-only. validators (--select): snd, entropy, dev.")

    @staticmethod
    def config(args: argparse.Namespace) -> AdaptConfig:
        """The AdaptConfig of the command line, through adapt's one front door
        (``resolve_adapt_config``): defaults < --config YAML < flags < --set overrides, with
        adapt's training defaults kept for the train keys not given."""
        from transferkit.jobs.adapt import resolve_adapt_config

        overrides = ["backbone.pretrained=false", *args.overrides] if args.no_pretrained else args.overrides
        return resolve_adapt_config(args.config, overrides, **flag_values(args))

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.cli.output import print_run_summary
        from transferkit.jobs.adapt import adapt, check_method, check_validator
        from transferkit.pipeline import console_log as _log

        cfg = AdaptCommand.config(args)
        check_method(cfg.method)  # fail before any data is loaded
        check_validator(cfg.select)
        if args.dry_run:
            adapt(cfg, log=_log, dry_run=True)
            return 0
        result = adapt(cfg, log=None if args.quiet else _log, overwrite=args.overwrite)
        print_run_summary(result.summary, result.run_dir)
        from transferkit.tasks import get_task

        s = result.summary
        metric = get_task(s.get("task")).selection_metric
        shown = _pct if metric == "accuracy" else _num
        test = ((s.get("metrics") or {}).get("test") or {}).get(metric)
        baselines = s.get("baselines") or {}
        so = ((baselines.get("source_only") or {}).get("test") or {}).get(metric)
        oracle = ((baselines.get("oracle") or {}).get("test") or {}).get(metric)
        validator = (s.get("selection") or {}).get("validator", "?")
        line = (f"target test {metric}: adapted {shown(test)} (selected by {validator}, "
                f"label-free), source-only {shown(so)}")
        if oracle is not None:
            line += f", oracle {shown(oracle)} (selected with target labels)"
        print(line)
        return 0


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
