"""The schema of a table: which columns are numeric, which categorical.

Recorded when a table is first loaded (and stored in the run directory), so that a later
table -- at predict time, or a target domain -- is checked against it with an error
that names the missing or unexpected columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from transferkit.errors import DataError


@dataclass
class ColumnSchema:
    """One feature column. ``categories`` lists the training values of a categorical.

    ``fill`` is the value a missing cell takes (learned on the training split when missing
    values are imputed: the median of a numeric column, the category ``"missing"``); None
    means a missing cell is an error. ``indicator_of`` marks a column the table does not
    hold but transferkit derives: 1.0 where the named column was missing, else 0.0.
    """

    name: str
    kind: str  # "numeric" | "categorical"
    categories: list[str] = field(default_factory=list)
    fill: float | str | None = None
    indicator_of: str | None = None


@dataclass
class TableSchema:
    """Feature columns in order, and the label column (if any)."""

    columns: list[ColumnSchema]
    label_column: str | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def inputs(self) -> list[str]:
        """The columns a table must hold (derived missing-value indicators excluded)."""
        return [c.name for c in self.columns if c.indicator_of is None]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns], "label_column": self.label_column}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        return cls([ColumnSchema(**c) for c in data["columns"]], data.get("label_column"))

    def check(self, columns: list[str], where: str = "the table") -> None:
        """Raise DataError unless every schema column is present in ``columns``."""
        missing = [c for c in self.inputs if c not in columns]
        if missing:
            extra = [c for c in columns if c not in self.inputs and c != self.label_column]
            raise DataError(
                f"{where} does not match the schema it is checked against: missing columns "
                f"{missing}" + (f", unexpected columns {extra}" if extra else "")
                + f". Expected columns: {self.inputs}."
            )
