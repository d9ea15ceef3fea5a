"""Shared code of the UCR/UEA series built-ins (underscore: not a dataset module itself).

The files ship inside the aeon wheel (``aeon/datasets/data/<Name>/<Name>_{TRAIN,TEST}.ts``),
found without importing aeon (which needs numba). Each dataset's own TRAIN file is the
pool that train/val are split from and its TEST file is the test split, as the archive
defines them, so results compare with published ones (the TEST series in a fixed shuffled
order, so that ``--max-test N`` takes a mix of classes from files sorted by class).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import ClassVar

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset
from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError

AEON_HINT = "pip install --no-deps aeon==1.6.0 (its bundled UCR/UEA files; aeon itself is not imported)"


def aeon_data_dir() -> Path | None:
    """``<site-packages>/aeon/datasets/data``, or None when aeon's files are not installed."""
    try:
        spec = importlib.util.find_spec("aeon")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


class UcrDataset(BuiltinDataset):
    """A classification problem of the UCR/UEA archive, read from aeon's bundled files."""

    modality = "sequence"
    folder: ClassVar[str]
    licence = "BSD-3-Clause (aeon)"
    install_hint = AEON_HINT
    pip_args = ("--no-deps", "aeon==1.6.0")

    @classmethod
    def files(cls) -> tuple[Path, Path] | None:
        root = aeon_data_dir()
        if root is None:
            return None
        train, test = (root / cls.folder / f"{cls.folder}_{part}.ts" for part in ("TRAIN", "TEST"))
        return (train, test) if train.is_file() and test.is_file() else None

    @classmethod
    def available(cls) -> bool:
        return cls.files() is not None

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        from transferkit.data.series import series_dataset
        from transferkit.data.ts_format import read_ts

        self.check_domain(domain)
        files = self.files()
        if files is None:
            raise DataError(f"The built-in dataset '{self.name}' reads {self.folder}_TRAIN.ts and "
                            f"{self.folder}_TEST.ts from aeon's bundled data, which is not installed "
                            f"here. Install it: {AEON_HINT}.")
        out = []
        for path, prefix in zip(files, ("train", "test"), strict=True):
            ts = read_ts(path)
            ds = series_dataset(ts.series, ts.labels or [], self.name, f"'{path}'", list(self.classes),
                                meta={"source": self.source, "kind": "builtin", "file": str(path)})
            ds.ids = [f"{self.name}-{prefix}[{i}]" for i in range(len(ds))]
            out.append(ds)
        # some TEST files are sorted by class; a fixed shuffle lets --max-test N take a mix
        order = np.random.default_rng(0).permutation(len(out[1]))
        return out[0], out[1].subset(order, split="all")
