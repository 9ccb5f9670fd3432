"""Plain-language verdicts per area from the scores; thresholds are documented in docs/metrics.md."""

from __future__ import annotations

from typing import Mapping

GOOD, FAIR, POOR = "good", "fair", "poor"


def _fidelity(s: Mapping[str, float]) -> dict | None:
    shapes, trends = s.get("fidelity.column_shapes"), s.get("fidelity.column_pair_trends")
    if shapes is None:
        return None
    overall = shapes if trends is None else (shapes + trends) / 2
    level = GOOD if overall >= 0.9 else FAIR if overall >= 0.8 else POOR
    text = {
        GOOD: "Column distributions and pairwise relationships closely match the real table.",
        FAIR: "Distributions broadly match, but some columns or relationships differ noticeably.",
        POOR: "Distributions or relationships differ substantially from the real table.",
    }[level]
    return {"level": level, "headline": f"{overall:.1%} quality", "text": text}


def _detection(s: Mapping[str, float]) -> dict | None:
    auc = s.get("detection.gbm_auc")
    if auc is None:
        return None
    level = GOOD if auc <= 0.6 else FAIR if auc <= 0.8 else POOR
    text = {
        GOOD: "A classifier can barely tell synthetic rows from real ones (AUC near 0.5).",
        FAIR: "A classifier can partly tell synthetic rows from real ones.",
        POOR: "A classifier easily tells synthetic rows from real ones.",
    }[level]
    return {"level": level, "headline": f"AUC {auc:.3f}", "text": text}


def _efficacy(s: Mapping[str, float]) -> dict | None:
    ratio = s.get("efficacy.ratio_mean")
    if ratio is None:
        return None
    level = GOOD if ratio >= 0.9 else FAIR if ratio >= 0.75 else POOR
    text = {
        GOOD: "Models trained on synthetic data do nearly as well on real holdout data as models trained on real data.",
        FAIR: "Models trained on synthetic data lose some accuracy on real holdout data.",
        POOR: "Models trained on synthetic data do much worse on real holdout data than models trained on real data.",
    }[level]
    return {"level": level, "headline": f"{ratio:.1%} of real", "text": text}


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
