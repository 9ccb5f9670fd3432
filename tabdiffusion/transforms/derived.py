"""Numeric columns that are a function of a categorical column (education-num of education): derived, not modelled.

A model that learns both columns can break the mapping (a row with education "Bachelors" and education-num 9), and a
detector finds such rows at once: on UCI Adult that pair alone gave the default's rows away more than any other
column (docs/design.md, "Derived columns"). Deriving the number from the generated category keeps the mapping exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .categorical import to_json_value
from .numeric import NumericColumn

MIN_ROWS_PER_LEVEL = 10  # on average: fewer, and a column could be constant within levels by chance


def determines(source: pd.Series, values: pd.Series) -> bool:
    """Whether `source` (categorical) fixes `values` (numeric, no missing, at least two values) in every row."""
    if values.isna().any() or values.nunique() < 2:
        return False
    per_level = values.groupby(source.astype(object).map(to_json_value).fillna("\0missing"), sort=False).nunique()
    return len(per_level) * MIN_ROWS_PER_LEVEL <= len(values) and bool((per_level == 1).all())


class DerivedColumn:
    """A numeric column read off a categorical column's generated value through the training table's mapping."""

    def __init__(self, column: NumericColumn, source: str) -> None:
        self.column, self.source = column, source

    @property
    def name(self) -> str:
        return self.column.name

    def fit(self, series: pd.Series, source: pd.Series) -> "DerivedColumn":
        """Learn the value of each source level (JSON keys, so the mapping goes into the model file as is)."""
        self.column.fit(series)
        floats = pd.Series(self.column.to_float(series), index=series.index)
        first = floats.groupby(source.astype(object).map(to_json_value).fillna("\0missing"), sort=False).first()
        self.levels_ = [None if level == "\0missing" else level for level in first.index]
        self.values_ = first.to_numpy(dtype=np.float64).tolist()
        return self

    def generate(self, source: pd.Series) -> pd.Series:
        """The column's values for the generated source column (every generated level is a training level)."""
        lookup = dict(zip(self.levels_, self.values_))
        codes, uniques = pd.factorize(pd.Series(source, copy=False), use_na_sentinel=False)  # one lookup per level
        return self.column.from_float(np.array([lookup[to_json_value(u)] for u in uniques], dtype=np.float64)[codes])

    def state(self) -> dict:
        return {"column": self.column.state(), "source": self.source, "levels": self.levels_, "values": self.values_}

    @classmethod
    def from_state(cls, state: dict) -> "DerivedColumn":
        derived = cls(NumericColumn.from_state(state["column"]), state["source"])
        derived.levels_, derived.values_ = state["levels"], state["values"]
        return derived
