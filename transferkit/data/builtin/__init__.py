"""Built-in offline datasets, one file each (registered in ``DATASETS``).

Each file defines a :class:`~transferkit.data.builtin._base.BuiltinDataset` subclass
with its metadata, ``available()``, an ``install_hint`` and ``parts(domain)``.
"""
