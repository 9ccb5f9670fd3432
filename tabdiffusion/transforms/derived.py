"""Numeric columns that are a function of a categorical column (education-num of education): derived, not modelled.

A model that learns both columns can break the mapping (a row with education "Bachelors" and education-num 9), and a
detector finds such rows at once: on UCI Adult that pair alone gave the default's rows away more than any other
column (docs/experiments.md, "Derived columns"). Deriving the number from the generated category keeps the mapping
exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .categorical import to_json_value
from .numeric import NumericColumn

MIN_ROWS_PER_LEVEL = 10  # on average: fewer, and a column could be constant within levels by chance


def level_codes(source: pd.Series) -> tuple[np.ndarray, list]:
    """Each row's level index in `source` (missing is a level) and each level's JSON value (None for missing)."""
    codes, uniques = pd.factorize(pd.Series(source, copy=False), use_na_sentinel=False)
    return codes, [to_json_value(u) for u in uniques]


def determines(codes: np.ndarray, n_levels: int, values: pd.Series, n_values: int) -> bool:
    """Whether the levels `codes` (from level_codes) fix `values` (n_values = values.nunique()) in every row."""
    if len(codes) < n_levels * MIN_ROWS_PER_LEVEL or n_values > n_levels:  # more values than levels: a level has two
        return False
    return bool((values.groupby(codes, sort=False).nunique() == 1).all())


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
        codes, self.levels_ = level_codes(source)
        first = pd.Series(self.column.to_float(series)).groupby(codes).first()  # every level has rows: index 0..k-1
        self.values_ = first.to_numpy(dtype=np.float64).tolist()
        return self

    def generate(self, source: pd.Series) -> pd.Series:
        """The column's values for the generated source column (every generated level is a training level)."""
        lookup = dict(zip(self.levels_, self.values_))
        codes, levels = level_codes(source)  # one lookup per level, not per row
        return self.column.from_float(np.array([lookup[level] for level in levels], dtype=np.float64)[codes])

    def state(self) -> dict:
        return {"column": self.column.state(), "source": self.source, "levels": self.levels_, "values": self.values_}

    @classmethod
    def from_state(cls, state: dict) -> "DerivedColumn":
        derived = cls(NumericColumn.from_state(state["column"]), state["source"])
        derived.levels_, derived.values_ = state["levels"], state["values"]
        return derived
