"""Numeric, integer and datetime columns as floats, and back with the dtype, range and rounding a user expects."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .protection import inner_slices, round_outward

# Float columns are rounded to the fewest decimals (up to this many) that reproduce every training value.
MAX_DECIMALS = 6
# A value "has d decimals" when rounding it to d decimals moves it by at most this many units of its dtype's
# precision, relative to the value itself (so tiny values are not taken for zeros, nor full-precision ones for short).
DECIMALS_TOLERANCE_EPS = 4
# TabDDPM rounds numeric columns with at most this many distinct values to the nearest value seen in training.
SNAP_MAX_VALUES = 32
# float64 holds every integer up to this exactly; integer columns beyond it are modelled as offsets from their minimum.
EXACT_FLOAT_INTEGER = 2**53
_MICROSECONDS = 1_000_000


def _epsilon(dtype: str) -> float:
    """The machine epsilon of a float dtype (numpy or pandas nullable); float64's for any other dtype."""
    try:
        pandas_dtype = pd.api.types.pandas_dtype(dtype)
        base = np.dtype(getattr(pandas_dtype, "numpy_dtype", pandas_dtype))
    except TypeError:
        base = np.dtype("float64")
    return float(np.finfo(base if base.kind == "f" else np.float64).eps)


def _wall_clock(series: pd.Series) -> pd.Series:
    """Datetimes (or an object column of pd.Timestamp) as naive local time: a time-zone-aware column keeps the clock
    time of its own zone, so a day's midnight is a multiple of a day whatever the UTC offset or daylight saving."""
    values = series if pd.api.types.is_datetime64_any_dtype(series.dtype) else pd.to_datetime(series)
    return values.dt.tz_localize(None) if values.dt.tz is not None else values


def _seconds(values: pd.Series) -> np.ndarray:
    """Naive datetimes -> float seconds since 1970 with NaN for missing, in microsecond integers first so that dates
    beyond pandas' nanosecond range (9999-12-31) convert too; (n,)."""
    micros = values.dt.as_unit("us").to_numpy().view("int64")
    seconds = (micros // _MICROSECONDS).astype(np.float64) + (micros % _MICROSECONDS) / _MICROSECONDS
    return np.where(values.isna().to_numpy(), np.nan, seconds)


def _datetimes(seconds: np.ndarray, missing: np.ndarray) -> pd.Series:
    """Float seconds since 1970 -> naive datetime64[us] (NaT where missing), also beyond the nanosecond range."""
    seconds = np.where(missing, 0.0, seconds)
    whole = np.floor(seconds)
    micros = whole.astype(np.int64) * _MICROSECONDS + np.round((seconds - whole) * _MICROSECONDS).astype(np.int64)
    stamps = micros.view("datetime64[us]").copy()
    stamps[missing] = np.datetime64("NaT")
    return pd.Series(stamps)


def _int_base(dtype: object) -> np.dtype | None:
    """int64 or uint64 behind a 64-bit integer dtype (numpy or pandas nullable), else None."""
    base = np.dtype(getattr(dtype, "numpy_dtype", dtype)) if pd.api.types.is_integer_dtype(dtype) else None
    return base if base is not None and base.itemsize == 8 else None


def _to_float(series: pd.Series, kind: str, offset: int = 0) -> np.ndarray:
    """A numeric, integer or datetime column's values as float64 with NaN for missing (integers as offsets from
    `offset` where it is not 0); (n,)."""
    if kind == "datetime":
        return _seconds(_wall_clock(series))
    numbers = pd.to_numeric(series, errors="coerce")
    base = _int_base(numbers.dtype)
    if offset and base is not None:
        ints = numbers.to_numpy(dtype=base, na_value=0).view(np.uint64)
        offsets = (ints - np.uint64(offset % 2**64)).astype(np.float64)  # modulo 2**64: exact for v >= offset
        return np.where(numbers.isna().to_numpy(), np.nan, offsets)
    return numbers.to_numpy(dtype="float64", na_value=np.nan)


def extreme_rows(protect_rows: int) -> int:
    """How many of a column's smallest (and largest) values the inner range of protect_rows reads (inner_slices)."""
    return max(2 * protect_rows - 1, 1)


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """The k smallest of `values`, sorted (all of them where there are fewer)."""
    return np.sort(values if len(values) <= k else np.partition(values, k - 1)[:k])


def _largest(values: np.ndarray, k: int) -> np.ndarray:
    """The k largest of `values`, sorted ascending (all of them where there are fewer)."""
    return np.sort(values if len(values) <= k else np.partition(values, len(values) - k)[-k:])


@dataclass(frozen=True)
class IntSummary:
    """The exact integers of a 64-bit integer column: its range and its `keep` smallest and largest values (for the
    protected range), as Python integers; `base` names the numpy dtype (int64 or uint64)."""

    base: str
    n: int
    low: int
    high: int
    lowest: tuple[int, ...]
    highest: tuple[int, ...]
    keep: int

    @classmethod
    def of(cls, series: pd.Series, keep: int) -> "IntSummary | None":
        """The summary of one part of a column; None unless its values are 64-bit integers."""
        numbers = pd.to_numeric(series, errors="coerce").dropna()
        base = _int_base(numbers.dtype)
        if base is None:
            return None
        values = numbers.to_numpy(dtype=base)
        if not len(values):
            return cls(base.name, 0, 0, 0, (), (), keep)
        return cls(base.name, len(values), int(values.min()), int(values.max()), tuple(_smallest(values, keep).tolist()),
                   tuple(_largest(values, keep).tolist()), keep)

    def merge(self, other: "IntSummary") -> "IntSummary":
        """The summary of both parts together."""
        if not other.n or not self.n:
            return self if not other.n else other
        return IntSummary(self.base, self.n + other.n, min(self.low, other.low), max(self.high, other.high),
                          tuple(sorted(self.lowest + other.lowest)[:self.keep]),
                          tuple(sorted(self.highest + other.highest)[-self.keep:]), self.keep)

    def inner(self, rows: int) -> tuple[list[int], list[int]]:
        """The integers that inner_slices picks for `rows` from the whole column (n values)."""
        low, high = inner_slices(self.n, rows)
        shift = self.n - len(self.highest)  # highest holds the column's sorted values from position shift on
        return list(self.lowest[low]), list(self.highest[high.start - shift : high.stop - shift])


@dataclass(frozen=True)
class NumericSummary:
    """What NumericColumn.fit learns from, for one column or part of one, as exact statistics that merge over parts
    (record batches of a table read in a stream): observed count, missingness, range, the `keep` smallest and largest
    values (the protected inner range), each distinct value's count while there are at most SNAP_MAX_VALUES, which
    decimals every value has, the datetime resolution and kind of values, and the 64-bit integers where there are."""

    rows: int
    missing: bool
    low: float
    high: float
    lowest: np.ndarray
    highest: np.ndarray
    counts: dict[float, int] | None
    decimals_ok: tuple[bool, ...]
    days: bool
    seconds: bool
    plain_dates: bool
    tz: str | None
    ints: IntSummary | None
    keep: int  # the extreme values kept on either side (extreme_rows of the column's protect_rows)

    @classmethod
    def of(cls, series: pd.Series, kind: str, keep: int, offset: int = 0, ints: IntSummary | None = None,
           dtype: str | None = None, count: bool = True) -> "NumericSummary":
        """The summary of `series` (one part of a column of `kind` and `dtype`, default the series'), its values as
        floats from `offset`; count=False skips the distinct values' counts (a column known to have too many)."""
        values = _to_float(series, kind, offset)
        observed = values[~np.isnan(values)]
        counts = None
        if count:
            distinct, repeats = np.unique(observed, return_counts=True)
            counts = dict(zip(distinct.tolist(), repeats.tolist())) if len(distinct) <= SNAP_MAX_VALUES else None
        tolerance = DECIMALS_TOLERANCE_EPS * _epsilon(dtype or str(series.dtype)) * np.abs(observed)
        decimals_ok = tuple(bool(np.all(np.abs(np.round(observed, d) - observed) <= tolerance))
                            for d in range(MAX_DECIMALS + 1)) if kind == "numeric" else (True,) * (MAX_DECIMALS + 1)
        plain_dates, tz = True, None
        if kind == "datetime":
            plain_dates = series.dtype == object and bool(series.dropna().map(
                lambda v: isinstance(v, datetime.date) and not isinstance(v, datetime.datetime)).all())
            zone = (series if pd.api.types.is_datetime64_any_dtype(series.dtype) else pd.to_datetime(series)).dt.tz
            tz = None if zone is None else str(zone)
        low, high = (float(observed.min()), float(observed.max())) if len(observed) else (np.inf, -np.inf)
        days, seconds = bool(np.all(np.mod(observed, 86400) == 0)), bool(np.all(np.mod(observed, 1) == 0))
        return cls(len(observed), bool(np.isnan(values).any()), low, high, _smallest(observed, keep),
                   _largest(observed, keep), counts, decimals_ok, days, seconds, plain_dates, tz, ints, keep)

    def merge(self, other: "NumericSummary") -> "NumericSummary":
        """The summary of both parts together (exact: nothing here depends on how the column was split)."""
        keep = max(self.keep, other.keep)
        counts = None
        if self.counts is not None and other.counts is not None:
            counts = dict(self.counts)
            for value, n in other.counts.items():
                counts[value] = counts.get(value, 0) + n
            counts = counts if len(counts) <= SNAP_MAX_VALUES else None
        ints = self.ints.merge(other.ints) if self.ints is not None and other.ints is not None else None
        return NumericSummary(
            self.rows + other.rows, self.missing or other.missing, min(self.low, other.low), max(self.high, other.high),
            _smallest(np.concatenate([self.lowest, other.lowest]), keep),
            _largest(np.concatenate([self.highest, other.highest]), keep), counts,
            tuple(a and b for a, b in zip(self.decimals_ok, other.decimals_ok)), self.days and other.days,
            self.seconds and other.seconds, self.plain_dates and other.plain_dates, self.tz if self.rows else other.tz,
            ints, keep)

    def resolution(self) -> float | None:
        """The coarsest of day / second that all observed timestamps respect, or None for sub-second data."""
        return 86400.0 if self.days else 1.0 if self.seconds else None

    def decimals(self) -> int | None:
        """The fewest decimals d <= MAX_DECIMALS that every value has (as _decimals), or None."""
        return next((d for d, ok in enumerate(self.decimals_ok) if ok), None)

    def inner_range(self, rows: int) -> tuple[float, float]:
        """The means of the order statistics that inner_slices picks for `rows` from the whole column (inner_range)."""
        low, high = inner_slices(self.rows, rows)
        shift = self.rows - len(self.highest)
        return float(self.lowest[low].mean()), float(self.highest[high.start - shift : high.stop - shift].mean())


class NumericColumn:
    """Reversible float view of a numeric, integer or datetime column.

    Datetimes are seconds since 1970 in local clock time (a time-zone-aware column in its own zone); integers beyond
    2**53 are offsets from the column's minimum, computed and restored in integer arithmetic so they stay exact.
    Decoded values are rounded to the column's grid (integers, whole days or seconds, decimals) and then clipped to the
    training range, so they never leave it.
    """

    def __init__(self, name: str, kind: str, dtype: str, protect_rows: int = 0) -> None:
        self.name, self.kind, self.dtype, self.protect_rows = name, kind, dtype, protect_rows
        self.offset_ = 0  # set by fit for integers beyond 2**53

    def to_float(self, series: pd.Series) -> np.ndarray:
        """Values as float64 with NaN for missing; (n,)."""
        return _to_float(series, self.kind, self.offset_)

    def _int_range(self, ints: "IntSummary | None") -> tuple[int, list[int] | None]:
        """The offset (0 unless the values pass 2**53) and the integer range [low, high] of a 64-bit integer column
        (the inner range with protect_rows, in integer arithmetic: means of 64-bit integers would round in float64);
        (0, None) for other columns."""
        if self.kind != "integer" or ints is None or _int_base(pd.api.types.pandas_dtype(self.dtype)) is None:
            return 0, None
        low, high, offset = ints.low, ints.high, ints.low
        if self.protect_rows:
            lower, upper = ints.inner(self.protect_rows)
            low = -(-sum(lower) // len(lower))
            high = max(low, sum(upper) // len(upper))
            offset = max(round_outward(offset, upward=False), int(np.iinfo(np.dtype(ints.base)).min))
        return (offset if max(abs(low), abs(high)) > EXACT_FLOAT_INTEGER else 0), [low, high]

    def summarise(self, series: pd.Series) -> "NumericSummary":
        """What fit learns from, as a NumericSummary of `series` (mergeable with other parts of the same column)."""
        ints = IntSummary.of(series, extreme_rows(self.protect_rows)) if self.kind == "integer" else None
        return NumericSummary.of(series, self.kind, extreme_rows(self.protect_rows), self._int_range(ints)[0], ints,
                                 self.dtype)

    def fit(self, series: pd.Series, summary: "NumericSummary | None" = None) -> "NumericColumn":
        """Learn range, missingness, decimals and (for few distinct values) the values to snap to; with protect_rows,
        the range is the inner one and only values that many rows hold are snapped to (transforms/protection.py).
        `summary` (the whole column's, merged over its parts) replaces what `series` would give: a streamed fit
        passes the exact statistics of a table that is not in memory."""
        summary = self.summarise(series) if summary is None else summary
        self.offset_, self.int_range_ = self._int_range(summary.ints)
        self.min_, self.max_ = summary.low, summary.high
        self.has_missing_ = summary.missing
        self.snap_values_ = sorted(summary.counts) if summary.counts is not None else None
        self.resolution_ = summary.resolution() if self.kind == "datetime" else None
        self.decimals_ = summary.decimals() if self.kind == "numeric" else None
        self.tz_, self.plain_dates_ = None, False
        if self.kind == "datetime":
            # An object column of datetime.date values (no time of day) gives dates back, not Timestamps.
            self.plain_dates_ = self.dtype == "object" and summary.plain_dates  # the column's values all dates
            self.tz_ = summary.tz
        if self.protect_rows:
            self._protect(summary)
        return self

    def _protect(self, summary: "NumericSummary") -> None:
        """Keep no value that fewer than protect_rows rows hold: the range becomes the inner one, on the column's
        rounding grid (rounded inwards), and only common values are snapped to (transforms/protection.py)."""
        if self.snap_values_ is not None:
            common = np.array(sorted(v for v, n in summary.counts.items() if n >= self.protect_rows), np.float64)
            self.snap_values_ = common.tolist() if len(common) >= 2 else None
            if self.snap_values_ is not None:  # snapped values are the range's own ends
                self.min_, self.max_ = float(common[0]), float(common[-1])
                return
        low, high = summary.inner_range(self.protect_rows)
        if self.offset_:
            self.min_, self.max_ = 0.0, float(self.int_range_[1] - self.offset_)
            return
        step = (1.0 if self.kind == "integer" else self.resolution_ if self.resolution_ is not None
                else 10.0 ** -self.decimals_ if self.decimals_ is not None else None)
        if step is not None:
            low, high = np.ceil(low / step - 1e-9) * step, np.floor(high / step + 1e-9) * step
            if self.decimals_ is not None:
                low, high = round(low, self.decimals_), round(high, self.decimals_)
        self.min_, self.max_ = float(low), float(max(low, high))

    def rounded(self, values: np.ndarray, keep_range: bool = True) -> np.ndarray:
        """The float values that from_float puts in the table: snapped, or rounded and then clipped to the training
        range (min and max are on the rounding grid, so clipping after rounding keeps both properties)."""
        values = values.astype("float64")
        if self.snap_values_ is not None and keep_range:
            grid = np.asarray(self.snap_values_)
            idx = np.clip(np.searchsorted(grid, values), 1, max(len(grid) - 1, 1))
            lower, upper = grid[idx - 1], grid[np.minimum(idx, len(grid) - 1)]
            return np.where(np.abs(values - lower) <= np.abs(upper - values), lower, upper)
        if self.kind == "integer":
            values = np.round(values)
        elif self.resolution_ is not None:
            values = np.round(values / self.resolution_) * self.resolution_
        elif self.decimals_ is not None:
            values = np.round(values, self.decimals_)
        return np.clip(values, self.min_, self.max_) if keep_range else values

    def _offset_integers(self, values: np.ndarray, base: np.dtype) -> np.ndarray:
        """Rounded offsets from the minimum -> the integers, added and clipped in integer arithmetic; (n,) of base."""
        steps = np.clip(np.nan_to_num(values), 0.0, self.max_)  # a column beyond 2**53 always keeps its training range
        ints = np.minimum(steps, np.nextafter(2.0**64, 0)).astype(np.uint64) + np.uint64(self.offset_ % 2**64)
        ints = ints.view(base)  # modulo 2**64 throughout, so the two's complement view of an int64 is exact
        low, high = self.int_range_
        return np.clip(ints, base.type(low), base.type(high))

    def from_float(self, values: np.ndarray, missing: np.ndarray | None = None, keep_range: bool = True) -> pd.Series:
        """Round or snap, clip to the training range, set missing entries, and restore the dtype; keep_range=False
        skips the clip and the snap (a column computed from others keeps its identity: transforms/computed.py)."""
        values = self.rounded(values, keep_range)
        missing = np.zeros(len(values), bool) if missing is None else missing
        if self.kind == "datetime":
            series = _datetimes(values, missing).rename(self.name)
            if self.tz_ is not None:  # local clock time back in its zone; a skipped or repeated hour resolved
                series = series.dt.tz_localize(self.tz_, ambiguous=np.ones(len(series), bool), nonexistent="shift_forward")
            if self.plain_dates_:
                return pd.Series([None if m else d for m, d in zip(missing, series.dt.date)], dtype=object, name=self.name)
            return series.astype(self.dtype)
        if self.kind == "integer":
            nullable = self.dtype if self.dtype[0] in "IU" else "Int64"  # pandas nullable integers (Int64, UInt8, ...)
            if self.offset_:  # a 64-bit integer column (fit sets an offset only for those)
                dtype = nullable if missing.any() else self.dtype
                ints = pd.array(self._offset_integers(values, _int_base(pd.api.types.pandas_dtype(dtype))), dtype=dtype)
                if missing.any():
                    ints[missing] = pd.NA
                return pd.Series(ints, name=self.name)
            if missing.any() or self.dtype[0] in "IU":
                return pd.Series(pd.array(np.where(missing, np.nan, values), dtype="Float64"), name=self.name).round().astype(nullable)
            return pd.Series(values, name=self.name).astype(self.dtype)
        return pd.Series(np.where(missing, np.nan, values), name=self.name).astype(self.dtype)

    def state(self) -> dict:
        """JSON-serialisable learned state."""
        return {
            "name": self.name, "kind": self.kind, "dtype": self.dtype, "min": self.min_, "max": self.max_,
            "has_missing": self.has_missing_, "snap_values": self.snap_values_, "resolution": self.resolution_,
            "decimals": self.decimals_, "tz": self.tz_, "plain_dates": self.plain_dates_, "offset": self.offset_, "int_range": self.int_range_,
            "protect_rows": self.protect_rows,
        }

    @classmethod
    def from_state(cls, state: dict) -> "NumericColumn":
        column = cls(state["name"], state["kind"], state["dtype"], state.get("protect_rows", 0))
        column.min_, column.max_, column.has_missing_ = state["min"], state["max"], state["has_missing"]
        column.snap_values_, column.resolution_, column.tz_ = state["snap_values"], state["resolution"], state["tz"]
        column.decimals_, column.offset_, column.int_range_ = state["decimals"], state["offset"], state["int_range"]
        column.plain_dates_ = state["plain_dates"]
        return column
