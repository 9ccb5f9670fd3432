"""TabDDPM's distance embedding (min-max numerics, one-hot/sqrt(2) categoricals) and exact nearest neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._data import Prepared

_OTHER = "\x00other"
_MISSING = "\x00missing"
# Floats of a query chunk times reference rows held at once by the nearest-neighbour search.
_CHUNK_CELLS = 4_000_000


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


def _squared_distances(query: np.ndarray, reference: np.ndarray, ref_norms: np.ndarray) -> np.ndarray:
    """Squared L2 distances by the dot-product identity (may carry rounding error of ~1e-12)."""
    q_norms = np.einsum("ij,ij->i", query, query)
    d2 = q_norms[:, None] + ref_norms[None, :] - 2.0 * query @ reference.T
    return np.maximum(d2, 0.0)


def nearest(query: np.ndarray, reference: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the k nearest reference rows of each query row, sorted ascending, exact."""
    k = min(k, len(reference))
    ref_norms = np.einsum("ij,ij->i", reference, reference)
    chunk = max(1, min(2048, _CHUNK_CELLS // max(1, len(reference))))
    dist = np.empty((len(query), k))
    index = np.empty((len(query), k), dtype=np.int64)
    # Candidates beyond k absorb rounding of the dot-product identity before exact re-ranking.
    m = min(len(reference), k + 4)
    for start in range(0, len(query), chunk):
        q = query[start : start + chunk]
        d2 = _squared_distances(q, reference, ref_norms)
        cand = np.argpartition(d2, m - 1, axis=1)[:, :m] if m < len(reference) else np.tile(np.arange(m), (len(q), 1))
        exact = np.sqrt(((q[:, None, :] - reference[cand]) ** 2).sum(axis=2))
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        dist[start : start + len(q)] = np.take_along_axis(exact, order, axis=1)
        index[start : start + len(q)] = np.take_along_axis(cand, order, axis=1)
    return dist, index


def within_any_ball(query: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Boolean per query row: does it lie inside the ball of radius radii[j] around some centres[j]."""
    ref_norms = np.einsum("ij,ij->i", centres, centres)
    chunk = max(1, min(2048, _CHUNK_CELLS // max(1, len(centres))))
    out = np.empty(len(query), dtype=bool)
    r2 = radii**2 * (1 + 1e-9) + 1e-12
    for start in range(0, len(query), chunk):
        d2 = _squared_distances(query[start : start + chunk], centres, ref_norms)
        out[start : start + chunk] = (d2 <= r2[None, :]).any(axis=1)
    return out
