"""Validity: synthetic values inside the real range or category set, and missing-value rates.

A synthetic value that is present but no number or date ("garbage", "1,5"), or infinite, is invalid: it counts
against the valid share, and not as missing.
"""

from __future__ import annotations

import numpy as np

from ._data import Prepared


def validity(prep: Prepared) -> tuple[dict[str, float], dict[str, dict]]:
    """Per-column share of valid synthetic values and missing rates; means over columns as scores."""
    columns: dict[str, dict] = {}
    for name in prep.columns:
        real, syn = prep.real[name], prep.synthetic[name]
        present = syn.dropna()
        invalid = prep.invalid.get(name, {})
        bad = sum(invalid.values())  # present in the synthetic table, but NaN in `syn`
        entry: dict = {"missing_real": float(real.isna().mean()), "missing_synthetic": float((syn.isna().sum() - bad) / len(syn))}
        entry["missing_rate_diff"] = abs(entry["missing_real"] - entry["missing_synthetic"])
        if name in prep.numeric:
            finite = real.dropna().to_numpy(float)
            entry["check"] = "inside the real min/max"
            entry.update(unparsable=invalid.get("unparsable", 0), infinite=invalid.get("infinite", 0))
            if len(finite):
                lo, hi = float(finite.min()), float(finite.max())
                values = present.to_numpy(float)
                inside = (values >= lo) & (values <= hi)
                entry.update(real_min=lo, real_max=hi, below=int((values < lo).sum()), above=int((values > hi).sum()))
                entry["valid_share"] = float(inside.sum() / (len(values) + bad)) if len(values) + bad else 1.0
        else:
            known = set(real.dropna())
            entry["check"] = "in the real category set"
            unseen = present[~present.isin(known)]
            entry["valid_share"] = float(1.0 - len(unseen) / len(present)) if len(present) else 1.0
            entry["unseen_categories"] = [str(v) for v in unseen.value_counts().index[:10]]
            entry["unseen_count"] = int(len(unseen))
        columns[name] = entry
    numeric = [c["valid_share"] for n, c in columns.items() if n in prep.numeric and "valid_share" in c]
    categorical = [c["valid_share"] for n, c in columns.items() if n in prep.categorical]
    scores: dict[str, float] = {}
    if numeric or categorical:
        scores["validity.share"] = float(np.mean(numeric + categorical))
    if numeric:
        scores["validity.in_range_share"] = float(np.mean(numeric))
    if categorical:
        scores["validity.in_category_share"] = float(np.mean(categorical))
    scores["validity.missing_rate_diff_mean"] = float(np.mean([c["missing_rate_diff"] for c in columns.values()]))
    return scores, columns
