"""Categorical, boolean and constant columns as integer codes, with missing as its own code and rare levels pooled."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

MISSING = None  # the category that stands for a missing value (JSON null)
RARE = "__tabdiffusion_rare__"  # the pooled category; decoded by drawing a pooled value by its training frequency


def to_json_value(value: object) -> object:
    """A category value as a plain JSON scalar (numpy scalars unwrapped, NaN-like values as None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def restore_dtype(values: list | np.ndarray, dtype: str, name: str, categories: list | None = None, ordered: bool = False) -> pd.Series:
    """A Series of Python scalars (None = missing) cast back to the original pandas dtype."""
    series = pd.Series(values, dtype=object, name=name)
    if dtype == "category":
        return series.astype(pd.CategoricalDtype(categories=categories, ordered=ordered))
    if series.isna().any() and dtype == "bool":
        dtype = "boolean"
    elif series.isna().any() and pd.api.types.is_integer_dtype(dtype) and dtype[0] not in "IU":
        dtype = dtype.replace("uint", "UInt").replace("int", "Int")  # numpy ints cannot hold missing values
    try:
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series


class CategoricalColumn:
    """Reversible integer coding of one column; at most `max_categories` levels are modelled."""

    def __init__(self, name: str, dtype: str, max_categories: int | None = None) -> None:
        self.name, self.dtype, self.max_categories = name, dtype, max_categories

    def fit(self, series: pd.Series) -> "CategoricalColumn":
        """Learn the levels by frequency; levels beyond the cap are pooled into one rare level."""
        values = series.map(to_json_value).astype(object)
        counts = values.value_counts(dropna=False, sort=True)
        levels = [to_json_value(v) for v in counts.index]
        frequencies = counts.to_numpy(dtype="float64")
        self.rare_values_, self.rare_weights_ = [], []
        if self.max_categories is not None and len(levels) > self.max_categories:
            keep = self.max_categories - 1
            self.rare_values_ = levels[keep:]
            self.rare_weights_ = (frequencies[keep:] / frequencies[keep:].sum()).tolist()
            warnings.warn(
                f"Column {self.name!r} has {len(levels)} distinct values; the {keep} most frequent are modelled and "
                f"the other {len(levels) - keep} are drawn from their training frequencies. Raise max_categories to "
                "model more.",
                stacklevel=3,
            )
            levels = levels[:keep] + [RARE]
        self.levels_ = levels
        self.ordered_ = bool(getattr(series.dtype, "ordered", False))
        self.dtype_categories_ = (
            [to_json_value(c) for c in series.dtype.categories] if isinstance(series.dtype, pd.CategoricalDtype) else None
        )
        return self

    @property
    def n_levels(self) -> int:
        return len(self.levels_)

    def encode(self, series: pd.Series) -> np.ndarray:
        """Codes in [0, n_levels); values not among the levels map to the rare level; (n,) int64."""
        index = {level: code for code, level in enumerate(self.levels_)}
        rare = index.get(RARE, -1)
        codes = np.fromiter((index.get(to_json_value(v), rare) for v in series), dtype=np.int64, count=len(series))
        if (codes < 0).any():
            bad = series[codes < 0].iloc[0]
            raise ValueError(f"Column {self.name!r}: value {bad!r} was not seen when fitting.")
        return codes

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Values for codes, drawing pooled rare values by frequency, in the original dtype."""
        levels = np.array(self.levels_ + [None], dtype=object)[:-1]
        values = levels[codes]
        is_rare = values == RARE
        if is_rare.any():
            values[is_rare] = np.array(self.rare_values_ + [None], dtype=object)[:-1][
                rng.choice(len(self.rare_values_), size=int(is_rare.sum()), p=self.rare_weights_)
            ]
        return restore_dtype(values, self.dtype, self.name, self.dtype_categories_, self.ordered_)

    def frequencies(self, series: pd.Series) -> np.ndarray:
        """Empirical level frequencies of `series`; (n_levels,)."""
        return np.bincount(self.encode(series), minlength=self.n_levels) / len(series)

    def state(self) -> dict:
        """JSON-serialisable learned state."""
        return {
            "name": self.name, "dtype": self.dtype, "max_categories": self.max_categories, "levels": self.levels_,
            "rare_values": self.rare_values_, "rare_weights": self.rare_weights_, "ordered": self.ordered_,
            "dtype_categories": self.dtype_categories_,
        }

    @classmethod
    def from_state(cls, state: dict) -> "CategoricalColumn":
        column = cls(state["name"], state["dtype"], state["max_categories"])
        column.levels_, column.rare_values_, column.rare_weights_ = state["levels"], state["rare_values"], state["rare_weights"]
        column.ordered_, column.dtype_categories_ = state["ordered"], state["dtype_categories"]
        return column
