"""Shared pieces of the feature mappings: the base module and config handling.

The leading underscore keeps the registry's module discovery from treating this file
as a mapping.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from transferkit.errors import ConfigError
from transferkit.options import resolve_config


def check_dim(value: Any, name: str, owner: str) -> int:
    """An int >= 1 (dimension) or a ConfigError that names the parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"The '{name}' parameter of {owner} must be an int >= 1. Got {value!r} instead.")
    return value


class FeatureMapping(nn.Module):
    """A feature mapping φ: (B, in_dim) -> (B, out_dim), between backbone and head.

    Constructor convention, shared by every mapping in ``MAPPINGS``::

        MAPPINGS.build(name, params, in_dim=D, out_dim=None)   # = cls(in_dim, out_dim, config)

    ``out_dim=None`` keeps the dimension (``out_dim = in_dim``). ``config`` is the
    mapping's config dataclass (or a dict of its keys); alternatively pass its keys as
    keyword ``params``. Unknown keys raise :class:`ConfigError`. A mapping that cannot
    change the dimension sets ``changes_dim = False``.
    """

    config_class: ClassVar[type]
    changes_dim: ClassVar[bool] = True

    def __init__(self, in_dim: int, out_dim: int | None = None, config: Any = None,
                 **params: Any) -> None:
        super().__init__()
        owner = type(self).__name__
        self.in_dim = check_dim(in_dim, "in_dim", owner)
        self.out_dim = check_dim(in_dim if out_dim is None else out_dim, "out_dim", owner)
        self.config = resolve_config(self.config_class, config, params)

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}"
