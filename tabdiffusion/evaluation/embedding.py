"""TabDDPM's distance embedding of DataFrame rows: fitted on the real table, computed by dcr.embed_rows (neighbours.py
finds the nearest rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..dcr import embed_rows
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
        numeric = np.zeros((len(df), len(self.numeric)))
        for j, name in enumerate(self.numeric):
            numeric[:, j] = df[name].to_numpy(dtype=float)
        codes = np.zeros((len(df), len(self.categorical)), dtype=np.int64)
        for j, name in enumerate(self.categorical):
            lookup = {c: i for i, c in enumerate(self.categories[name])}
            other, missing_slot = lookup[_OTHER], lookup[_MISSING]
            codes[:, j] = [missing_slot if not isinstance(v, str) else lookup.get(v, other) for v in df[name].to_numpy()]
        return embed_rows(numeric, np.isnan(numeric), self._numeric(self.low), self._numeric(self.span),
                          self._numeric(self.fill), codes, [len(self.categories[name]) for name in self.categorical],
                          indicator=self._numeric(self.indicator).astype(bool))

    def _numeric(self, per_column: dict[str, float] | dict[str, bool]) -> np.ndarray:
        """A per-column setting as an array in the order of `numeric`."""
        return np.array([per_column[name] for name in self.numeric], dtype=float)


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
