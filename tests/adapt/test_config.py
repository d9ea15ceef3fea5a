"""adapt's configuration front doors: Python keywords, YAML, --set and the command line."""

from __future__ import annotations

from transferkit.adapt import adapt_train_defaults
from transferkit.cli import build_parser
from transferkit.cli.adapt import AdaptCommand


def _cli(*argv: str):
    return AdaptCommand.config(build_parser().parse_args(["adapt", *argv]))


def test_cli_train_flags_keep_adapts_training_defaults() -> None:
    default = adapt_train_defaults()
    cfg = _cli("--source", "a", "--target", "b", "--epochs", "3", "--set", "train.lr=0.01")
    # one train key given: the others stay adapt's (batch 64, no early stopping on source-val)
    assert (cfg.train.epochs, cfg.train.lr) == (3, 0.01)
    assert (cfg.train.batch_size, cfg.train.patience) == (default.batch_size, default.patience)
    assert _cli("--source", "a", "--target", "b", "--no-pretrained").backbone.pretrained is False
