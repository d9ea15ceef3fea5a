"""``transferkit list NOUN``: every registry, generated from its entries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from transferkit.cli import main
from transferkit.cli.list import DELEGATES, REGISTRIES, nouns, registry
from transferkit.options import options


@pytest.mark.parametrize("noun", sorted(REGISTRIES))
def test_every_noun_lists_every_registered_name(noun, capsys):
    assert main(["list", noun]) == 0
    out = capsys.readouterr().out
    names = registry(noun).names()
    assert names and all(f"  {name} " in out for name in names)
    assert main(["list", noun, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == names and all(r["help"] for r in rows)


@pytest.mark.parametrize("noun", sorted(REGISTRIES))
def test_verbose_shows_each_option_with_default_and_bounds(noun, capsys):
    assert main(["list", noun, "--verbose"]) == 0
    out = capsys.readouterr().out
    reg = registry(noun)
    for name in reg.names():
        config = reg.config(name)
        for row in options(config) if config is not None else []:
            assert f"    {row['key']} = {row['default']!r} (" in out, (name, row["key"])


def test_verbose_names_the_bounds(capsys):
    assert main(["list", "strategies", "-v"]) == 0
    out = capsys.readouterr().out
    assert "blocks = 2 (an int >= 1)" in out and "lr_ratio = 0.01 (a number in (0, 1])" in out
    assert main(["list", "backbones", "-v"]) == 0
    out = capsys.readouterr().out
    assert "timm:<model name>" in out and "efficientnet_lite0" in out and "minilm" in out


@pytest.mark.parametrize("noun", sorted(DELEGATES))
def test_datasets_and_models_hand_over_to_their_commands(noun, capsys):
    assert main(["list", noun, "--json"]) == 0
    listed = capsys.readouterr().out
    assert main([DELEGATES[noun], "--json"]) == 0
    assert listed == capsys.readouterr().out and json.loads(listed)


def test_unknown_noun_exits_2_with_the_valid_nouns(capsys):
    assert main(["list", "stratgies"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'strategies'?" in err and ", ".join(nouns()) in err
    assert main(["list"]) == 0
    assert ", ".join(nouns()) in capsys.readouterr().out


def test_fit_help_points_at_the_list_command(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "transferkit list strategies" in out and "transferkit strategies" not in out


def test_the_list_parser_does_not_import_torch():
    code = ("import argparse, sys\n"
            "from transferkit.cli.list import ListCommand\n"
            "ListCommand.add_arguments(argparse.ArgumentParser())\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
