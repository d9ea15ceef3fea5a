"""``transferkit pretrain``: train a source backbone; its run directory is a ``--backbone``."""

from __future__ import annotations

import argparse

from transferkit.cli import COMMANDS


@COMMANDS.register("pretrain", help="Pretrain a backbone on a labelled source dataset (any timm "
                   "architecture, the tabular MLP, a sequence encoder, or continued training); the "
                   "run directory then works as --backbone for fit.")
class PretrainCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", metavar="YAML", help="YAML file with fit configuration "
                            "keys (the flags and --set override it).")
        parser.add_argument("--data", default=None, metavar="SOURCE",
                            help="Labelled source dataset: a built-in name or a path; series: several "
                                 "as one source with a,b,c (classes <set>/<class>, resampled to their "
                                 "median length, or a,b,c@L to L steps).")
        parser.add_argument("--text-column", default=None,
                            help="Column holding the text (CSV/JSONL text data).")
        parser.add_argument("--label-column", default=None,
                            help="Column holding the label (CSV/JSONL/Parquet).")
        parser.add_argument("--label-separator", default=None,
                            help="Multi-label: the label column holds labels joined by this "
                                 "separator (e.g. ';'). Off by default.")
        parser.add_argument("--label-columns", default=None,
                            help="Multi-label: several 0/1 columns, one per label (a,b,c).")
        parser.add_argument("--arch", default=None, metavar="A",
                            help="Architecture: timm:<name> (e.g. timm:resnet10t), tabular[:128,64], "
                                 "sequence:cnn, sequence:lstm, a built-in or a run directory "
                                 "(default for a table: tabular).")
        parser.add_argument("--objective", default="supervised", choices=("supervised", "masked"),
                            help="What the backbone learns from: the source's labels (default), or "
                                 "'masked': self-supervised masked-value reconstruction of series "
                                 "(sequence:cnn / sequence:lstm; labels unused, unlabelled files work).")
        parser.add_argument("--out", default=None, metavar="DIR",
                            help="Run directory to write (default runs/<name>).")
        parser.add_argument("--name", default=None, help="Run name (default derived from data, "
                            "architecture and time).")
        parser.add_argument("--epochs", type=int, default=None, help="Passes over the source data "
                            "(an upper bound: early stopping on the source's validation split; "
                            "default 10).")
        parser.add_argument("--pretrained", action="store_true",
                            help="Continue training the architecture's pretrained weights instead "
                                 "of starting from random initialisation.")
        parser.add_argument("--image-size", type=int, default=None,
                            help="Input resolution of image architectures (default 32 px from "
                                 "random init, the backbone's own when pretrained).")
        parser.add_argument("--lr", type=float, default=None, help="Peak learning rate.")
        parser.add_argument("--batch-size", type=int, default=None, help="Examples per step.")
        parser.add_argument("--seed", type=int, default=None, help="Seed of initialisation and order "
                            "(default 0).")
        parser.add_argument("--max-steps", type=int, default=None, help="Stop after this many steps.")
        parser.add_argument("--domain", default=None, help="Domain of a built-in dataset.")
        parser.add_argument("--max-test", type=int, default=None, help="Cap on the test split.")
        parser.add_argument("--set", dest="overrides", action="append", default=[],
                            metavar="KEY=VALUE", help="Any other fit configuration key, e.g. "
                            "--set train.weight_decay=0 (repeatable).")
        parser.add_argument("--overwrite", action="store_true",
                            help="Replace the run already in the run directory (it is kept until "
                                 "the new one is complete); without it an existing run is refused.")
        parser.add_argument("--quiet", action="store_true", help="Print only the final table.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Print what the source fit would read and compute, with estimated "
                                 "time and memory, and exit without training.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.cli.output import print_run_summary
        from transferkit.jobs.pretrain import pretrain

        extra = {k: v for k, v in (("domain", args.domain), ("max_test", args.max_test),
                                   ("text_column", args.text_column),
                                   ("label_column", args.label_column),
                                   ("label_separator", args.label_separator),
                                   ("label_columns", _columns(args.label_columns))) if v is not None}
        result = pretrain(args.data, args.arch, args.out, epochs=args.epochs, pretrained=args.pretrained,
                          image_size=args.image_size, lr=args.lr, batch_size=args.batch_size,
                          seed=args.seed, max_steps=args.max_steps, overrides=args.overrides, name=args.name,
                          config=args.config, dry_run=args.dry_run, overwrite=args.overwrite,
                          objective=args.objective, log=_log if args.dry_run or not args.quiet else None, **extra)
        if args.dry_run:
            return 0
        print_run_summary(result.summary, result.run_dir)
        return 0


def _columns(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _log(msg: str) -> None:
    from transferkit.pipeline import console_log as log

    log(msg)
