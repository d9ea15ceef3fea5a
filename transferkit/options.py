"""Options: how a configuration dataclass declares, checks, reads and documents its keys.

Every configurable thing is a dataclass (deriving from :class:`Options`) whose fields are
declared with :func:`option`: a default, a one-line help text, an optional command-line
flag, and its constraints (``choices``, ``ge``/``gt``/``le``/``lt``), checked in one place
(:func:`check_options`) whether the object comes from Python, YAML or ``--set``. The same
help feeds ``--help``, the YAML reference (``transferkit config``) and ``transferkit list``.
:func:`configure` is the one keyword/YAML/``--set`` front door of every job. The configs
themselves live in :mod:`transferkit.config`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from transferkit.errors import ConfigError, did_you_mean

C = TypeVar("C")


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           choices: Iterable[Any] | None = None, factory: Any = None, ge: float | None = None,
           gt: float | None = None, le: float | None = None, lt: float | None = None,
           convert: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field with help text, an optional command-line flag and its constraints.

    ``flag`` is the long option that sets this field from the command line
    (``--shots``). ``choices`` restricts the values; ``ge``/``gt``/``le``/``lt`` bound a
    number (each element of a list of numbers). A field annotated ``int | None`` accepts
    None besides what the bounds allow. ``convert`` maps a value given from Python before it
    is checked (``DataConfig.data``: an in-memory dataset -> its reference).
    :func:`check_options` enforces all of them::

        >>> @dataclass
        ... class Demo(Options):
        ...     shots: int | None = option(None, "Examples per class.", ge=1)
        >>> Demo(shots=0)
        Traceback (most recent call last):
        transferkit.errors.ConfigError: The 'shots' parameter must be an int >= 1. Got 0 instead.
    """
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    if (ge is not None and gt is not None) or (le is not None and lt is not None):
        raise TypeError("option() takes at most one lower bound (ge or gt) and one upper bound "
                        f"(le or lt). Got {bounds}.")
    meta = {"help": help, "flag": flag, "choices": tuple(choices) if choices else None,
            "bounds": bounds or None, "convert": convert}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------- constraints


class Options:
    """Base of every config dataclass: building one checks the constraints its options
    declare (:func:`check_options`). A subclass that adds a cross-field check in its own
    ``__post_init__`` calls ``super().__post_init__()`` first."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            if f.metadata.get("convert") is not None:
                setattr(self, f.name, f.metadata["convert"](getattr(self, f.name)))
        check_options(self)


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _kind(tp: Any) -> tuple[Any, bool, bool]:
    """(element type, is a list, None allowed) of an annotation: ``list[float] | None`` ->
    (float, True, True)."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    optional = type(None) in args
    args = tuple(a for a in args if a is not type(None))
    base = args[0] if len(args) == 1 else Any
    many = typing.get_origin(base) in (list, tuple)
    if many:
        base = (typing.get_args(base) or (Any,))[0]
    return base, many, optional


def _rule(f: dataclasses.Field, base: Any) -> str:
    choices, bounds = f.metadata.get("choices"), f.metadata.get("bounds")
    if choices:
        return f"one of {', '.join(map(str, choices))}"
    if not bounds:
        return ""
    low = next(((op, v) for op, v in bounds.items() if op in ("ge", "gt")), None)
    high = next(((op, v) for op, v in bounds.items() if op in ("le", "lt")), None)
    if low and high:
        return (f"{'an int' if base is int else 'a number'} in {'[' if low[0] == 'ge' else '('}"
                f"{_num(low[1])}, {_num(high[1])}{']' if high[0] == 'le' else ')'}")
    op, v = low or high  # type: ignore[misc]
    return f"{'an int' if base is int else 'a finite number'} {_SYMBOLS[op]} {_num(v)}"


def rule(f: dataclasses.Field, tp: Any = Any) -> str:
    """What an option accepts, as an error message says it ("an int >= 1 or None", "one of
    adamw, sgd"); empty when it declares no constraint. ``tp`` is the field's annotation."""
    base, many, optional = _kind(tp)
    text = _rule(f, base)
    if not text:
        return ""
    return ("each " if many else "") + text + (" or None" if optional else "")


_SYMBOLS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_HOLDS = {"ge": lambda x, b: x >= b, "gt": lambda x, b: x > b, "le": lambda x, b: x <= b,
          "lt": lambda x, b: x < b}


def _fits(value: Any, base: Any, choices: tuple | None, bounds: dict | None) -> bool:
    if choices:
        return value in choices
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    if base is int and not isinstance(value, numbers.Integral):
        return False
    return math.isfinite(value) and all(_HOLDS[op](value, b) for op, b in bounds.items())


def check_option(f: dataclasses.Field, value: Any, key: str, tp: Any = Any) -> None:
    """Raise ConfigError naming ``key`` unless ``value`` meets the choices and bounds that
    ``f`` declares (each element of a list does). ``tp`` is the field's annotation."""
    choices, bounds = f.metadata.get("choices"), f.metadata.get("bounds")
    if value is None or not (choices or bounds):
        return
    base, many, _ = _kind(tp)
    items = list(enumerate(value)) if many and isinstance(value, (list, tuple)) else [(None, value)]
    for i, item in items:
        if not _fits(item, base, choices, bounds):
            name = key if i is None else f"{key}[{i}]"
            hint = did_you_mean(str(item), [str(c) for c in choices]) if choices else ""
            raise ConfigError(f"The '{name}' parameter must be {_rule(f, base)}.{hint} "
                              f"Got {item!r} instead.")


def check_options(obj: Any, where: str = "") -> None:
    """Check every option of the config dataclass ``obj`` against its declared choices and
    bounds; the error names the key as ``where.name``."""
    try:
        hints = _hints(type(obj))
    except (NameError, TypeError):  # annotations naming what the class's module cannot see
        hints = {}
    for f in dataclasses.fields(obj):
        check_option(f, getattr(obj, f.name), f"{where}.{f.name}" if where else f.name,
                     hints.get(f.name, Any))


# --------------------------------------------------------------------------- values


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (converting YAML scalars)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where} cannot be null.")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"The '{where}' section must be a mapping of keys. Got {value!r}.")
        return from_dict(tp, value, where)
    if tp is Any:
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"The '{where}' parameter must be a list. Got {value!r} instead.")
        inner = args[0] if args else Any
        return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"The '{where}' parameter must be a mapping. Got {value!r} instead.")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"The '{where}' parameter must be true or false. Got {value!r} instead.")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            raise ConfigError(f"The '{where}' parameter must be an int. Got {value!r} instead.")
        try:
            as_float = float(value)
        except ValueError:
            raise ConfigError(f"The '{where}' parameter must be an int. Got {value!r} instead.") from None
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise ConfigError(f"The '{where}' parameter must be an int. Got {value!r} instead.")
        return int(as_float)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"The '{where}' parameter must be a number. Got {value!r} instead.")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"The '{where}' parameter must be a number. Got {value!r} instead.") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"The '{where}' parameter must be a string. Got {value!r} instead.")
        if isinstance(value, bool):
            raise ConfigError(f"The '{where}' parameter must be a string. Got the boolean {value!r}: YAML reads "
                              f"unquoted no/yes/on/off/true/false as booleans; quote the word, e.g. '\"no\"'.")
        return str(value)
    return value


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_dict(cls: type[C], data: Mapping[str, Any] | None, where: str = "") -> C:
    """Build ``cls`` from a (nested) mapping, rejecting unknown keys.

    Raises :class:`ConfigError` naming the key (``where.key``), suggesting the closest
    valid key and listing all valid keys; values are checked against the annotations and
    the constraints declared on :func:`option`.
    """
    data = dict(data or {})
    fields = _fields(cls)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key).replace("-", "_")
        full = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(
                f"Unknown configuration key '{full}'.{did_you_mean(key, list(fields))} "
                f"Valid keys{' of ' + repr(where) if where else ''}: {', '.join(fields)}."
            )
        if fields[key].metadata.get("convert") is not None:
            value = fields[key].metadata["convert"](value)
        kwargs[key] = _coerce(value, hints[key], full)
        check_option(fields[key], kwargs[key], full, hints[key])
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"Incomplete configuration{' for ' + where if where else ''}: {exc}") from None


def resolve_config(cls: type[C], config: Any = None, params: Mapping[str, Any] | None = None,
                   where: str = "") -> C:
    """The config of a component built as ``Component(config)`` or ``Component(**params)``.

    ``config`` may be an instance of ``cls``, a mapping of its keys, or None (then the
    keyword ``params`` are validated with :func:`from_dict`); passing both is an error.
    """
    params = dict(params or {})
    owner = f"'{where}'" if where else cls.__name__
    if config is not None and params:
        raise ConfigError(f"Pass the options of {owner} either as a config object or as keyword "
                          f"arguments, not both. Got config={config!r} and {sorted(params)}.")
    if config is None:
        return from_dict(cls, params, where)
    if isinstance(config, Mapping):
        return from_dict(cls, config, where)
    if not isinstance(config, cls):
        raise ConfigError(f"The config of {owner} must be a {cls.__name__} or a mapping of its "
                          f"keys. Got {type(config).__name__} instead.")
    return config


def to_dict(obj: Any) -> Any:
    """A plain, YAML/JSON-serialisable copy of a config dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=0.01"`` -> (["train", "lr"], 0.01); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(
            f"The --set value {text!r} must look like key=value, e.g. --set train.lr=0.001."
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"The --set value {text!r} has an empty key; use e.g. --set train.lr=0.001.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        value = raw.strip()  # YAML 1.1 reads no/yes/on/off as booleans; a bool option still accepts the word
    return key.split("."), value


def merge_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``data[path[0]][path[1]]... = value``, creating sections on the way."""
    node = data
    for part in path[:-1]:
        existing = node.get(part)
        if not isinstance(existing, dict):
            existing = {} if existing is None or not isinstance(existing, Mapping) else dict(existing)
            node[part] = existing
        node = existing
    node[path[-1]] = value


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file '{p}' does not exist. Pass the path of a YAML file.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file '{p}' is not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file '{p}' is not UTF-8 text.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{p}' must hold a mapping of keys at the top level.")
    return data


def load_config(cls: type[C], path: str | Path | None = None, overrides: Iterable[str] = (),
                values: Mapping[str, Any] | None = None) -> C:
    """Defaults < YAML file < ``values`` (dotted keys) < ``--set`` overrides."""
    data: dict[str, Any] = read_yaml(path) if path else {}
    for key, value in (values or {}).items():
        merge_override(data, key.split("."), value)
    for text in overrides:
        keys, value = parse_override(text)
        merge_override(data, keys, value)
    return from_dict(cls, data)


def options(cls: type, prefix: str = "") -> list[dict[str, Any]]:
    """Every leaf option of the config dataclass ``cls``: key (dotted), type, default, rule
    (what it accepts, see :func:`rule`) and help, for docs, ``transferkit config`` and
    ``transferkit list --verbose``."""
    rows = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(options(tp, key + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        rows.append({"key": key, "type": _type_name(tp), "default": default, "rule": rule(f, tp),
                     "help": f.metadata.get("help", "")})
    return rows


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """Rows of (key, type, default, help) for docs and ``transferkit config``."""
    return [(r["key"], r["type"], r["default"], r["help"]) for r in options(cls, prefix)]


def flags(cls: type, prefix: str = "") -> list[tuple[str, str, dataclasses.Field, Any]]:
    """(flag, dotted key, field, type) for every field that declares a command-line flag."""
    out = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(flags(tp, f"{prefix}{f.name}."))
        elif f.metadata.get("flag"):
            out.append((f.metadata["flag"], f"{prefix}{f.name}", f, tp))
    return out


# --------------------------------------------------------------------------- front door


def to_flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}`` (free-form ``*_params`` dicts stay whole)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and not str(k).endswith("_params"):
            out.update(to_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _renamed(flat: Mapping[str, Any], rename: Callable[[str, Any], str], where: str) -> dict[str, Any]:
    """``flat`` (dotted keys) with renamed keys; an old and a new key for one setting is an error."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        new = rename(key, value)
        if new != key and new in flat:
            raise ConfigError(f"{where} sets both '{key}' and '{new}', one setting under two names; "
                              f"keep '{new}'.")
        out[new] = value
    return out


def configure(cls: type[C], config: Any = None, overrides: Iterable[str] = (), *,
              shortcuts: Mapping[str, str] | None = None, defaults: Mapping[str, Any] | None = None,
              rename: Callable[[str, Any], str] | None = None, **kwargs: Any) -> C:
    """The one keyword -> config front door of every job (fit, auto, adapt, pretrain).

    Precedence: the class defaults < ``defaults`` (dotted keys: a job's own defaults) <
    ``config`` (an instance of ``cls`` or a YAML path) < keyword arguments (``shortcuts``
    maps short names such as ``epochs`` to dotted keys; dotted keys work as keywords too;
    ``None`` values are ignored) < ``overrides`` (``--set key=value`` strings). ``rename``
    maps a key that was renamed in a later version to its current name (it may warn); it
    applies to YAML keys, keywords and overrides alike.

    >>> from transferkit.config import FitConfig
    >>> configure(FitConfig, None, ["train.lr=0.01"], shortcuts={"shots": "data.shots"},
    ...           shots=5).data.shots
    5
    """
    rename = rename or (lambda key, _value: key)
    values: dict[str, Any] = dict(defaults or {})
    given: set[str] = set()  # the dotted keys the user set (see given_keys)
    if isinstance(config, cls):
        values = to_flat(to_dict(config))
        given |= given_keys(config)
    elif config is not None:
        from_file = _renamed(to_flat(read_yaml(config)), rename, f"Config file '{config}'")
        values.update(from_file)
        given |= set(from_file)
    shortcuts = shortcuts or {}
    keywords = _renamed({shortcuts.get(k, k): v for k, v in kwargs.items() if v is not None}, rename,
                        "The keyword arguments")
    values.update(keywords)
    given |= set(keywords)
    data: dict[str, Any] = {}
    for key, value in values.items():
        merge_override(data, key.split("."), value)
    for text in overrides:
        keys, value = parse_override(text)
        key = rename(".".join(keys), value)
        merge_override(data, key.split("."), value)
        given.add(key)
    out = from_dict(cls, data)
    object.__setattr__(out, "given_keys_", frozenset(given))
    return out


def given_keys(config: Any) -> frozenset[str]:
    """The dotted keys of ``config`` that were set by the user (a config file, a keyword or
    CLI flag, an override) when it came through :func:`configure`, as opposed to defaults:
    how a job tells ``--backbone X`` from X being the default. Empty for a config built
    otherwise (then nothing is known to be given)."""
    return frozenset(getattr(config, "given_keys_", ()))
