"""Value protection: what a model file keeps of a column, so that no value that few rows hold is stored or emitted.

With value protection (the default), the encoder keeps only what at least PROTECT_ROWS training rows share:
- a categorical level held by fewer rows is pooled into one protected level; its values and counts are not kept,
  and it decodes to PROTECTED_TEXT in text columns and to the column's most frequent level in the others;
- a numeric column's range runs from the mean of its 5th to 9th smallest values to the mean of its 5th to 9th largest
  (PROTECT_ROWS of them, from the PROTECT_ROWS-th on; fewer in columns under 40 values), not from its minimum to
  its maximum: generated values are clipped inside the training extremes, and no single extreme moves the bounds;
- the quantile table behind a numeric column's codes stores, at each quantile, the mean of the PROTECT_ROWS
  order statistics around it, never including the PROTECT_ROWS - 1 most extreme values (a value shared by that
  many rows stays itself, so spikes and integer levels keep their ties); a column snapped to its few distinct
  values snaps only to values held by PROTECT_ROWS rows;
- integer keys continue past the largest key rounded up (and below the smallest rounded down), so the first
  generated key does not tell the largest real one;
- the marginal calibration's training quantiles are means of PROTECT_ROWS training codes (calibration.py).
A class target's levels are kept: they are what conditioning asks for. docs/privacy.md lists what a model file holds.
"""

from __future__ import annotations

import numpy as np

PROTECT_ROWS = 5  # a value held by fewer training rows is never stored in a model file nor emitted
PROTECTED_TEXT = "_RARE_"  # what a protected categorical level decodes to in a text column


def inner_slices(n: int, rows: int = PROTECT_ROWS) -> tuple[slice, slice]:
    """Which of n sorted values set the inner range: the `rows` order statistics from the rows-th smallest up, and
    from the rows-th largest down, so the rows - 1 most extreme values on either side cannot move a bound (fewer
    where the column is short: at most a quarter of it, at least one value)."""
    k = max(1, min(rows, n // 4))
    return slice(k - 1, 2 * k - 1), slice(n - 2 * k + 1, n - k + 1)


def inner_range(values: np.ndarray, rows: int = PROTECT_ROWS) -> tuple[float, float]:
    """The means of `values`' order statistics that inner_slices picks (non-missing values, at least one)."""
    ordered = np.sort(values.astype(np.float64))
    low, high = inner_slices(len(ordered), rows)
    return float(ordered[low].mean()), float(ordered[high].mean())


def common_values(values: np.ndarray, rows: int = PROTECT_ROWS) -> np.ndarray:
    """The distinct values of `values` held by at least `rows` entries, sorted."""
    distinct, counts = np.unique(values, return_counts=True)
    return distinct[counts >= rows]


def window_quantiles(values: np.ndarray, references: np.ndarray, rows: int = PROTECT_ROWS) -> np.ndarray:
    """(len(references),) quantiles of `values` (non-missing) at probabilities `references`, each the mean of the
    `rows` order statistics nearest its rank, leaving out the rows - 1 most extreme values on either side (sliding
    means of sorted values are non-decreasing, so the table stays monotone); a run of at least `rows` tied values
    keeps its value exactly."""
    ordered = np.sort(values.astype(np.float64))
    n = len(ordered)
    k = max(1, min(rows, n))
    sums = np.concatenate([[0.0], np.cumsum(ordered)])
    skip = min(k - 1, (n - k) // 2)  # as in inner_slices, the k - 1 most extreme values on either side are in no window
    start = np.clip(np.round(references * (n - 1) - (k - 1) / 2).astype(np.int64), skip, n - k - skip)
    means = (sums[start + k] - sums[start]) / k
    tied = ordered[start] == ordered[start + k - 1]  # the cumulative sums' rounding must not move a tied value
    return np.maximum.accumulate(np.where(tied, ordered[start], means))


def round_outward(value: int, upward: bool) -> int:
    """An integer key bound rounded away from the keys to two significant digits (at least to a multiple of 10):
    1234 -> 1300 upward, 1200 downward."""
    value = int(value)
    step = 10 ** max(1, len(str(abs(value))) - 2)
    return -(-value // step) * step if upward else (value // step) * step
