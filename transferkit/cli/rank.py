"""``transferkit rank``: which backbone transfers best to this data, in seconds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from transferkit.cli import COMMANDS


@COMMANDS.register("rank", help="Rank candidate backbones for a dataset by transferability "
                   "(LogME, LEEP, NCE, H-score on cached features of the training split).")
class RankCommand:
    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", required=True, help="Target dataset: a built-in name (see "
                            "`transferkit datasets`) or a path.")
        parser.add_argument("--backbones", default=None, metavar="A,B,C",
                            help="Candidate backbones, comma-separated: built-ins, timm:<name>, "
                            "hf:<name or folder>, run directories, random:<name> for random init "
                            "(default: the installed built-in pool for the data's modality).")
        parser.add_argument("--shots", type=int, default=None,
                            help="Training examples per class used for scoring.")
        parser.add_argument("--scores", default=None, metavar="S1,S2",
                            help="Scores to compute (default: all of logme, leep, nce, hscore).")
        parser.add_argument("--validate", action="store_true",
                            help="Also linear-probe each candidate (selected on the validation "
                            "split) and report each score's Spearman correlation with the probe "
                            "accuracies.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the few-shot sample.")
        parser.add_argument("--domain", default=None, help="Domain of a built-in dataset with several.")
        parser.add_argument("--text-column", default=None, help="Column holding the text.")
        parser.add_argument("--label-column", default=None, help="Column holding the label.")
        parser.add_argument("--label-separator", default=None,
                            help="Multi-label: the label column holds labels joined by this "
                            "separator, e.g. ';' (label sets rank by LogME).")
        parser.add_argument("--label-columns", default=None, metavar="A,B,C",
                            help="Multi-label: several 0/1 columns, one per label (a,b,c).")
        parser.add_argument("--task", default=None, help="The task to rank for, e.g. regression "
                            "(default: the one the labels say, as in fit; numbers and label sets "
                            "rank by LogME).")
        parser.add_argument("--image-size", type=int, default=None,
                            help="Input resolution for image backbones, 8..4096 (default: each "
                            "one's native).")
        parser.add_argument("--cache-dir", default=None, help="Feature cache directory.")
        parser.add_argument("--json", action="store_true", help="Print the rows as JSON.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from transferkit.errors import ConfigError
        from transferkit.jobs.rank import rank

        if args.shots is not None and args.shots < 1:
            raise ConfigError(f"The '--shots' option must be an int >= 1. Got {args.shots} instead.")
        if args.image_size is not None:  # the bounds that fit's --image-size declares
            import dataclasses

            from transferkit.config import BackboneConfig
            from transferkit.options import check_option

            field = {f.name: f for f in dataclasses.fields(BackboneConfig)}["image_size"]
            check_option(field, args.image_size, "--image-size", int)
        log = None if args.json else _log
        rows = rank(args.data, backbones=args.backbones, scores=args.scores, shots=args.shots,
                    seed=args.seed, validate=args.validate, image_size=args.image_size,
                    cache_dir=args.cache_dir, domain=args.domain, text_column=args.text_column,
                    label_column=args.label_column, task=args.task, log=log,
                    label_separator=args.label_separator,
                    label_columns=[c.strip() for c in args.label_columns.split(",") if c.strip()]
                    if args.label_columns else None)
        if args.json:
            print(json.dumps({"rows": list(rows), "order_by": rows.order_by, "task": rows.task,
                              "correlations": rows.correlations, "warnings": rows.warnings},
                             indent=2))
            return 0
        print_ranking(rows, args.data)
        return 0


def print_ranking(rows: Any, data: str) -> None:
    """The ranking as a table: each score with its time, the feature dimension, and with
    --validate the probe accuracy and each score's rank correlation with it."""
    from rich import box
    from rich.table import Table

    from transferkit.cli.output import console as make_console

    console = make_console()
    names = list(rows[0]["scores"]) if rows else []
    key = f"probe_val_{rows.probe_metric}"
    validated = bool(rows) and key in rows[0]
    # the title on its own line: a long data path must not wrap it to the table's width
    console.print(f"transferability on {data} (n_train = {rows[0]['n_train'] if rows else 0}), "
                  f"ordered by {rows.order_by}; score (seconds)", soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("backbone", overflow="fold", min_width=12)
    table.add_column("dim", justify="right")
    table.add_column("features", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    if validated:
        table.add_column(f"probe val {rows.probe_metric}", justify="right")
    for row in rows:
        cells = [str(row["rank"]), row["backbone"], str(row["feature_dim"]), f"{row['features_s']:.1f}s"]
        cells += [f"{row['scores'][n]:.4f}\n({row['score_s'][n]:.2f}s)" for n in names]
        if validated:
            cells.append(f"{row[key] * 100:.1f} %" if rows.probe_metric in ("accuracy", "micro_f1", "entity_f1")
                         else f"{row[key]:.4f}")
        table.add_row(*cells)
    console.print(table)
    if any(n in names for n in ("leep", "nce")):
        sources = sorted({r["source_probs"] for r in rows})
        console.print(f"LEEP/NCE source probabilities: {'; '.join(sources)}")
    for warning in rows.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if validated:
        corr = ", ".join(f"{k} {'n/a (< 3 candidates or a tie)' if v is None else f'{v:+.2f}'}"
                         for k, v in rows.correlations.items())
        console.print(f"Spearman rank correlation with probe {rows.probe_metric}: {corr}")


def _log(msg: str) -> None:
    from transferkit.pipeline import console_log as log

    log(msg)
