"""One registry type for every extension point.

A strategy, an alignment loss, a ranking score, a validator, a mapping or a backbone
family is one file in its folder that registers itself with a decorator::

    STRATEGIES = Registry("strategy", package="transferkit.strategies")

    @STRATEGIES.register("linear-probe", config=LinearProbeConfig)
    class LinearProbeStrategy: ...

The registry imports every module of its package the first time it is asked for a
name, so adding a file is all it takes; contract tests iterate over ``names()``.

Every entry is built one way, :meth:`Registry.build`: its config keys are validated
against the config dataclass it registered with, and the entry is called with the
config as ``config=`` plus whatever else it needs (``in_dim=``, ``feature_dim=``)::

    >>> from transferkit.mapping import MAPPINGS
    >>> MAPPINGS.build("mlp", {"hidden": 16}, in_dim=8).hidden
    16
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from transferkit.errors import ConfigError, did_you_mean, unknown_name_message
from transferkit.options import resolve_config

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object with its config dataclass and one-line help."""

    name: str
    obj: T
    config: type | None
    help: str


class Registry(Generic[T]):
    """Names to objects (classes, functions), with did-you-mean errors.

    Parameters
    ----------
    kind:
        What the registry holds, in the words of an error message ("strategy").
    package:
        Dotted package whose modules are imported on first lookup, so that each
        file registers itself.
    params_key:
        Where a user writes an entry's config keys, for error messages
        (``strategy_params`` gives ``'strategy_params (partial).blocks'``); default ``kind``.
    factory:
        Name of the class method that :meth:`build` calls instead of the entry itself
        (backbone families are built by ``from_spec``).
    """

    def __init__(self, kind: str, package: str | None = None, *, params_key: str | None = None,
                 factory: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self.params_key = params_key or kind
        self.factory = factory
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = package is None

    def register(
        self,
        name: str,
        *,
        config: type | None = None,
        aliases: tuple[str, ...] = (),
        help: str | None = None,
    ) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (and ``aliases``)."""

        def decorator(obj: T) -> T:
            for key in (name, *aliases):
                if key in self._entries or key in self._aliases:
                    raise ConfigError(
                        f"A {self.kind} named '{key}' is already registered; "
                        "names must be unique. Rename one of them."
                    )
            # the docstring's first paragraph, on one line
            doc = help or " ".join((getattr(obj, "__doc__", None) or "").strip().split("\n\n")[0].split())
            self._entries[name] = Entry(name, obj, config, doc)
            for alias in aliases:
                self._aliases[alias] = name
            return obj

        return decorator

    def _discover(self) -> None:
        if self._discovered or self.package is None:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def _canonical(self, name: str) -> str:
        self._discover()
        plain = str(name).strip().lower()
        for key in (name, plain, plain.replace("_", "-"), plain.replace("-", "_")):
            if key in self._entries:
                return key
            if key in self._aliases:
                return self._aliases[key]
        raise ConfigError(unknown_name_message(self.kind, name, self.names()))

    def entry(self, name: str) -> Entry[T]:
        """The registered entry for ``name``; raises ConfigError with suggestions."""
        return self._entries[self._canonical(name)]

    def get(self, name: str) -> T:
        """The object registered as ``name``."""
        return self.entry(name).obj

    def config(self, name: str) -> type | None:
        """The config dataclass registered with ``name`` (or None)."""
        return self.entry(name).config

    def where(self, name: str) -> str:
        """How error messages name the config keys of ``name``: ``"strategy_params (partial)"``."""
        return f"{self.params_key} ({self.entry(name).name})"

    def build(self, name: str, params: Any = None, /, **kwargs: Any) -> Any:
        """The entry ``name`` built the one way every entry of this registry is built.

        ``params`` are its config keys (a mapping, or an instance of its config
        dataclass); they are validated against the config the entry registered with, and
        unknown or out-of-range keys raise :class:`ConfigError` naming them
        (``'strategy_params (partial).blocks'``) with a did-you-mean. The entry (or its
        ``factory`` method) is then called as ``obj(config=config, **kwargs)``, or as
        ``obj(**kwargs)`` when it registered no config.
        """
        entry = self.entry(name)
        make = getattr(entry.obj, self.factory) if self.factory else entry.obj
        if entry.config is None:
            if params:
                raise ConfigError(f"The {self.kind} '{entry.name}' has no options. Got {params!r}.")
            return make(**kwargs)  # type: ignore[operator]
        config = resolve_config(entry.config, params, None, self.where(entry.name))
        return make(config=config, **kwargs)  # type: ignore[operator]

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the registered object as it is: ``registry.create("coral", **params)``.

        Prefer :meth:`build`, which validates the config keys the same way for every entry.
        """
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def aliases(self, name: str) -> list[str]:
        """The other names ``name`` answers to, sorted."""
        canonical = self._canonical(name)
        return sorted(a for a, target in self._aliases.items() if target == canonical)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            self._canonical(str(name))
        except ConfigError:
            return False
        return True

    def __iter__(self):  # noqa: ANN204
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


__all__ = ["Entry", "Registry", "did_you_mean", "unknown_name_message"]
