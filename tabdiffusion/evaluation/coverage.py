"""Coverage: k-NN precision and recall (Kynkäänniemi et al. 2019) in TabDDPM's distance embedding."""

from __future__ import annotations

import numpy as np

from ..neighbours import nearest, within_any_ball
from ._data import Prepared, subsample
from .embedding import Embedder
from .limits import Limits
from .records import Coverage


def _radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest other point of the same set."""
    k = min(k, len(points) - 1)
    if k < 1:
        return np.zeros(len(points))
    dist, _ = nearest(points, points, k + 1)  # column 0 is the point itself (distance 0)
    return dist[:, k]


def coverage(prep: Prepared, embedder: Embedder, limits: Limits,
             rng: np.random.Generator) -> tuple[dict[str, float], Coverage]:
    """Precision: share of synthetic rows inside some real row's k-NN ball; recall: the converse."""
    real_rows = subsample(len(prep.real), limits.max_rows_neighbors, rng)
    syn_rows = subsample(len(prep.synthetic), limits.max_rows_neighbors, rng)
    real = embedder.transform(prep.real.iloc[real_rows])
    syn = embedder.transform(prep.synthetic.iloc[syn_rows])
    precision = float(within_any_ball(syn, real, _radii(real, limits.knn_k)).mean())
    recall = float(within_any_ball(real, syn, _radii(syn, limits.knn_k)).mean())
    sampled = {"real": [len(prep.real), len(real_rows)], "synthetic": [len(prep.synthetic), len(syn_rows)]}
    return {"coverage.precision": precision, "coverage.recall": recall}, Coverage(k=limits.knn_k, subsampled=sampled)
