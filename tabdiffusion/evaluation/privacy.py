"""Privacy: distance to closest record (DCR), DCR share, NNDR, exact copies, two membership attacks: by distance,
and by density ratio (DOMIAS, attacks.py), and Anonymeter's singling-out, linkability and inference risks
(anonymeter.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..neighbours import nearest
from ._data import Prepared, subsample
from .anonymeter import anonymeter_risks
from .attacks import domias
from .embedding import Embedder
from .limits import Limits
from .records import DistanceHistogram, Privacy
from .thresholds import CLOSE_QUANTILE

HIST_BINS = 40
DOMIAS_MIN_ROWS = 20  # DOMIAS splits the holdout into reference and non-member halves of at least this many rows
ANONYMETER_MIN_ROWS = 20  # holdout rows for Anonymeter's control attacks


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


def _histogram(series: dict[str, np.ndarray]) -> DistanceHistogram:
    """Shares per bin on shared bins from 0 to the 99th percentile of all distances (larger ones in the last bin)."""
    pooled = np.concatenate(list(series.values()))
    top = float(np.quantile(pooled, 0.99)) if len(pooled) else 1.0
    edges = np.linspace(0.0, top if top > 0 else 1.0, HIST_BINS + 1)
    shares = {}
    for name, values in series.items():
        counts, _ = np.histogram(np.clip(values, 0.0, edges[-1]), bins=edges)
        shares[name] = (counts / max(1, len(values))).tolist()
    return DistanceHistogram(edges=edges.tolist(), **shares)


def _disjoint_draws(n_train: int, n: int, max_rows: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint random samples of n of the n_train training rows: as many as fit in max_rows rows, at least one.

    A training split several times the holdout's size makes the DCR share depend on which n training rows are
    drawn (it varies between evaluate seeds; docs/experiments.md, "Steps on the small tables"), so up to max_rows
    training rows take part, each once, and the scores are averaged over the samples (as SDMetrics'
    DCROverfittingProtection averages over iterations).
    """
    order = rng.permutation(n_train)
    return [order[i * n : (i + 1) * n] for i in range(max(1, min(n_train, max_rows) // n))]


def dcr_share_and_mia(syn: np.ndarray, train_draws: list[np.ndarray], holdout: np.ndarray) -> tuple[float, float]:
    """The DCR share (synthetic rows closer to the training sample than to the equal-size holdout sample, ties half)
    and the distance-based membership-inference AUC, each averaged over equal-size training samples."""
    to_hold, _ = nearest(syn, holdout, 1)
    non_member_dist, _ = nearest(holdout, syn, 1)
    shares, aucs = [], []
    for train in train_draws:
        to_train, _ = nearest(syn, train, 1)
        shares.append((to_train[:, 0] < to_hold[:, 0]).mean() + 0.5 * (to_train[:, 0] == to_hold[:, 0]).mean())
        member_dist, _ = nearest(train, syn, 1)
        labels = np.r_[np.ones(len(train)), np.zeros(len(holdout))]
        attack = -np.r_[member_dist[:, 0], non_member_dist[:, 0]]  # closer to a synthetic row: more likely a member
        aucs.append(roc_auc_score(labels, attack))
    return float(np.mean(shares)), float(np.mean(aucs))


def privacy(prep: Prepared, embedder: Embedder, limits: Limits,
            rng: np.random.Generator) -> tuple[dict[str, float], Privacy]:
    """DCR-based scores; the ones that need a holdout are left out without one."""
    cap = limits.max_rows_neighbors
    train_hashes, syn_hashes = _row_hashes(prep.real), _row_hashes(prep.synthetic)
    copies = np.isin(syn_hashes, np.unique(train_hashes))
    scores: dict[str, float] = {"privacy.exact_copies_share": float(copies.mean())}

    train_rows = subsample(len(prep.real), cap, rng)
    syn_rows = subsample(len(prep.synthetic), cap, rng)
    train = embedder.transform(prep.real.iloc[train_rows])
    syn = embedder.transform(prep.synthetic.iloc[syn_rows])
    syn_dist, _ = nearest(syn, train, 2)
    scores["privacy.dcr_median"] = float(np.median(syn_dist[:, 0]))
    scores["privacy.nndr_median"] = float(np.median(_nndr(syn_dist)))
    distances = {"synthetic": syn_dist[:, 0]}
    sampled = {"real": [len(prep.real), len(train_rows)], "synthetic": [len(prep.synthetic), len(syn_rows)]}
    if prep.holdout is None:
        return scores, Privacy(exact_copies=int(copies.sum()), subsampled=sampled, dcr_histogram=_histogram(distances),
                               skipped="no holdout: dcr_share, mia_auc, the DOMIAS and Anonymeter attacks and the "
                                       "holdout baselines need one")

    hold_hashes = _row_hashes(prep.holdout)
    scores["privacy.exact_copies_share_holdout"] = float(np.isin(hold_hashes, np.unique(train_hashes)).mean())
    # Rows of the holdout in the synthetic table: real records the model was not to see (the holdout leaked into
    # it, or the tables were swapped), against how often training rows equal a holdout row by nature.
    scores["privacy.holdout_copies_share"] = float(np.isin(syn_hashes, np.unique(hold_hashes)).mean())
    scores["privacy.holdout_copies_share_train"] = float(np.isin(train_hashes, np.unique(hold_hashes)).mean())
    hold_rows = subsample(len(prep.holdout), cap, rng)
    sampled["holdout"] = [len(prep.holdout), len(hold_rows)]
    hold = embedder.transform(prep.holdout.iloc[hold_rows])
    hold_dist, _ = nearest(hold, train, 2)
    scores["privacy.dcr_median_holdout"] = float(np.median(hold_dist[:, 0]))
    # The tail the DCR share and median miss: a minority of near-copies among honest rows.
    closest_unseen = np.quantile(hold_dist[:, 0], CLOSE_QUANTILE)
    scores["privacy.close_share"] = float((syn_dist[:, 0] < closest_unseen).mean())
    scores["privacy.nndr_median_holdout"] = float(np.median(_nndr(hold_dist)))
    distances["holdout"] = hold_dist[:, 0]

    # DCR share and membership inference on equal-size training and holdout samples.
    n = min(len(prep.real), len(prep.holdout), cap)
    eq_hold = embedder.transform(prep.holdout.iloc[subsample(len(prep.holdout), n, rng)])
    draw_rows = _disjoint_draws(len(prep.real), n, cap, rng)
    train_draws = [embedder.transform(prep.real.iloc[rows]) for rows in draw_rows]
    scores["privacy.dcr_share"], scores["privacy.mia_auc"] = dcr_share_and_mia(syn, train_draws, eq_hold)
    if len(prep.holdout) >= 2 * DOMIAS_MIN_ROWS:
        # Half of the holdout is the attacker's reference sample, the other half the non-members; as many
        # training rows are the members.
        rows = rng.permutation(len(prep.holdout))[: None if cap is None else 2 * cap]
        reference, non_members = rows[: len(rows) // 2], rows[len(rows) // 2 :]
        members = subsample(len(prep.real), len(non_members), rng)
        auc, low, high = domias(syn, embedder.transform(prep.real.iloc[members]),
                                embedder.transform(prep.holdout.iloc[non_members]),
                                embedder.transform(prep.holdout.iloc[reference]), rng)
        scores.update({"privacy.domias_auc": auc, "privacy.domias_auc_low": low, "privacy.domias_auc_high": high})
    attacks = None
    if len(prep.holdout) >= ANONYMETER_MIN_ROWS:
        # Equal-size training and holdout samples are the targets; the attacker holds the synthetic sample.
        found, attacks = anonymeter_risks(prep.real.iloc[subsample(len(prep.real), n, rng)],
                                          prep.holdout.iloc[subsample(len(prep.holdout), n, rng)],
                                          prep.synthetic.iloc[syn_rows], embedder, rng)
        scores.update(found)
    return scores, Privacy(exact_copies=int(copies.sum()), subsampled=sampled, equal_size_draws=len(train_draws),
                           equal_size_samples=n, anonymeter=attacks, dcr_histogram=_histogram(distances))
