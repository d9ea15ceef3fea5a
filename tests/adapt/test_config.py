"""adapt's configuration front doors: Python keywords, YAML, --set and the command line."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from transferkit.cli import build_parser
from transferkit.cli.adapt import AdaptCommand
from transferkit.errors import ConfigError
from transferkit.jobs.adapt import (
    RENAMED,
    AdaptConfig,
    SourceDataConfig,
    TargetDataConfig,
    adapt_train_defaults,
    resolve_adapt_config,
)


def _cli(*argv: str):
    return AdaptCommand.config(build_parser().parse_args(["adapt", *argv]))


def test_cli_train_flags_keep_adapts_training_defaults() -> None:
    default = adapt_train_defaults()
    cfg = _cli("--source", "a", "--target", "b", "--epochs", "3", "--set", "train.lr=0.01")
    # one train key given: the others stay adapt's (batch 64, no early stopping on source-val)
    assert (cfg.train.epochs, cfg.train.lr) == (3, 0.01)
    assert (cfg.train.batch_size, cfg.train.patience) == (default.batch_size, default.patience)
    assert _cli("--source", "a", "--target", "b", "--no-pretrained").backbone.pretrained is False


_OLD = {"source_domain": "a", "target_domain": "b", "source_shots": 3, "target_shots": 2,
        "max_target": 100, "max_test": 50, "max_val": 20, "text_column": "txt", "label_column": "lab"}
_FLAGS = ["--source", "s", "--target", "t", "--source-domain", "a", "--target-domain", "b",
          "--source-shots", "3", "--target-shots", "2", "--max-target", "100", "--max-test", "50",
          "--max-val", "20", "--text-column", "txt", "--label-column", "lab"]


def _mapped(cfg: AdaptConfig) -> None:
    assert cfg.source == SourceDataConfig(data="s", domain="a", text_column="txt", label_column="lab",
                                          shots=3, max_val=20)
    assert cfg.target == TargetDataConfig(data="t", domain="b", shots=2, max_train=100, max_test=50)


@contextlib.contextmanager
def _renames() -> Iterator[set[tuple[str, str]]]:
    """Collects the (old, new) pairs that adapt's FutureWarnings name."""
    found: set[tuple[str, str]] = set()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        yield found
    for w in record:
        m = re.match(r"adapt's key '(\w+)' is now '([\w.]+)'", str(w.message))
        if m and issubclass(w.category, FutureWarning):
            found.add(m.groups())


def test_old_flat_keywords_are_mapped_with_a_warning_naming_old_and_new() -> None:
    with _renames() as renamed:
        cfg = resolve_adapt_config(source="s", target="t", **_OLD)
    _mapped(cfg)
    assert renamed == set(RENAMED.items()) and set(RENAMED) == set(_OLD)
    # the same settings under their new keys: the same config, and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = resolve_adapt_config(source={"data": "s", "domain": "a", "text_column": "txt",
                                           "label_column": "lab", "shots": 3, "max_val": 20},
                                   target=TargetDataConfig(data="t", domain="b", shots=2, max_train=100,
                                                           max_test=50))
    assert new == cfg


def test_old_flat_yaml_keys_and_set_names_are_mapped(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump({"source": "s", "target": "t", **_OLD}), encoding="utf-8")
    for load in (lambda: resolve_adapt_config(old), lambda: _cli("--config", str(old)),
                 lambda: resolve_adapt_config(overrides=["source=s", "target=t",
                                                         *(f"{k}={v}" for k, v in _OLD.items())])):
        with _renames() as renamed:
            _mapped(load())
        assert renamed == set(RENAMED.items())
    with _renames() as renamed:
        assert _cli(*_FLAGS, "--set", "max_test=7").target.max_test == 7  # --set beats the flag
    assert renamed == {("max_test", "target.max_test")}


def test_cli_flags_set_the_nested_keys_without_a_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _mapped(_cli(*_FLAGS))
        # a dataset name in YAML is the shorthand for source.data; a flag adds to that section
        short = tmp_path / "short.yaml"
        short.write_text("source: s\ntarget:\n  data: t\n  shots: 2\n", encoding="utf-8")
        cfg = _cli("--config", str(short), "--source-domain", "a")
    assert (cfg.source.data, cfg.source.domain, cfg.target.data, cfg.target.shots) == ("s", "a", "t", 2)


def test_an_old_and_a_new_key_for_one_setting_is_an_error(tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text("source:\n  data: s\n  shots: 5\nsource_shots: 3\n", encoding="utf-8")
    with _renames(), pytest.raises(ConfigError, match="both 'source_shots'.*'source.shots'"):
        resolve_adapt_config(both)


def test_the_target_reads_the_sources_columns_unless_it_names_its_own() -> None:
    cfg = resolve_adapt_config(source={"data": "s", "text_column": "txt", "label_column": "lab"}, target="t")
    assert (cfg.data_config("target").text_column, cfg.data_config("target").label_column) == ("txt", "lab")
    cfg = resolve_adapt_config(source={"data": "s", "text_column": "txt"},
                               target={"data": "t", "text_column": "body"})
    assert (cfg.data_config("source").text_column, cfg.data_config("target").text_column) == ("txt", "body")
    # each side's caps reach its own splits only
    cfg = resolve_adapt_config(source={"data": "s", "max_val": 20, "shots": 3},
                               target={"data": "t", "max_test": 50, "shots": 2})
    src, tgt = cfg.data_config("source"), cfg.data_config("target")
    assert (src.max_val, src.max_test, src.shots) == (20, None, 3)
    assert (tgt.max_val, tgt.max_test, tgt.shots) == (None, 50, None)  # target shots: drawn by adapt
