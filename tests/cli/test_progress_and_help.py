"""Progress bars follow the command line (on a terminal, not with --quiet), and every
config flag's --help names what it accepts and its default."""

from __future__ import annotations

import sys

import pytest

from transferkit import cli
from transferkit.progress import cli_progress, progress_wanted


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.delenv("TRANSFERKIT_NO_PROGRESS", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)


def test_progress_is_off_for_library_calls_and_on_inside_the_cli(terminal, monkeypatch):
    assert progress_wanted() is False  # a library call that did not ask
    assert progress_wanted(True) is True
    with cli_progress(True):
        assert progress_wanted() is True
        assert progress_wanted(False) is False  # an explicit no wins
        monkeypatch.setenv("TRANSFERKIT_NO_PROGRESS", "1")
        assert progress_wanted() is False and progress_wanted(True) is False
    assert progress_wanted() is False


def test_progress_is_off_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    with cli_progress(True):
        assert progress_wanted() is False


@pytest.mark.parametrize("argv, shown", [(["datasets"], True), (["datasets", "--json"], False)])
def test_the_cli_turns_bars_on_unless_quiet_or_json(terminal, monkeypatch, argv, shown):
    seen = []
    command = cli.COMMANDS.entry("datasets").obj
    monkeypatch.setattr(command, "run", lambda args: seen.append(progress_wanted()) or 0)
    assert cli.main(argv) == 0
    assert seen == [shown]


def test_fit_help_shows_defaults_and_accepted_values(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Optimizer. Accepts one of adamw, sgd. Default: adamw." in text
    assert "Default: cosine." in text  # --scheduler
    # --strategy: no fixed default, the rule by the backbone's weights
    assert "None: linear-probe for a backbone with pretrained weights, full for one without" in text
    assert "Accepts an int >= 1 or None. Default: None." in text  # --shots


def test_library_messages_go_through_logging_and_the_cli_shows_them(tmp_path, caplog, capsys):
    import logging

    import numpy as np
    import pandas as pd

    import transferkit as tk

    rng = np.random.default_rng(0)
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": rng.normal(size=80), "y": ["p", "n"] * 40}).to_csv(path, index=False)
    with caplog.at_level(logging.DEBUG, logger="transferkit"):
        tk.fit(data=str(path), label_column="y", backbone="tabular", strategy="full", epochs=2,
               out=str(tmp_path / "run"))  # no log=: the job's lines go to the logger
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    debugs = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("stage" in m for m in infos) and not any("[bold]" in m for m in infos)
    assert any("epoch" in m and "train_loss" in m for m in debugs)  # the loop's evaluation lines
    logging.getLogger("transferkit").handlers.clear()
    assert cli.main(["fit", "--data", str(path), "--label-column", "y", "--backbone", "tabular",
                     "--strategy", "full", "--epochs", "1", "--out", str(tmp_path / "run2"), "--verbose",
                     "--quiet"]) == 0
    assert "DEBUG transferkit:" in capsys.readouterr().err
    logging.getLogger("transferkit").handlers.clear()
    logging.getLogger("transferkit").setLevel(logging.NOTSET)
