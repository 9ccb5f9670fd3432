"""Validity: synthetic values inside the real range or category set, and missing-value rates.

A synthetic value that is present but no number or date ("garbage", "1,5"), or infinite, is invalid: it counts
against the valid share, and not as missing.
"""

from __future__ import annotations

import numpy as np

from ._data import Prepared
from .records import ColumnValidity, Validity


def validity(prep: Prepared) -> tuple[dict[str, float], Validity]:
    """Per-column share of valid synthetic values and missing rates; means over columns as scores."""
    columns: dict[str, ColumnValidity] = {}
    for name in prep.columns:
        real, syn = prep.real[name], prep.synthetic[name]
        present = syn.dropna()
        invalid = prep.invalid.get(name, {})
        bad = sum(invalid.values())  # present in the synthetic table, but NaN in `syn`
        missing_real, missing_synthetic = float(real.isna().mean()), float((syn.isna().sum() - bad) / len(syn))
        numeric = name in prep.numeric
        entry = ColumnValidity(missing_real=missing_real, missing_synthetic=missing_synthetic,
                               missing_rate_diff=abs(missing_real - missing_synthetic),
                               check="inside the real min/max" if numeric else "in the real category set")
        if numeric:
            finite = real.dropna().to_numpy(float)
            entry.unparsable, entry.infinite = invalid.get("unparsable", 0), invalid.get("infinite", 0)
            if len(finite):
                lo, hi = float(finite.min()), float(finite.max())
                values = present.to_numpy(float)
                inside = (values >= lo) & (values <= hi)
                entry.real_min, entry.real_max = lo, hi
                entry.below, entry.above = int((values < lo).sum()), int((values > hi).sum())
                entry.valid_share = float(inside.sum() / (len(values) + bad)) if len(values) + bad else 1.0
        else:
            known = set(real.dropna())
            unseen = present[~present.isin(known)]
            entry.valid_share = float(1.0 - len(unseen) / len(present)) if len(present) else 1.0
            entry.unseen_categories = [str(v) for v in unseen.value_counts().index[:10]]
            entry.unseen_count = int(len(unseen))
        columns[name] = entry
    in_range = [c.valid_share for n, c in columns.items() if n in prep.numeric and c.valid_share is not None]
    in_category = [c.valid_share for n, c in columns.items() if n in prep.categorical]
    scores: dict[str, float] = {}
    if in_range or in_category:
        scores["validity.share"] = float(np.mean(in_range + in_category))
    if in_range:
        scores["validity.in_range_share"] = float(np.mean(in_range))
    if in_category:
        scores["validity.in_category_share"] = float(np.mean(in_category))
    scores["validity.missing_rate_diff_mean"] = float(np.mean([c.missing_rate_diff for c in columns.values()]))
    return scores, Validity(columns=columns)
