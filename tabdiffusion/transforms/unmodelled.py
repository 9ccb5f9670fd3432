"""Columns that are not learned: constants are repeated, identifiers are generated fresh so no real ID leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .categorical import restore_dtype, to_json_value


class ConstantColumn:
    """A column with one value everywhere (or all missing); it is reproduced as is."""

    def __init__(self, name: str, dtype: str) -> None:
        self.name, self.dtype = name, dtype

    def fit(self, series: pd.Series) -> "ConstantColumn":
        self.value_ = to_json_value(series.iloc[0]) if len(series) else None
        return self

    def generate(self, n: int, rng: np.random.Generator, first_row: int = 0) -> pd.Series:
        """n copies of the value (rng and first_row are IdColumn's interface)."""
        return restore_dtype([self.value_] * n, self.dtype, self.name)

    def state(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "value": self.value_}

    @classmethod
    def from_state(cls, state: dict) -> "ConstantColumn":
        column = cls(state["name"], state["dtype"])
        column.value_ = state["value"]
        return column


class IdColumn:
    """A unique-per-row key: integers continue past the largest real ID, strings are random 'syn-' tokens.

    Every generated row gets a fresh key, also where the real column had missing keys.
    """

    def __init__(self, name: str, dtype: str) -> None:
        self.name, self.dtype = name, dtype

    def fit(self, series: pd.Series) -> "IdColumn":
        # Integer keys, also held as floats (a CSV integer column with a missing entry), continue past the largest.
        self.is_integer_ = bool(pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype))
        self.start_ = int(series.max()) + 1 if self.is_integer_ else 0
        return self

    def generate(self, n: int, rng: np.random.Generator, first_row: int = 0) -> pd.Series:
        """n distinct fresh values; integers are shuffled so row order carries no information. first_row: rows
        generated before this chunk of one sample (integers continue after theirs, so chunks never repeat a key)."""
        if self.is_integer_:
            return pd.Series(self.start_ + first_row + rng.permutation(n), name=self.name).astype(self.dtype)
        # 64 random bits per token: collisions are negligible and checked anyway.
        tokens = [f"syn-{v:016x}" for v in rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)]
        if len(set(tokens)) < n:
            return self.generate(n, rng)
        return restore_dtype(tokens, self.dtype, self.name)

    def state(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "is_integer": self.is_integer_, "start": self.start_}

    @classmethod
    def from_state(cls, state: dict) -> "IdColumn":
        column = cls(state["name"], state["dtype"])
        column.is_integer_, column.start_ = state["is_integer"], state["start"]
        return column
