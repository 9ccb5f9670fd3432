"""Membership inference by density ratio: DOMIAS (van Breugel et al., AISTATS 2023), with a bootstrap interval.

A generator that memorises puts more synthetic density on its training rows than the population has there. The
attacker holds the synthetic table and real rows from the same population (the reference: half of the holdout)
and scores a candidate row x by log p_syn(x) - log p_ref(x); training rows (members) should score higher than
unseen real rows (non-members: the other half of the holdout). The densities are nearest-neighbour estimates in the
DCR embedding, p(x) proportional to 1 / (n r(x)^d) with r the distance to the nearest row; for ranking the
candidates the score reduces to log r_ref(x) - log r_syn(x). A distance-based attack asks "is x close to a
synthetic row?"; this one asks "closer than the population's own density explains?", which finds memorised
outliers that a plain distance threshold misses. (A Gaussian kernel density, the authors' KDE variant, is too
smooth to see jittered copies that the distance attack and this one find; docs/experiments.md, "Privacy attacks".)
The score is the ROC AUC of members against non-members with a percentile bootstrap interval over the candidates;
0.5 is no attack.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from ..neighbours import nearest

DOMIAS_NEIGHBOURS = 1  # the nearest row: more neighbours smooth copies away (experiments.md, "Privacy attacks")
BOOTSTRAP = 200
INTERVAL = 0.95


def _bootstrap_auc(labels: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """The INTERVAL percentile bootstrap interval of the AUC, resampling members and non-members separately."""
    members, others = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    aucs = []
    for _ in range(BOOTSTRAP):
        rows = np.r_[rng.choice(members, len(members)), rng.choice(others, len(others))]
        aucs.append(roc_auc_score(labels[rows], scores[rows]))
    tail = (1 - INTERVAL) / 2
    return float(np.quantile(aucs, tail)), float(np.quantile(aucs, 1 - tail))


def _log_radius(query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """log of each query row's distance to its DOMIAS_NEIGHBOURS-th nearest row of `rows` (floored above 0)."""
    distances, _ = nearest(query, rows, DOMIAS_NEIGHBOURS)
    return np.log(np.maximum(distances[:, -1], 1e-12))


def domias(synthetic: np.ndarray, members: np.ndarray, non_members: np.ndarray, reference: np.ndarray,
           rng: np.random.Generator) -> tuple[float, float, float]:
    """DOMIAS AUC of `members` against `non_members` (embedded rows) and its bootstrap interval (low, high)."""
    candidates = np.vstack([members, non_members])
    labels = np.r_[np.ones(len(members)), np.zeros(len(non_members))]
    score = _log_radius(candidates, reference) - _log_radius(candidates, synthetic)
    low, high = _bootstrap_auc(labels, score, rng)
    return float(roc_auc_score(labels, score)), low, high
