"""Plain-language verdicts per area from the scores; thresholds are documented in docs/metrics.md."""

from __future__ import annotations

import math
from typing import Mapping

from .privacy import CLOSE_QUANTILE

GOOD, FAIR, POOR, UNKNOWN = "good", "fair", "poor", "not assessed"
# Detection AUCs this far below 0.5 mean the classifier finds synthetic rows on top of real ones: copies. On small
# tables an honest pair's cross-validated AUC swings widely (adult rows against other adult rows, 25 pairs each: 2 of
# 25 under 0.35 at 30 rows per side, none from 60 rows; docs/metrics.md), so the line also sits COPY_AUC_NULL_SDS
# standard deviations of a no-difference AUC (Mann-Whitney, n rows per side) below 0.5: it binds under about 200 rows.
COPY_AUC = 0.35
COPY_AUC_NULL_SDS = 5.0
# Exact copies count against privacy when they exceed the holdout's natural matches by this many binomial standard
# errors (so a table whose rows repeat by chance is not flagged, and a handful of verbatim records is).
COPY_SIGMAS = 3.0
# privacy.close_share (1% for rows drawn like unseen real ones): fair above CLOSE_FAIR, poor above CLOSE_POOR.
CLOSE_FAIR, CLOSE_POOR = 0.03, 0.10
CLOSE_MIN_TAIL_ROWS = 10
# Anonymeter's risks count against privacy when their 95% interval lies above 0: fair up to ANONYMETER_POOR, then
# poor (a tenth of the attacker's room for improvement given away by training rows alone).
ANONYMETER_POOR = 0.10
ANONYMETER_ATTACKS = {"singling_out": "singling out (a value or extreme that only one training row has)",
                      "linkability": "linkability (joining two halves of a training row through the synthetic table)",
                      "inference": "attribute inference (guessing a hidden column from the others)"}


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


def copy_auc_limit(rows_per_side: int | None) -> float:
    """Detection AUC under which synthetic rows count as copies, for a detector that saw `rows_per_side` rows of each."""
    if not rows_per_side:
        return COPY_AUC
    n = float(rows_per_side)
    return min(COPY_AUC, 0.5 - COPY_AUC_NULL_SDS * math.sqrt((2.0 * n + 1.0) / (12.0 * n * n)))


def _detection(s: Mapping[str, float], rows: Mapping[str, int | None]) -> dict | None:
    auc = s.get("detection.gbm_auc")
    if auc is None:
        return None
    sides = [rows.get("real"), rows.get("synthetic")]
    if auc < copy_auc_limit(min(sides) if all(sides) else None):
        return {"level": POOR, "headline": f"AUC {auc:.3f}", "text": (
            "A classifier finds the synthetic rows on top of real ones (AUC far below 0.5): a sign of copied or "
            "nearly copied training rows. See privacy.")}
    return _graded(auc, 0.6, 0.8, False, (
        "A classifier can barely tell synthetic rows from real ones (AUC near 0.5).",
        "A classifier can partly tell synthetic rows from real ones.",
        "A classifier easily tells synthetic rows from real ones.",
    ), f"AUC {auc:.3f}")


def _efficacy(s: Mapping[str, float]) -> dict | None:
    ratio = s.get("efficacy.ratio_mean")
    if ratio is None:
        return None
    verdict = _graded(ratio, 0.9, 0.75, True, (
        "Models trained on synthetic data do nearly as well on real holdout data as models trained on real data.",
        "Models trained on synthetic data lose some accuracy on real holdout data.",
        "Models trained on synthetic data do much worse on real holdout data than models trained on real data.",
    ), f"{ratio:.1%} of real")
    left_out = int(s.get("efficacy.ratio_left_out", 0))
    if left_out:
        verdict["text"] += (f" {left_out} model(s) left out of this mean: trained on the real rows they scored 0 or "
                            "less on the holdout (for R2, no better than predicting the mean), so they have no ratio.")
    return verdict


def _beyond_chance(share: float, baseline: float, n: int, n_baseline: int) -> bool:
    """Whether a share of verbatim matches among n rows exceeds the chance matches of n_baseline real rows by more
    than COPY_SIGMAS binomial standard errors of their difference, or by more than 1 point where chance matches are
    rare (a baseline under 1%, which a small holdout measures too coarsely for the standard error to judge). A fixed
    1-point margin everywhere would flag honest samples of tables whose rows repeat by nature."""
    pooled = (share * n + baseline * n_baseline) / max(1, n + n_baseline)
    noise = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / max(1, n) + 1 / max(1, n_baseline)))
    excess = share - baseline
    return excess > COPY_SIGMAS * noise or (excess > 0.01 and baseline < 0.01)


def _privacy(s: Mapping[str, float], rows: Mapping[str, int | None]) -> dict | None:
    """Memorisation signals against what unseen real rows (the holdout) show: verbatim copies beyond the holdout's
    chance matches, the DCR share and the membership-inference AUC (both 0.5 for a model that learned no row),
    verbatim holdout rows beyond the training rows' chance matches (real records that no fit should reproduce), and
    the DOMIAS and Anonymeter attacks where their intervals exclude what guessing or unseen rows give."""
    copies = s.get("privacy.exact_copies_share")
    if copies is None:
        return None
    n_syn, n_hold = rows.get("synthetic") or 0, rows.get("holdout") or 0
    share, mia = s.get("privacy.dcr_share"), s.get("privacy.mia_auc")
    baseline = s.get("privacy.exact_copies_share_holdout")
    headline = f"DCR share {share:.1%}" if share is not None else f"{copies:.1%} copies"
    if baseline is None or share is None:
        if copies > 0.05:
            return {"level": POOR, "headline": headline, "text": (
                f"{copies:.1%} of the synthetic rows are verbatim training rows. No holdout was given to compare with.")}
        return {"level": UNKNOWN, "headline": headline, "text": (
            f"{copies:.1%} of the synthetic rows are verbatim training rows, but without a holdout (real rows the "
            "model never saw) the report cannot tell memorised rows from rows that are close by nature. Pass "
            "holdout= to assess privacy.")}
    if baseline > 0.9:
        return {"level": UNKNOWN, "headline": headline, "text": (
            f"{baseline:.0%} of the holdout rows also appear in the training table, so the holdout cannot stand for "
            "unseen rows (or every row of this table repeats by nature). Pass real rows split off before training.")}
    reasons, level = [], GOOD
    if _beyond_chance(copies, baseline, n_syn, n_hold):
        reasons.append(f"{copies:.1%} of the synthetic rows are verbatim training rows, against {baseline:.1%} of "
                       "unseen real rows")
        level = POOR if copies - baseline > 0.05 else FAIR
    held, held_baseline = s.get("privacy.holdout_copies_share"), s.get("privacy.holdout_copies_share_train")
    if held is not None and held_baseline is not None and _beyond_chance(held, held_baseline, n_syn, rows.get("real") or 0):
        reasons.append(f"{held:.1%} of the synthetic rows are verbatim holdout rows, against {held_baseline:.1%} of the "
                       "training rows, more than chance matches explain: the synthetic table may hold real records the "
                       "model never trained on (or the training and holdout tables were swapped)")
        level = POOR if held - held_baseline > 0.05 or level == POOR else FAIR
    for name, value in (("DCR share", share), ("membership-inference AUC", mia)):
        if value is not None and value > 0.55:
            reasons.append(f"{name} {value:.3f} (0.5 when no training row is favoured)")
            level = POOR if value > 0.6 or level == POOR else FAIR
    low, high = s.get("privacy.domias_auc_low"), s.get("privacy.domias_auc_high")
    if low is not None and low > 0.5:  # the attack beats guessing beyond its own uncertainty
        auc = s["privacy.domias_auc"]
        reasons.append(f"the density-based membership attack (DOMIAS) tells training rows from unseen ones with AUC "
                       f"{auc:.3f} (95% interval {low:.3f}-{high:.3f}; 0.5 when it cannot)")
        level = POOR if auc > 0.6 or level == POOR else FAIR
    for name, label in ANONYMETER_ATTACKS.items():
        risk_low = s.get(f"privacy.{name}_low")
        if risk_low is not None and risk_low > 0:  # the interval excludes 0: beyond what the population explains
            value, high = s[f"privacy.{name}_risk"], s[f"privacy.{name}_high"]
            reasons.append(f"Anonymeter's {label} succeeds more on training rows than on unseen ones: risk {value:.3f} "
                           f"(95% interval {risk_low:.3f}-{high:.3f}; 0 when it does not)")
            level = POOR if value > ANONYMETER_POOR or level == POOR else FAIR
    close = s.get("privacy.close_share")
    # Graded only where the holdout's 1st percentile rests on CLOSE_MIN_TAIL_ROWS rows or more; below that the
    # cut-off is about the single closest holdout row and the share swings widely on honest data.
    if close is not None and CLOSE_QUANTILE * n_hold >= CLOSE_MIN_TAIL_ROWS and close > CLOSE_FAIR:
        reasons.append(f"{close:.1%} of the synthetic rows sit closer to a training row than 99% of unseen real rows do "
                       "(1% expected)")
        level = POOR if close > CLOSE_POOR or level == POOR else FAIR
    if level == GOOD:
        checks = ["synthetic rows are no closer to training rows than to unseen real rows",
                  "verbatim copies are no more common than chance matches"]
        if s.get("privacy.domias_auc_low") is not None:
            checks.append("the density-based membership attack does no better than guessing within its interval")
        if any(f"privacy.{name}_low" in s for name in ANONYMETER_ATTACKS):
            checks.append("Anonymeter's singling-out, linkability and inference attacks succeed no more on training "
                          "rows than on unseen ones within their intervals")
        text = ("No sign of memorisation: " + ", ".join(checks[:-1]) + ", and " + checks[-1]
                + ". This is evidence, not a guarantee (no differential privacy).")
    elif level == FAIR:
        text = "Some signs of memorisation: " + "; ".join(reasons) + ". Review before sharing."
    else:
        text = "Synthetic rows give real rows away: " + "; ".join(reasons) + ". Do not share this table as is."
    if 0 < n_hold < 200:
        text += f" The holdout has only {n_hold} rows, so these scores are noisy; use a larger one."
    return {"level": level, "headline": headline, "text": text}


def verdicts(scores: Mapping[str, float], rows: Mapping[str, int | None] | None = None) -> dict[str, dict]:
    """Verdict per area (fidelity, detection, efficacy, privacy) that has scores: level, headline and text.

    `rows`: the row counts of the real, synthetic and holdout tables (evaluate's details["rows"]).
    """
    out = {}
    rules = (("fidelity", _fidelity), ("detection", lambda s: _detection(s, rows or {})), ("efficacy", _efficacy),
             ("privacy", lambda s: _privacy(s, rows or {})))
    for area, rule in rules:
        verdict = rule(scores)
        if verdict is not None:
            out[area] = verdict
    return out
