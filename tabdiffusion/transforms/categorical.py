"""Categorical, boolean and constant columns as integer codes, with missing as its own code and rare levels pooled."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .protection import PROTECTED_TEXT

MISSING = None  # the category that stands for a missing value (JSON null)
RARE = "__tabdiffusion_rare__"  # the pooled category; decoded by drawing a pooled value by its training frequency
PROTECTED = "__tabdiffusion_protected__"  # levels too rare to keep (transforms/protection.py); decoded as protected_as_


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


def _is_text(dtype: str, levels: list) -> bool:
    """Whether a column holds text: a text-like dtype and text levels."""
    return dtype in ("object", "string", "str", "category") and all(isinstance(v, str) for v in levels if v is not None)


def merge_counts(first: pd.Series, second: pd.Series) -> pd.Series:
    """The counts (CategoricalColumn.count) of two parts of one column together, values in order of first appearance."""
    merged = dict(zip(first.index, first.to_numpy().tolist()))
    for value, n in zip(second.index, second.to_numpy().tolist()):
        merged[value] = merged.get(value, 0) + n
    return pd.Series(list(merged.values()), index=pd.Index(list(merged), dtype=object), dtype="int64")


class CategoricalColumn:
    """Reversible integer coding of one column; at most `max_categories` levels are modelled, and with
    `protect_rows` > 0 levels held by fewer rows are pooled and forgotten (transforms/protection.py)."""

    def __init__(self, name: str, dtype: str, max_categories: int | None = None, protect_rows: int = 0) -> None:
        self.name, self.dtype, self.max_categories, self.protect_rows = name, dtype, max_categories, protect_rows

    @staticmethod
    def count(series: pd.Series) -> pd.Series:
        """Rows per value (JSON values, None for missing) in order of first appearance: what fit learns from, for one
        part of a column; merge_counts adds up the parts."""
        codes, uniques = pd.factorize(pd.Series(series, copy=False), use_na_sentinel=False)
        counts: dict = {}
        for value, n in zip(uniques, np.bincount(codes, minlength=len(uniques)).tolist()):
            key = to_json_value(value)  # NaN, None and NaT are one value (missing)
            counts[key] = counts.get(key, 0) + n
        return pd.Series(list(counts.values()), index=pd.Index(list(counts), dtype=object), dtype="int64")

    def fit(self, series: pd.Series, counts: pd.Series | None = None) -> "CategoricalColumn":
        """Learn the levels by frequency; levels beyond the cap are pooled into one rare level, and levels held by
        fewer than protect_rows rows into one protected level whose values and counts are not kept. `counts` (the
        whole column's, from count and merge_counts) replaces what `series` would give: a streamed fit passes the
        exact counts of a table that is not in memory; `series` then only gives the dtype."""
        counts = (self.count(series) if counts is None else counts).sort_values(ascending=False, kind="stable")
        levels = list(counts.index)
        frequencies = counts.to_numpy(dtype="float64")
        self.protected_as_ = None  # what the protected level decodes to (None: there is no protected level)
        protected = frequencies < self.protect_rows
        if protected.any():
            levels, frequencies = [v for v, p in zip(levels, protected) if not p], frequencies[~protected]
            text = _is_text(self.dtype, levels)
            self.protected_as_ = PROTECTED_TEXT if text or not levels else levels[0]
        self.rare_values_, self.rare_weights_ = [], []
        cap = None if self.max_categories is None else self.max_categories - (self.protected_as_ is not None)
        if cap is not None and len(levels) > max(cap, 1):
            keep = max(cap, 1) - 1
            self.rare_values_ = levels[keep:]
            self.rare_weights_ = (frequencies[keep:] / frequencies[keep:].sum()).tolist()
            warnings.warn(
                f"Column {self.name!r} has {len(levels)} distinct values; the {keep} most frequent are modelled and "
                f"the other {len(levels) - keep} are drawn from their training frequencies. Raise max_categories to "
                "model more.",
                stacklevel=3,
            )
            levels = levels[:keep] + [RARE]
        self.levels_ = levels + [PROTECTED] * (self.protected_as_ is not None)
        self.ordered_ = bool(getattr(series.dtype, "ordered", False))
        self.dtype_categories_ = (
            [to_json_value(c) for c in series.dtype.categories] if isinstance(series.dtype, pd.CategoricalDtype) else None
        )
        if self.dtype_categories_ is not None and self.protected_as_ is not None:  # forget the protected categories
            kept = set(self.levels_) | set(self.rare_values_)
            self.dtype_categories_ = [c for c in self.dtype_categories_ if c in kept] + (
                [PROTECTED_TEXT] if self.protected_as_ == PROTECTED_TEXT and PROTECTED_TEXT not in kept else [])
        return self

    @property
    def n_levels(self) -> int:
        return len(self.levels_)

    def named_codes(self) -> dict:
        """Value -> code for every value a user can name and the model generates as itself: the modelled levels and,
        where rare levels were protected into a placeholder, the placeholder (not the pooled values)."""
        codes = {level: code for code, level in enumerate(self.levels_) if level not in (RARE, PROTECTED)}
        if self.protected_as_ == PROTECTED_TEXT and PROTECTED_TEXT not in codes:
            codes[PROTECTED_TEXT] = self.levels_.index(PROTECTED)
        return codes

    def known_values(self) -> list:
        """Every value the column generates: named_codes' and the values pooled beyond the cap."""
        return list(self.named_codes()) + list(self.rare_values_)

    def encode(self, series: pd.Series) -> np.ndarray:
        """Codes in [0, n_levels); values not among the levels map to the rare level (values pooled beyond the cap)
        or else to the protected level (values too rare to keep); (n,) int64."""
        index = {level: code for code, level in enumerate(self.levels_)}
        rare, protected = index.get(RARE, -1), index.get(PROTECTED, -1)
        pooled = set(self.rare_values_)

        def code(value: object) -> int:
            value = to_json_value(value)
            found = index.get(value)
            if found is not None and value not in (RARE, PROTECTED):
                return found
            return rare if value in pooled or protected < 0 else protected

        # One lookup per distinct value, not per row.
        positions, uniques = pd.factorize(pd.Series(series, copy=False), use_na_sentinel=False)
        codes = np.fromiter((code(v) for v in uniques), dtype=np.int64, count=len(uniques))[positions]
        if (codes < 0).any():
            bad = series[codes < 0].iloc[0]
            raise ValueError(f"Column {self.name!r}: value {bad!r} was not seen when fitting.")
        return codes

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Values for codes, drawing pooled rare values by frequency, in the original dtype."""
        levels = np.array(self.levels_ + [None], dtype=object)[:-1]
        values = levels[codes]
        if self.protected_as_ is not None:
            values[values == PROTECTED] = self.protected_as_
        is_rare = values == RARE
        if is_rare.any():
            values[is_rare] = np.array(self.rare_values_ + [None], dtype=object)[:-1][
                rng.choice(len(self.rare_values_), size=int(is_rare.sum()), p=self.rare_weights_)
            ]
        return restore_dtype(values, self.dtype, self.name, self.dtype_categories_, self.ordered_)

    def frequencies(self, series: pd.Series, counts: pd.Series | None = None) -> np.ndarray:
        """Empirical level frequencies of `series`, or of the column whose `counts` (count, merge_counts) are given;
        (n_levels,)."""
        if counts is None:
            return np.bincount(self.encode(series), minlength=self.n_levels) / len(series)
        codes = self.encode(pd.Series(list(counts.index), dtype=object))
        return np.bincount(codes, weights=counts.to_numpy(np.float64), minlength=self.n_levels) / int(counts.sum())

    def state(self) -> dict:
        """JSON-serialisable learned state."""
        return {
            "name": self.name, "dtype": self.dtype, "max_categories": self.max_categories, "levels": self.levels_,
            "rare_values": self.rare_values_, "rare_weights": self.rare_weights_, "ordered": self.ordered_,
            "dtype_categories": self.dtype_categories_, "protect_rows": self.protect_rows, "protected_as": self.protected_as_,
        }

    @classmethod
    def from_state(cls, state: dict) -> "CategoricalColumn":
        column = cls(state["name"], state["dtype"], state["max_categories"], state.get("protect_rows", 0))
        column.levels_, column.rare_values_, column.rare_weights_ = state["levels"], state["rare_values"], state["rare_weights"]
        column.ordered_, column.dtype_categories_ = state["ordered"], state["dtype_categories"]
        column.protected_as_ = state.get("protected_as")
        return column
