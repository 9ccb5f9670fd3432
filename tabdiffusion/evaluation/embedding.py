"""TabDDPM's distance embedding: min-max numerics, one-hot/sqrt(2) categoricals (neighbours.py finds the nearest rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._data import Prepared

_OTHER = "\x00other"
_MISSING = "\x00missing"


@dataclass
class Embedder:
    """Maps canonical rows to vectors whose L2 distances are TabDDPM's DCR distances."""

    numeric: list[str]
    low: dict[str, float]
    span: dict[str, float]
    fill: dict[str, float]
    indicator: dict[str, bool]
    categorical: list[str]
    categories: dict[str, list[str]]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Float64 matrix, one row per row of `df`."""
        blocks = []
        for name in self.numeric:
            values = df[name].to_numpy(dtype=float)
            missing = np.isnan(values)
            scaled = (np.where(missing, self.fill[name], values) - self.low[name]) / self.span[name]
            blocks.append(scaled[:, None])
            if self.indicator[name]:
                blocks.append(missing[:, None].astype(float))
        for name in self.categorical:
            cats = self.categories[name]
            lookup = {c: i for i, c in enumerate(cats)}
            other, missing_slot = lookup[_OTHER], lookup[_MISSING]
            codes = np.array(
                [missing_slot if not isinstance(v, str) else lookup.get(v, other) for v in df[name].to_numpy()],
                dtype=np.int64,
            )
            onehot = np.zeros((len(df), len(cats)))
            onehot[np.arange(len(df)), codes] = 1.0 / np.sqrt(2.0)
            blocks.append(onehot)
        return np.hstack(blocks) if blocks else np.zeros((len(df), 0))


def fit_embedder(prep: Prepared, max_categories: int) -> Embedder:
    """Scale numerics by the real table's range; keep the real table's most frequent categories."""
    tables = [t for t in (prep.real, prep.synthetic, prep.holdout) if t is not None]
    low, span, fill, indicator, categories = {}, {}, {}, {}, {}
    for name in prep.numeric:
        values = prep.real[name].to_numpy(dtype=float)
        finite = values[~np.isnan(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        low[name], span[name] = lo, (hi - lo) if hi > lo else 1.0
        fill[name] = float(np.median(finite)) if len(finite) else 0.0
        indicator[name] = any(t[name].isna().any() for t in tables)
    for name in prep.categorical:
        top = prep.real[name].dropna().value_counts().index[:max_categories]
        categories[name] = [str(c) for c in top] + [_OTHER, _MISSING]
    return Embedder(prep.numeric, low, span, fill, indicator, prep.categorical, categories)
