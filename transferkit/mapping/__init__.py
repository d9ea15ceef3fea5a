"""Feature mappings φ and input adapters: "everything is a mapping".

Two registries, both filled by the files of this package:

- :data:`MAPPINGS` -- feature mappings between backbone and head, (B, D) -> (B, D'):
  ``identity``, ``linear``, ``orthogonal``, ``mlp``. ``--mapping auto`` compares exactly
  these (see :func:`compare_mappings`). Every one is built the same way::

      >>> from transferkit.mapping import MAPPINGS
      >>> phi = MAPPINGS.build("linear", in_dim=8)             # out_dim defaults to in_dim
      >>> phi = MAPPINGS.build("mlp", {"hidden": 16}, in_dim=8, out_dim=4)
      >>> (phi.in_dim, phi.out_dim)
      (8, 4)

- :data:`INPUT_ADAPTERS` -- modules placed *before* the backbone that map a target
  input space onto the source's: ``table`` (different columns) and ``image`` (other
  channel counts or sizes). They are not feature mappings and are never compared by
  ``--mapping auto``. ``INPUT_ADAPTERS.build("table", source_columns=...,
  target_columns=...)``.
"""

from __future__ import annotations

from typing import Any

from transferkit.registry import Registry

MAPPINGS: Registry[Any] = Registry("mapping", package="transferkit.mapping")
INPUT_ADAPTERS: Registry[Any] = Registry("input adapter", package="transferkit.mapping")

from transferkit.mapping._select import compare_mappings, default_train_fn  # noqa: E402

__all__ = ["INPUT_ADAPTERS", "MAPPINGS", "compare_mappings", "default_train_fn"]
