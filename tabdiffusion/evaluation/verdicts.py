"""Plain-language verdicts per area from the scores; thresholds are documented in docs/metrics.md."""

from __future__ import annotations

from typing import Mapping

GOOD, FAIR, POOR = "good", "fair", "poor"


def _graded(value: float, good: float, fair: float, higher_is_better: bool, texts: tuple[str, str, str], headline: str) -> dict:
    """Level from two thresholds (good, then fair; else poor) and the matching text."""
    passes = (lambda limit: value >= limit) if higher_is_better else (lambda limit: value <= limit)
    index = 0 if passes(good) else 1 if passes(fair) else 2
    return {"level": (GOOD, FAIR, POOR)[index], "headline": headline, "text": texts[index]}


def _fidelity(s: Mapping[str, float]) -> dict | None:
    shapes, trends = s.get("fidelity.column_shapes"), s.get("fidelity.column_pair_trends")
    if shapes is None:
        return None
    overall = shapes if trends is None else (shapes + trends) / 2
    return _graded(overall, 0.9, 0.8, True, (
        "Column distributions and pairwise relationships closely match the real table.",
        "Distributions broadly match, but some columns or relationships differ noticeably.",
        "Distributions or relationships differ substantially from the real table.",
    ), f"{overall:.1%} quality")


def _detection(s: Mapping[str, float]) -> dict | None:
    auc = s.get("detection.gbm_auc")
    if auc is None:
        return None
    return _graded(auc, 0.6, 0.8, False, (
        "A classifier can barely tell synthetic rows from real ones (AUC near 0.5).",
        "A classifier can partly tell synthetic rows from real ones.",
        "A classifier easily tells synthetic rows from real ones.",
    ), f"AUC {auc:.3f}")


def _efficacy(s: Mapping[str, float]) -> dict | None:
    ratio = s.get("efficacy.ratio_mean")
    if ratio is None:
        return None
    return _graded(ratio, 0.9, 0.75, True, (
        "Models trained on synthetic data do nearly as well on real holdout data as models trained on real data.",
        "Models trained on synthetic data lose some accuracy on real holdout data.",
        "Models trained on synthetic data do much worse on real holdout data than models trained on real data.",
    ), f"{ratio:.1%} of real")


def _privacy(s: Mapping[str, float]) -> dict | None:
    copies = s.get("privacy.exact_copies_share")
    if copies is None:
        return None
    baseline = s.get("privacy.exact_copies_share_holdout", 0.0)
    share = s.get("privacy.dcr_share")
    excess = copies - baseline
    if excess > 0.05 or (share is not None and share > 0.6):
        level, text = POOR, "Synthetic rows sit much closer to training rows than unseen real rows do: likely memorisation."
    elif excess > 0.01 or (share is not None and share > 0.55):
        level, text = FAIR, "Synthetic rows are somewhat closer to training rows than to unseen rows; check the copies."
    else:
        level, text = GOOD, "No sign of copying: synthetic rows are no closer to training rows than unseen real rows are."
    if share is None:
        text += " (No holdout given, so the DCR share could not be computed.)"
    headline = f"DCR share {share:.1%}" if share is not None else f"{copies:.1%} copies"
    return {"level": level, "headline": headline, "text": text}


def verdicts(scores: Mapping[str, float]) -> dict[str, dict]:
    """Verdict per area (fidelity, detection, efficacy, privacy) that has scores: level, headline and text."""
    out = {}
    for area, rule in (("fidelity", _fidelity), ("detection", _detection), ("efficacy", _efficacy), ("privacy", _privacy)):
        verdict = rule(scores)
        if verdict is not None:
            out[area] = verdict
    return out
