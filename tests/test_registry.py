import pytest

from transferkit.errors import ConfigError
from transferkit.registry import Registry, did_you_mean


def make():
    reg = Registry("strategy")

    @reg.register("linear-probe", aliases=("probe",))
    class LinearProbe:
        """Train the head on frozen features."""

    @reg.register("full")
    class Full:
        pass

    return reg, LinearProbe


def test_register_get_names_and_help():
    reg, cls = make()
    assert reg.names() == ["full", "linear-probe"]
    assert reg.get("linear-probe") is cls
    assert reg.get("probe") is cls
    assert reg.get("LINEAR_PROBE") is cls
    assert reg.entry("linear-probe").help == "Train the head on frozen features."
    assert "full" in reg and "nope" not in reg


def test_unknown_name_suggests_and_lists():
    reg, _ = make()
    with pytest.raises(ConfigError) as exc:
        reg.get("lineer-probe")
    msg = str(exc.value)
    assert "Unknown strategy 'lineer-probe'" in msg
    assert "Did you mean 'linear-probe'?" in msg
    assert "Available: full, linear-probe." in msg


def test_duplicate_names_rejected():
    reg, _ = make()
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("full")(object)
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("other", aliases=("probe",))(object)


def test_discovery_imports_package_modules():
    from transferkit.cli import COMMANDS

    # every module of transferkit/cli registers itself; config is always there
    assert "config" in COMMANDS.names()
    assert "fit" in COMMANDS.names()


def test_did_you_mean_empty_when_nothing_close():
    assert did_you_mean("zzzz", ["full", "partial"]) == ""


def test_cli_turns_an_internal_error_into_one_line(monkeypatch, capsys):
    from transferkit import cli

    class Boom:
        @staticmethod
        def run(args):
            raise RuntimeError("kaput")

    parser = cli.build_parser()
    args = parser.parse_args(["config"])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    args._command = Boom
    assert cli.main(["config"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaput" in err and "Traceback" not in err
