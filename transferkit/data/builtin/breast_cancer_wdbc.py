"""Wisconsin diagnostic breast cancer (WDBC): 569 tumours, 30 features from cell images."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transferkit.data.builtin._base import BuiltinDataset, builtin
from transferkit.data.builtin._tables import table_builtin
from transferkit.data.dataset import TransferDataset


@builtin
class BreastCancerWDBC(BuiltinDataset):
    """WDBC (Street, Wolberg & Mangasarian 1993) as shipped by scikit-learn."""

    name = "breast-cancer-wdbc"
    description = "Wisconsin diagnostic breast cancer: 30 numeric features, benign/malignant."
    modality = "table"
    size = 569
    # the same class order as breast-cancer-biopsy, so the two domains share a label space
    classes = ["benign", "malignant"]
    source = "scikit-learn (sklearn.datasets.load_breast_cancer)"
    install_hint = "pip install scikit-learn"
    pip_args = ("scikit-learn",)

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        from sklearn.datasets import load_breast_cancer

        self.check_domain(domain)
        bunch = load_breast_cancer()
        frame = pd.DataFrame(bunch.data, columns=list(bunch.feature_names))
        frame["diagnosis"] = np.asarray(bunch.target_names)[bunch.target]
        return table_builtin(type(self), frame, "diagnosis", "wdbc"), None
