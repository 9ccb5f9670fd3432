"""Numeric, integer and datetime columns as floats, and back with the dtype, range and rounding a user expects."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Float columns are rounded to the fewest decimals (up to this many) that reproduce every training value.
MAX_DECIMALS = 6
# TabDDPM rounds numeric columns with at most this many distinct values to the nearest value seen in training.
SNAP_MAX_VALUES = 32
_SECOND = pd.Timedelta(seconds=1)
_EPOCH = pd.Timestamp(0)


def _datetime_resolution(seconds: np.ndarray) -> float | None:
    """The coarsest of day / second that all observed timestamps respect, or None for sub-second data."""
    if np.all(np.mod(seconds, 86400) == 0):
        return 86400.0
    if np.all(np.mod(seconds, 1) == 0):
        return 1.0
    return None


def _decimals(values: np.ndarray) -> int | None:
    """The fewest decimals d <= MAX_DECIMALS with round(v, d) == v for all values, or None."""
    for d in range(MAX_DECIMALS + 1):
        if np.allclose(np.round(values, d), values, rtol=0, atol=1e-9 * max(1.0, np.abs(values).max(initial=0))):
            return d
    return None


class NumericColumn:
    """Reversible float view of a numeric, integer or datetime column (datetimes as seconds since 1970)."""

    def __init__(self, name: str, kind: str, dtype: str) -> None:
        self.name, self.kind, self.dtype = name, kind, dtype

    def to_float(self, series: pd.Series) -> np.ndarray:
        """Values as float64 with NaN for missing; (n,)."""
        if self.kind == "datetime":
            values = series
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            return ((values - _EPOCH) / _SECOND).to_numpy(dtype="float64", na_value=np.nan)
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)

    def fit(self, series: pd.Series) -> "NumericColumn":
        """Learn range, missingness, decimals and (for few distinct values) the values to snap to."""
        values = self.to_float(series)
        observed = values[~np.isnan(values)]
        self.min_, self.max_ = float(observed.min()), float(observed.max())
        self.has_missing_ = bool(np.isnan(values).any())
        distinct = np.unique(observed)
        self.snap_values_ = distinct.tolist() if len(distinct) <= SNAP_MAX_VALUES else None
        self.resolution_ = _datetime_resolution(observed) if self.kind == "datetime" else None
        self.decimals_ = _decimals(observed) if self.kind == "numeric" else None
        self.tz_ = str(series.dt.tz) if self.kind == "datetime" and series.dt.tz is not None else None
        return self

    def rounded(self, values: np.ndarray, keep_range: bool = True) -> np.ndarray:
        """The float values that from_float puts in the table: clipped to the training range, snapped or rounded."""
        values = np.clip(values.astype("float64"), self.min_, self.max_) if keep_range else values.astype("float64")
        if self.snap_values_ is not None and keep_range:
            grid = np.asarray(self.snap_values_)
            idx = np.clip(np.searchsorted(grid, values), 1, max(len(grid) - 1, 1))
            lower, upper = grid[idx - 1], grid[np.minimum(idx, len(grid) - 1)]
            return np.where(np.abs(values - lower) <= np.abs(upper - values), lower, upper)
        if self.kind == "integer":
            return np.round(values)
        if self.resolution_ is not None:
            return np.round(values / self.resolution_) * self.resolution_
        if self.decimals_ is not None:
            return np.round(values, self.decimals_)
        return values

    def from_float(self, values: np.ndarray, missing: np.ndarray | None = None, keep_range: bool = True) -> pd.Series:
        """Clip to the training range, round or snap, set missing entries, and restore the dtype; keep_range=False
        skips the clip and the snap (a column computed from others keeps its identity: transforms/computed.py)."""
        values = self.rounded(values, keep_range)
        missing = np.zeros(len(values), bool) if missing is None else missing
        if self.kind == "datetime":
            stamps = pd.to_datetime(np.where(missing, np.nan, values), unit="s")
            series = pd.Series(stamps, name=self.name)
            if self.tz_ is not None:
                series = series.dt.tz_localize("UTC").dt.tz_convert(self.tz_)
            return series.astype(self.dtype)
        if self.kind == "integer":
            if missing.any() or self.dtype[0] in "IU":  # pandas nullable integers (Int64, UInt8, ...)
                nullable = self.dtype if self.dtype[0] in "IU" else "Int64"
                return pd.Series(pd.array(np.where(missing, np.nan, values), dtype="Float64"), name=self.name).round().astype(nullable)
            return pd.Series(values, name=self.name).astype(self.dtype)
        return pd.Series(np.where(missing, np.nan, values), name=self.name).astype(self.dtype)

    def state(self) -> dict:
        """JSON-serialisable learned state."""
        return {
            "name": self.name, "kind": self.kind, "dtype": self.dtype, "min": self.min_, "max": self.max_,
            "has_missing": self.has_missing_, "snap_values": self.snap_values_, "resolution": self.resolution_,
            "decimals": self.decimals_, "tz": self.tz_,
        }

    @classmethod
    def from_state(cls, state: dict) -> "NumericColumn":
        column = cls(state["name"], state["kind"], state["dtype"])
        column.min_, column.max_, column.has_missing_ = state["min"], state["max"], state["has_missing"]
        column.snap_values_, column.resolution_, column.tz_ = state["snap_values"], state["resolution"], state["tz"]
        column.decimals_ = state["decimals"]
        return column
