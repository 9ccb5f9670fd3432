"""Privacy: distance to closest record (DCR), DCR share, NNDR, exact copies and a distance-based membership attack."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ._data import Prepared, subsample
from .embedding import Embedder, nearest
from .limits import Limits

HIST_BINS = 40


def _row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of a canonical frame (equal rows, NaN included, hash equal)."""
    return pd.util.hash_pandas_object(df, index=False).to_numpy()


def _nndr(dist: np.ndarray) -> np.ndarray:
    """Nearest over second-nearest distance; 0 where the nearest is an exact match."""
    if dist.shape[1] < 2:
        return np.zeros(len(dist))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = dist[:, 0] / dist[:, 1]
    return np.where(dist[:, 0] == 0, 0.0, ratio)


def _histogram(series: dict[str, np.ndarray]) -> dict:
    """Shares per bin on shared bins from 0 to the 99th percentile of all distances (larger ones in the last bin)."""
    pooled = np.concatenate(list(series.values()))
    top = float(np.quantile(pooled, 0.99)) if len(pooled) else 1.0
    edges = np.linspace(0.0, top if top > 0 else 1.0, HIST_BINS + 1)
    out = {"edges": edges.tolist()}
    for name, values in series.items():
        counts, _ = np.histogram(np.clip(values, 0.0, edges[-1]), bins=edges)
        out[name] = (counts / max(1, len(values))).tolist()
    return out


def privacy(prep: Prepared, embedder: Embedder, limits: Limits, rng: np.random.Generator) -> tuple[dict[str, float], dict]:
    """DCR-based scores; the ones that need a holdout are left out without one."""
    cap = limits.max_rows_neighbors
    train_hashes = np.unique(_row_hashes(prep.real))
    copies = np.isin(_row_hashes(prep.synthetic), train_hashes)
    scores: dict[str, float] = {"privacy.exact_copies_share": float(copies.mean())}
    details: dict = {"exact_copies": int(copies.sum())}

    train_rows = subsample(len(prep.real), cap, rng)
    syn_rows = subsample(len(prep.synthetic), cap, rng)
    train = embedder.transform(prep.real.iloc[train_rows])
    syn = embedder.transform(prep.synthetic.iloc[syn_rows])
    syn_dist, _ = nearest(syn, train, 2)
    scores["privacy.dcr_median"] = float(np.median(syn_dist[:, 0]))
    scores["privacy.nndr_median"] = float(np.median(_nndr(syn_dist)))
    distances = {"synthetic": syn_dist[:, 0]}
    details["subsampled"] = {"real": [len(prep.real), len(train_rows)], "synthetic": [len(prep.synthetic), len(syn_rows)]}

    if prep.holdout is None:
        details["skipped"] = "no holdout: dcr_share, mia_auc and the holdout baselines need one"
    else:
        hold_copies = np.isin(_row_hashes(prep.holdout), train_hashes)
        scores["privacy.exact_copies_share_holdout"] = float(hold_copies.mean())
        hold_rows = subsample(len(prep.holdout), cap, rng)
        hold = embedder.transform(prep.holdout.iloc[hold_rows])
        hold_dist, _ = nearest(hold, train, 2)
        scores["privacy.dcr_median_holdout"] = float(np.median(hold_dist[:, 0]))
        scores["privacy.nndr_median_holdout"] = float(np.median(_nndr(hold_dist)))
        distances["holdout"] = hold_dist[:, 0]

        # DCR share and membership inference on equal-size training and holdout samples.
        n = min(len(prep.real), len(prep.holdout), cap)
        eq_train = embedder.transform(prep.real.iloc[subsample(len(prep.real), n, rng)])
        eq_hold = embedder.transform(prep.holdout.iloc[subsample(len(prep.holdout), n, rng)])
        to_train, _ = nearest(syn, eq_train, 1)
        to_hold, _ = nearest(syn, eq_hold, 1)
        closer = (to_train[:, 0] < to_hold[:, 0]).mean() + 0.5 * (to_train[:, 0] == to_hold[:, 0]).mean()
        scores["privacy.dcr_share"] = float(closer)
        member_dist, _ = nearest(eq_train, syn, 1)
        non_member_dist, _ = nearest(eq_hold, syn, 1)
        labels = np.r_[np.ones(n), np.zeros(n)]
        attack = -np.r_[member_dist[:, 0], non_member_dist[:, 0]]  # closer to a synthetic row: more likely a member
        scores["privacy.mia_auc"] = float(roc_auc_score(labels, attack))
        details["subsampled"]["holdout"] = [len(prep.holdout), len(hold_rows)]
        details["equal_size_samples"] = n
    details["dcr_histogram"] = _histogram(distances)
    return scores, details
