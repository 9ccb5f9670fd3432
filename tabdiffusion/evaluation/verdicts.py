"""Plain-language verdicts per area from the scores, graded on the lines of thresholds.py."""

from __future__ import annotations

import math
from typing import Mapping

from .records import Verdict
from .thresholds import (ANONYMETER_POOR_RISK, CLOSE_MIN_TAIL_ROWS, CLOSE_QUANTILE, CLOSE_SHARE, COPY_POOR_EXCESS,
                         COPY_SIGMAS, DETECTION, DOMIAS_POOR_AUC, EFFICACY, FAIR, FIDELITY, GOOD,
                         HOLDOUT_OVERLAP_UNUSABLE, MEMBERSHIP, NO_HOLDOUT_POOR_COPIES, POOR, RARE_CHANCE,
                         RARE_CHANCE_MARGIN, SMALL_HOLDOUT_ROWS, UNKNOWN, Band, copy_auc_limit)

ANONYMETER_ATTACKS = {"singling_out": "singling out (a value or extreme that only one training row has)",
                      "linkability": "linkability (joining two halves of a training row through the synthetic table)",
                      "inference": "attribute inference (guessing a hidden column from the others)"}
_ORDER = (GOOD, FAIR, POOR)


def _graded(value: float, band: Band, texts: tuple[str, str, str], headline: str) -> Verdict:
    """Level of `value` in `band` and the matching one of the good, fair and poor texts."""
    level = band.level(value)
    return Verdict(level=level, headline=headline, text=texts[_ORDER.index(level)])


def _worse(a: str, b: str) -> str:
    """The worse of two levels among good, fair and poor: privacy takes the worst of its lines."""
    return max(a, b, key=_ORDER.index)


def _fidelity(s: Mapping[str, float]) -> Verdict | None:
    """Fidelity from the mean of column shapes and pair trends (shapes alone where there are no pairs)."""
    shapes, trends = s.get("fidelity.column_shapes"), s.get("fidelity.column_pair_trends")
    if shapes is None:
        return None
    overall = shapes if trends is None else (shapes + trends) / 2
    return _graded(overall, FIDELITY, (
        "Column distributions and pairwise relationships closely match the real table.",
        "Distributions broadly match, but some columns or relationships differ noticeably.",
        "Distributions or relationships differ substantially from the real table.",
    ), f"{overall:.1%} quality")


def _detection(s: Mapping[str, float], rows: Mapping[str, int | None]) -> Verdict | None:
    """Detection from the boosting AUC: high means told apart, far below 0.5 means copies."""
    auc = s.get("detection.gbm_auc")
    if auc is None:
        return None
    sides = [rows.get("real"), rows.get("synthetic")]
    if auc < copy_auc_limit(min(sides) if all(sides) else None):
        return Verdict(level=POOR, headline=f"AUC {auc:.3f}", text=(
            "A classifier finds the synthetic rows on top of real ones (AUC far below 0.5): a sign of copied or "
            "nearly copied training rows. See privacy."))
    return _graded(auc, DETECTION, (
        "A classifier can barely tell synthetic rows from real ones (AUC near 0.5).",
        "A classifier can partly tell synthetic rows from real ones.",
        "A classifier easily tells synthetic rows from real ones.",
    ), f"AUC {auc:.3f}")


def _efficacy(s: Mapping[str, float]) -> Verdict | None:
    """ML efficacy from the mean synthetic / real ratio, naming the models left out of it."""
    ratio = s.get("efficacy.ratio_mean")
    if ratio is None:
        return None
    verdict = _graded(ratio, EFFICACY, (
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
    than COPY_SIGMAS binomial standard errors of their difference, or by more than RARE_CHANCE_MARGIN where chance
    matches are rarer than RARE_CHANCE (which a small holdout measures too coarsely for the standard error to judge)."""
    pooled = (share * n + baseline * n_baseline) / max(1, n + n_baseline)
    noise = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / max(1, n) + 1 / max(1, n_baseline)))
    excess = share - baseline
    return excess > COPY_SIGMAS * noise or (excess > RARE_CHANCE_MARGIN and baseline < RARE_CHANCE)


def _privacy(s: Mapping[str, float], rows: Mapping[str, int | None]) -> Verdict | None:
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
        if copies > NO_HOLDOUT_POOR_COPIES:
            return Verdict(level=POOR, headline=headline, text=(
                f"{copies:.1%} of the synthetic rows are verbatim training rows. No holdout was given to compare with."))
        return Verdict(level=UNKNOWN, headline=headline, text=(
            f"{copies:.1%} of the synthetic rows are verbatim training rows, but without a holdout (real rows the "
            "model never saw) the report cannot tell memorised rows from rows that are close by nature. Pass "
            "holdout= to assess privacy."))
    if baseline > HOLDOUT_OVERLAP_UNUSABLE:
        return Verdict(level=UNKNOWN, headline=headline, text=(
            f"{baseline:.0%} of the holdout rows also appear in the training table, so the holdout cannot stand for "
            "unseen rows (or every row of this table repeats by nature). Pass real rows split off before training."))
    reasons, level = [], GOOD
    if _beyond_chance(copies, baseline, n_syn, n_hold):
        reasons.append(f"{copies:.1%} of the synthetic rows are verbatim training rows, against {baseline:.1%} of "
                       "unseen real rows")
        level = POOR if copies - baseline > COPY_POOR_EXCESS else FAIR
    held, held_baseline = s.get("privacy.holdout_copies_share"), s.get("privacy.holdout_copies_share_train")
    if held is not None and held_baseline is not None and _beyond_chance(held, held_baseline, n_syn, rows.get("real") or 0):
        reasons.append(f"{held:.1%} of the synthetic rows are verbatim holdout rows, against {held_baseline:.1%} of the "
                       "training rows, more than chance matches explain: the synthetic table may hold real records the "
                       "model never trained on (or the training and holdout tables were swapped)")
        level = _worse(level, POOR if held - held_baseline > COPY_POOR_EXCESS else FAIR)
    for name, value in (("DCR share", share), ("membership-inference AUC", mia)):
        if value is not None and MEMBERSHIP.level(value) != GOOD:
            reasons.append(f"{name} {value:.3f} (0.5 when no training row is favoured)")
            level = _worse(level, MEMBERSHIP.level(value))
    low, high = s.get("privacy.domias_auc_low"), s.get("privacy.domias_auc_high")
    if low is not None and low > 0.5:  # the attack beats guessing beyond its own uncertainty
        auc = s["privacy.domias_auc"]
        reasons.append(f"the density-based membership attack (DOMIAS) tells training rows from unseen ones with AUC "
                       f"{auc:.3f} (95% interval {low:.3f}-{high:.3f}; 0.5 when it cannot)")
        level = _worse(level, POOR if auc > DOMIAS_POOR_AUC else FAIR)
    for name, label in ANONYMETER_ATTACKS.items():
        risk_low = s.get(f"privacy.{name}_low")
        if risk_low is not None and risk_low > 0:  # the interval excludes 0: beyond what the population explains
            value, high = s[f"privacy.{name}_risk"], s[f"privacy.{name}_high"]
            reasons.append(f"Anonymeter's {label} succeeds more on training rows than on unseen ones: risk {value:.3f} "
                           f"(95% interval {risk_low:.3f}-{high:.3f}; 0 when it does not)")
            level = _worse(level, POOR if value > ANONYMETER_POOR_RISK else FAIR)
    close = s.get("privacy.close_share")
    if close is not None and CLOSE_QUANTILE * n_hold >= CLOSE_MIN_TAIL_ROWS and CLOSE_SHARE.level(close) != GOOD:
        reasons.append(f"{close:.1%} of the synthetic rows sit closer to a training row than {1 - CLOSE_QUANTILE:.0%} of "
                       f"unseen real rows do ({CLOSE_QUANTILE:.0%} expected)")
        level = _worse(level, CLOSE_SHARE.level(close))
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
    if 0 < n_hold < SMALL_HOLDOUT_ROWS:
        text += f" The holdout has only {n_hold} rows, so these scores are noisy; use a larger one."
    return Verdict(level=level, headline=headline, text=text)


def verdicts(scores: Mapping[str, float], rows: Mapping[str, int | None] | None = None) -> dict[str, Verdict]:
    """Verdict per area (fidelity, detection, efficacy, privacy) that has scores: level, headline and text.

    `rows`: the row counts of the real, synthetic and holdout tables (as in EvaluationResult.details["rows"]).
    """
    out = {}
    rules = (("fidelity", _fidelity), ("detection", lambda s: _detection(s, rows or {})), ("efficacy", _efficacy),
             ("privacy", lambda s: _privacy(s, rows or {})))
    for area, rule in rules:
        verdict = rule(scores)
        if verdict is not None:
            out[area] = verdict
    return out
