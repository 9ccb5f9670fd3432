"""Exact nearest neighbours under L2 distance, in chunks that bound memory: for DCR metrics and the fit's memorisation stop."""

from __future__ import annotations

import numpy as np

# Floats of a query chunk times reference rows held at once by the nearest-neighbour search.
_CHUNK_CELLS = 4_000_000


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
