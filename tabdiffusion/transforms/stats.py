"""Exact column statistics of a table read in parts (record batches), merged part by part.

This is what the table encoder learns from where the table is not in memory (streaming.py): the row count, every
column's missing count, a categorical column's count of every value (so no level is lost however rare), and a
numeric, integer or datetime column's NumericSummary (range, the extreme values the protected range reads, the
counts of at most SNAP_MAX_VALUES distinct values, decimals, resolution). Merging is exact: the statistics of a
table do not depend on how it was split. Counting a column's values stops (and the column is marked) beyond
`max_levels` distinct values, so memory stays bounded by the settings, not by the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import SchemaError
from .categorical import CategoricalColumn, merge_counts
from .numeric import SNAP_MAX_VALUES, IntSummary, NumericSummary, extreme_rows


def dtype_kind(dtype: object) -> str:
    """A column's kind from its dtype alone: boolean, integer, numeric, datetime, else categorical."""
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "categorical"


def summarised_kind(dtype: object) -> str | None:
    """How a column of `dtype` is summarised as numbers ("integer", "numeric", "datetime"), or None (counted)."""
    kind = dtype_kind(dtype)
    return kind if kind in ("integer", "numeric", "datetime") else None


@dataclass
class ColumnStats:
    """One column's statistics so far: missing entries, value counts (None where not counted or `overflowed`: more
    distinct values than the cap) and the numeric summary (None for columns that are not numbers)."""

    missing: int = 0
    counts: pd.Series | None = None
    overflowed: bool = False
    numeric: NumericSummary | None = None


class TableStats:
    """The statistics of a table, added to one record batch (a DataFrame with the table's columns) at a time.

    `count` names columns whose values are counted even though they are numbers (the target, columns declared
    categorical or boolean); text, boolean and category columns are always counted. `max_levels` caps the distinct
    values counted per column; `protect_rows` says how many extreme values the protected range needs.
    """

    def __init__(self, count: set[str], max_levels: int, protect_rows: int) -> None:
        self.count_always, self.max_levels, self.keep = set(count), max_levels, extreme_rows(protect_rows)
        self.rows = 0
        self.columns: dict[str, ColumnStats] = {}

    def add(self, batch: pd.DataFrame) -> None:
        """Merge the statistics of one batch."""
        self.rows += len(batch)
        for name in batch.columns:
            series = batch[name]
            stats = self.columns.setdefault(name, ColumnStats())
            stats.missing += int(series.isna().sum())
            kind = summarised_kind(series.dtype)
            if kind is not None:
                ints = IntSummary.of(series, self.keep) if kind == "integer" else None
                part = NumericSummary.of(series, kind, self.keep, 0, ints,
                                         count=stats.numeric is None or stats.numeric.counts is not None)
                # batches of integers and batches with missing values (read as floats) merge into a float column's
                # summary, as the whole table reads: NumericSummary.merge keeps integers only where both parts have them
                stats.numeric = part if stats.numeric is None else stats.numeric.merge(part)
            if (kind is None or name in self.count_always) and not stats.overflowed:
                part_counts = CategoricalColumn.count(series)
                stats.counts = part_counts if stats.counts is None else merge_counts(stats.counts, part_counts)
                if len(stats.counts) > self.max_levels:
                    stats.counts, stats.overflowed = None, True

    def counts(self, name: str) -> pd.Series:
        """The column's count of every value (first appearance first); a SchemaError where there were too many."""
        stats = self.columns[name]
        if stats.counts is None:
            raise SchemaError(
                f"Column {name!r} has more than {self.max_levels} distinct values, too many to count while streaming. "
                f"Declare it an identifier (column_types={{{name!r}: 'id'}}), or raise max_memory_rows."
                if stats.overflowed else f"Column {name!r} was not counted; declare its kind with column_types=.")
        return stats.counts

    def numeric(self, name: str) -> NumericSummary | None:
        """The column's numeric summary, or None where it does not hold numbers."""
        return self.columns[name].numeric

    def missing(self, name: str) -> int:
        """The column's missing entries."""
        return self.columns[name].missing

    def distinct(self, name: str) -> int:
        """The column's distinct values, missing counted as one (as nunique(dropna=False)); a column with more than
        SNAP_MAX_VALUES distinct numbers, or more than max_levels counted values, gives a number above those."""
        stats = self.columns[name]
        if stats.counts is not None:
            return len(stats.counts)
        if stats.numeric is not None and stats.numeric.counts is not None:
            return len(stats.numeric.counts) + (stats.missing > 0)
        return (self.max_levels if stats.overflowed else SNAP_MAX_VALUES) + 1

    def id_bounds(self, name: str) -> tuple[int, int] | None:
        """The smallest and largest key of an integer (or float-held integer) key column; None without one."""
        summary = self.columns[name].numeric
        if summary is None or not summary.rows:
            return None
        if summary.ints is not None:
            return summary.ints.low, summary.ints.high
        return int(summary.low), int(summary.high)
