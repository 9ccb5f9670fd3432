"""The DCR geometry: rows as vectors whose L2 distances are TabDDPM's distances to the closest record.

Numeric columns are min-max scaled by the training table's range (a missing value takes a fill value, and
optionally a 0/1 missing indicator beside it); each categorical column is one-hot encoded and divided by sqrt(2), so
that two different categories are at distance 1. The privacy metrics (evaluation/embedding.py, from DataFrames) and
the fit's memorisation stop (proximity.py, from model codes) both embed rows here, so they measure one distance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The value of a category's one-hot entry: two different categories of one column are at L2 distance 1.
ONE_HOT = 1.0 / np.sqrt(2.0)


def embed_rows(numeric: np.ndarray, missing: np.ndarray, low: np.ndarray, span: np.ndarray, fill: np.ndarray,
               codes: np.ndarray, sizes: Sequence[int], indicator: np.ndarray | None = None,
               dtype: type = np.float64) -> np.ndarray:
    """Rows (`numeric` values with their `missing` mask, and category `codes` out of `sizes`) as DCR vectors.

    Column by column: each numeric column scaled to (value - low) / span, missing values set to `fill` first, then its
    0/1 missing indicator where `indicator` says so; then one one-hot block per categorical column. `dtype` is the
    vectors' float type (float32 keeps wide reference tables small)."""
    n = len(codes)
    blocks = []
    if numeric.shape[1]:
        scaled = ((np.where(missing, fill, numeric) - low) / span).astype(dtype)
        if indicator is None or not indicator.any():
            blocks.append(scaled)
        else:
            for j in range(numeric.shape[1]):
                blocks.append(scaled[:, j : j + 1])
                if indicator[j]:
                    blocks.append(missing[:, j : j + 1].astype(dtype))
    for j, size in enumerate(sizes):
        onehot = np.zeros((n, size), dtype)
        onehot[np.arange(n), codes[:, j]] = ONE_HOT
        blocks.append(onehot)
    return np.hstack(blocks) if blocks else np.zeros((n, 0), dtype)
