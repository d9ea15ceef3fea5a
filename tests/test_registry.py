import dataclasses
import re

import pytest

from transferkit.errors import ConfigError
from transferkit.options import Options, option, options
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


# ----------------------------------------------------------------------------- every registry

def _entries():
    from transferkit.cli.list import REGISTRIES, registry

    return [(noun, name) for noun in sorted(REGISTRIES) for name in registry(noun).names()]


def _registry(noun):
    from transferkit.cli.list import registry

    return registry(noun)


ENTRIES = _entries()
CONFIGURED = [(noun, name) for noun, name in ENTRIES if _registry(noun).config(name) is not None]


def test_build_validates_params_and_constructs():
    reg = Registry("widget")

    @dataclasses.dataclass
    class WidgetConfig(Options):
        size: int = option(3, "Size.", ge=1)

    @reg.register("box", config=WidgetConfig)
    class Box:
        def __init__(self, config, colour="red"):
            self.config, self.colour = config, colour

    @reg.register("plain")
    class Plain:
        def __init__(self, colour="red"):
            self.colour = colour

    box = reg.build("box", {"size": 5}, colour="blue")
    assert box.config.size == 5 and box.colour == "blue"
    assert reg.build("box", WidgetConfig(size=2)).config.size == 2
    assert reg.build("plain", colour="green").colour == "green"
    with pytest.raises(ConfigError, match=r"'widget \(box\)\.size' parameter must be an int >= 1\. Got 0"):
        reg.build("box", {"size": 0})
    with pytest.raises(ConfigError, match="has no options"):
        reg.build("plain", {"size": 1})


@pytest.mark.parametrize("noun,name", CONFIGURED)
def test_build_rejects_unknown_params_with_a_suggestion(noun, name):
    reg = _registry(noun)
    fields = [f.name for f in dataclasses.fields(reg.config(name))]
    where = re.escape(f"'{reg.where(name)}.")
    if not fields:
        with pytest.raises(ConfigError, match=where + "colour'.*Valid keys"):
            reg.build(name, {"colour": 1})
        return
    typo = fields[0] + fields[0][-1]
    with pytest.raises(ConfigError, match=where + typo + f"'. Did you mean '{fields[0]}'"):
        reg.build(name, {typo: 1})


def _bad(f):
    bounds = f.metadata["bounds"]
    op, edge = next((op, v) for op, v in bounds.items())
    return {"ge": edge - 1, "gt": edge, "le": edge + 1, "lt": edge}[op]


@pytest.mark.parametrize("noun,name", CONFIGURED)
def test_declared_bounds_hold_for_build_and_direct_construction(noun, name):
    reg = _registry(noun)
    config = reg.config(name)
    assert issubclass(config, Options), f"{config.__name__} must derive from config.Options"
    config()  # the defaults are valid
    for f in dataclasses.fields(config):
        if not f.metadata.get("bounds"):
            continue
        many = f.default_factory is not dataclasses.MISSING and isinstance(f.default_factory(), list)
        bad = [_bad(f)] if many else _bad(f)
        key = re.escape(f"'{reg.where(name)}.{f.name}")
        with pytest.raises(ConfigError, match=key + r"(\[0\])?' parameter must be"):
            reg.build(name, {f.name: bad})
        with pytest.raises(ConfigError, match=rf"^The '{f.name}(\[0\])?' parameter must be"):
            config(**{f.name: bad})


@pytest.mark.parametrize("noun,name", CONFIGURED)
def test_every_option_has_a_help_text(noun, name):
    rows = options(_registry(noun).config(name))
    assert all(r["help"] for r in rows), [r["key"] for r in rows if not r["help"]]


@pytest.mark.parametrize("noun,name", ENTRIES)
def test_every_entry_has_a_one_line_help(noun, name):
    assert _registry(noun).entry(name).help
