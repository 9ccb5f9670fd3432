"""Column shapes and column-pair trends on the SDMetrics definitions, plus data for the distribution plots."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from ._data import Prepared, subsample
from .limits import Limits
from .records import Associations, Bars, ColumnShape, Fidelity, Histogram, PairTrend

PAIR_BINS = 10  # SDMetrics ContingencySimilarity: numeric columns cut into 10 equal-width bins over the real range
PLOT_BINS = 30
PLOT_CATEGORIES = 15


def _tvd(real: pd.Series, synthetic: pd.Series) -> float:
    """Total variation distance between the category frequencies of two non-missing samples."""
    p = real.value_counts(normalize=True)
    q = synthetic.value_counts(normalize=True)
    return float(0.5 * p.subtract(q, fill_value=0.0).abs().sum())


def column_shape(real: pd.Series, synthetic: pd.Series, numeric: bool) -> float:
    """1 - KS statistic (numeric) or 1 - TVD (categorical) on non-missing values; 0 if one side is all missing."""
    r, s = real.dropna(), synthetic.dropna()
    if len(r) == 0 or len(s) == 0:
        return 1.0 if len(r) == len(s) else 0.0
    if numeric:
        return float(1.0 - ks_2samp(r.to_numpy(float), s.to_numpy(float)).statistic)
    return 1.0 - _tvd(r, s)


def _numeric_plot(real: np.ndarray, synthetic: np.ndarray, kind: str) -> Histogram:
    """Histogram shares of real and synthetic on shared bins covering the real range and most synthetic values."""
    r, s = real[~np.isnan(real)], synthetic[~np.isnan(synthetic)]
    if len(r) == 0:
        return Histogram(edges=[], real=[], synthetic=[])
    lo, hi = float(r.min()), float(r.max())
    if len(s):
        lo, hi = min(lo, float(np.quantile(s, 0.01))), max(hi, float(np.quantile(s, 0.99)))
    integer_like = kind == "integer" and hi - lo <= 40 and np.all(r == np.round(r))
    if integer_like:
        edges = np.arange(np.floor(lo), np.ceil(hi) + 2) - 0.5
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, PLOT_BINS + 1)

    def shares(values: np.ndarray) -> list[float]:
        counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
        return (counts / max(1, len(values))).tolist()

    return Histogram(edges=edges.tolist(), real=shares(r), synthetic=shares(s))


def _categorical_plot(real: pd.Series, synthetic: pd.Series) -> Bars:
    """Shares of the most frequent categories (in either table), the rest pooled as '(other)'."""
    p = real.dropna().value_counts(normalize=True)
    q = synthetic.dropna().value_counts(normalize=True)
    both = pd.concat([p, q], axis=1, keys=["real", "synthetic"]).fillna(0.0)
    both = both.loc[both.max(axis=1).sort_values(ascending=False, kind="stable").index]
    top = both.iloc[:PLOT_CATEGORIES]
    rest = both.iloc[PLOT_CATEGORIES:]
    categories = [str(c) for c in top.index]
    real_shares, syn_shares = top["real"].tolist(), top["synthetic"].tolist()
    if len(rest):
        categories.append(f"(other {len(rest)})")
        real_shares.append(float(rest["real"].sum()))
        syn_shares.append(float(rest["synthetic"].sum()))
    return Bars(categories=categories, real=real_shares, synthetic=syn_shares)


def column_shapes(prep: Prepared) -> tuple[dict[str, float], dict[str, ColumnShape]]:
    """Mean shape score over columns, and per-column score, error, missing rates and plot data."""
    columns = {}
    for name in prep.columns:
        numeric = name in prep.numeric
        real, syn = prep.real[name], prep.synthetic[name]
        score = column_shape(real, syn, numeric)
        plot = (
            _numeric_plot(real.to_numpy(float), syn.to_numpy(float), prep.kinds[name])
            if numeric
            else _categorical_plot(real, syn)
        )
        columns[name] = ColumnShape(kind=prep.kinds[name], metric="KSComplement" if numeric else "TVComplement",
                                    score=score, error=1.0 - score, missing_real=float(real.isna().mean()),
                                    missing_synthetic=float(syn.isna().mean()), plot=plot)
    mean = float(np.mean([c.score for c in columns.values()]))
    scores = {"fidelity.column_shapes": mean, "fidelity.column_shapes_error": 1.0 - mean}
    return scores, columns


def _codes(real: pd.Series, synthetic: pd.Series, numeric: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes (-1 missing) shared by both tables, and how many codes there are."""
    if numeric:
        r, s = real.to_numpy(float), synthetic.to_numpy(float)
        finite = r[~np.isnan(r)]
        lo, hi = (finite.min(), finite.max()) if len(finite) else (0.0, 0.0)
        width = (hi - lo) / PAIR_BINS if hi > lo else 1.0

        def cut(v: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore"):
                code = np.clip(np.floor((v - lo) / width), 0, PAIR_BINS - 1)
                out = np.where((v < lo) | (v > hi), PAIR_BINS, code)  # out of the real range: a bin of its own
            return np.where(np.isnan(v), -1, out).astype(np.int64)

        return cut(r), cut(s), PAIR_BINS + 1
    codes, uniques = pd.factorize(pd.concat([real, synthetic], ignore_index=True), use_na_sentinel=True)
    return codes[: len(real)].astype(np.int64), codes[len(real) :].astype(np.int64), max(1, len(uniques))


def _contingency(a: np.ndarray, b: np.ndarray, kb: int, size: int) -> np.ndarray | None:
    """Joint frequencies of two code arrays over rows where both are present (None if there are none)."""
    valid = (a >= 0) & (b >= 0)
    if not valid.any():
        return None
    return np.bincount(a[valid] * kb + b[valid], minlength=size) / valid.sum()


def _cramers_v(p: np.ndarray, ka: int, kb: int) -> float:
    """Cramér's V of a flattened joint frequency table."""
    table = p.reshape(ka, kb)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    rows, cols = table.shape
    if min(rows, cols) < 2:
        return 0.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True)
    phi2 = float((table**2 / expected).sum() - 1.0)
    return float(np.sqrt(max(0.0, phi2) / (min(rows, cols) - 1)))


def column_pair_trends(
    prep: Prepared, limits: Limits, rng: np.random.Generator
) -> tuple[dict[str, float], list[PairTrend], Associations, dict[str, list[int]]]:
    """Mean pair-trend score, per-pair details, association matrices (real, synthetic) and what was subsampled."""
    real_rows = subsample(len(prep.real), limits.max_rows_pairs, rng)
    syn_rows = subsample(len(prep.synthetic), limits.max_rows_pairs, rng)
    real, syn = prep.real.iloc[real_rows], prep.synthetic.iloc[syn_rows]
    names = prep.columns
    numeric = set(prep.numeric)
    codes = {n: _codes(real[n], syn[n], n in numeric) for n in names}
    corr_real = real[prep.numeric].corr() if len(prep.numeric) > 1 else None
    corr_syn = syn[prep.numeric].corr() if len(prep.numeric) > 1 else None
    k = len(names)
    assoc_real, assoc_syn = np.full((k, k), np.nan), np.full((k, k), np.nan)
    np.fill_diagonal(assoc_real, 1.0)
    np.fill_diagonal(assoc_syn, 1.0)
    pairs = []
    for (i, a), (j, b) in combinations(enumerate(names), 2):
        if a in numeric and b in numeric:
            r, s = float(corr_real.loc[a, b]), float(corr_syn.loc[a, b])
            pair = PairTrend(columns=[a, b], metric="CorrelationSimilarity", real=r, synthetic=s, score=None, error=None)
            if np.isnan(r):
                pair.note = "Pearson r undefined on the real table (constant column)"
            else:
                s_used = 0.0 if np.isnan(s) else s  # a constant synthetic column has no correlation
                pair.score = 1.0 - abs(r - s_used) / 2.0
                pair.error = 1.0 - pair.score
        else:
            (ra, sa, ka), (rb, sb, kb) = codes[a], codes[b]
            p = _contingency(ra, rb, kb, ka * kb)
            q = _contingency(sa, sb, kb, ka * kb)
            pair = PairTrend(columns=[a, b], metric="ContingencySimilarity", real=None, synthetic=None, score=None,
                             error=None)
            if p is None or q is None:
                r = s = np.nan
                if p is not None:
                    pair.score, pair.error = 0.0, 1.0
                pair.note = ("no row where both columns are present in "
                             + ("the real" if p is None else "the synthetic") + " table")
            else:
                r, s = _cramers_v(p, ka, kb), _cramers_v(q, ka, kb)
                score = 1.0 - float(0.5 * np.abs(p - q).sum())
                pair.real, pair.synthetic, pair.score, pair.error = r, s, score, 1.0 - score
        assoc_real[i, j] = assoc_real[j, i] = r
        assoc_syn[i, j] = assoc_syn[j, i] = s
        pairs.append(pair)
    valid = [p.score for p in pairs if p.score is not None]
    scores = {}
    if valid:
        mean = float(np.mean(valid))
        scores = {"fidelity.column_pair_trends": mean, "fidelity.column_pair_trends_error": 1.0 - mean}
    associations = Associations(columns=names, measure="Pearson r for numeric pairs, Cramér's V (10 equal-width bins "
                                "for numerics) otherwise", real=assoc_real.tolist(), synthetic=assoc_syn.tolist())
    sampled = {"real": [len(prep.real), len(real_rows)], "synthetic": [len(prep.synthetic), len(syn_rows)]}
    return scores, pairs, associations, sampled


def fidelity(prep: Prepared, limits: Limits, rng: np.random.Generator) -> tuple[dict[str, float], Fidelity]:
    """Column shapes and pair trends, and their mean (SDMetrics' Quality Score) where both exist."""
    shape_scores, columns = column_shapes(prep)
    pair_scores, pairs, associations, sampled = column_pair_trends(prep, limits, rng)
    scores = {**shape_scores, **pair_scores}
    if "fidelity.column_pair_trends" in pair_scores:
        overall = (shape_scores["fidelity.column_shapes"] + pair_scores["fidelity.column_pair_trends"]) / 2
        scores["fidelity.overall"] = overall
        scores["fidelity.overall_error"] = 1.0 - overall
    return scores, Fidelity(columns=columns, pairs=pairs, associations=associations, subsampled=sampled)
