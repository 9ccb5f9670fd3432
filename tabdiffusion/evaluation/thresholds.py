"""The lines between the verdicts' levels, defined once: verdicts.py grades with them, the HTML report states them,
and a test holds docs/metrics.md to them."""

from __future__ import annotations

import math
from dataclasses import dataclass

GOOD, FAIR, POOR, UNKNOWN = "good", "fair", "poor", "not assessed"


@dataclass(frozen=True)
class Band:
    """Two lines on one score: good up to `good` (from it, where higher is better), fair up to `fair`, poor beyond."""

    good: float
    fair: float
    higher_is_better: bool = False

    def level(self, value: float) -> str:
        """GOOD, FAIR or POOR for `value`."""
        passes = (lambda line: value >= line) if self.higher_is_better else (lambda line: value <= line)
        return GOOD if passes(self.good) else FAIR if passes(self.fair) else POOR


# Fidelity: the mean of fidelity.column_shapes and fidelity.column_pair_trends.
FIDELITY = Band(good=0.9, fair=0.8, higher_is_better=True)
# Detection: detection.gbm_auc, 0.5 when the classifier cannot tell the tables apart.
DETECTION = Band(good=0.6, fair=0.8)
# ML efficacy: efficacy.ratio_mean, synthetic-trained over real-trained scores on the holdout.
EFFICACY = Band(good=0.9, fair=0.75, higher_is_better=True)

# A detection AUC this far below 0.5 means the classifier finds synthetic rows on top of real ones: copies. On small
# tables an honest pair's cross-validated AUC swings widely, so the line also sits COPY_AUC_NULL_SDS standard
# deviations of a no-difference AUC below 0.5 where that is lower (docs/metrics.md, "Verdicts").
COPY_AUC = 0.35
COPY_AUC_NULL_SDS = 5.0

# Privacy: privacy.dcr_share and privacy.mia_auc, each 0.5 when no training row is favoured.
MEMBERSHIP = Band(good=0.55, fair=0.6)
# privacy.close_share counts synthetic rows closer to a training row than all but this share of holdout rows, so rows
# drawn like unseen real ones give this share.
CLOSE_QUANTILE = 0.01
CLOSE_SHARE = Band(good=0.03, fair=0.10)
# close_share is graded only where the holdout's CLOSE_QUANTILE rests on this many holdout rows or more; below that
# the cut-off is about the single closest holdout row and the share swings widely on honest data.
CLOSE_MIN_TAIL_ROWS = 10
# Exact copies (of training rows, or of holdout rows) count against privacy when they exceed the chance matches by
# more than COPY_SIGMAS binomial standard errors of the difference, or, where chance matches are rarer than
# RARE_CHANCE (too rare for a small table to measure their error), by more than RARE_CHANCE_MARGIN; poor beyond
# COPY_POOR_EXCESS. A fixed margin everywhere would flag honest samples of tables whose rows repeat by nature.
COPY_SIGMAS = 3.0
RARE_CHANCE = 0.01
RARE_CHANCE_MARGIN = 0.01
COPY_POOR_EXCESS = 0.05
# Without a holdout, privacy is poor when more than this share of the synthetic rows are verbatim training rows.
NO_HOLDOUT_POOR_COPIES = 0.05
# A holdout of which more than this share also appears in the training table cannot stand for unseen rows.
HOLDOUT_OVERLAP_UNUSABLE = 0.9
# DOMIAS counts against privacy when its interval lies above 0.5 (guessing); poor above this AUC.
DOMIAS_POOR_AUC = 0.6
# Anonymeter's risks count when their interval lies above 0; poor above this risk (a tenth of the attacker's room for
# improvement given away by the training rows alone).
ANONYMETER_POOR_RISK = 0.10
# The privacy verdict calls a holdout of fewer rows than this too small: its scores are noisy.
SMALL_HOLDOUT_ROWS = 200

# The report lists a column whose missing rates (real and synthetic) differ by more than this.
MISSING_RATE_TOLERANCE = 0.01


def copy_auc_limit(rows_per_side: int | None) -> float:
    """Detection AUC under which synthetic rows count as copies, for a detector that saw `rows_per_side` rows of each."""
    if not rows_per_side:
        return COPY_AUC
    n = float(rows_per_side)
    return min(COPY_AUC, 0.5 - COPY_AUC_NULL_SDS * math.sqrt((2.0 * n + 1.0) / (12.0 * n * n)))


def copy_auc_full_rows() -> int:
    """Rows per side from which copy_auc_limit is COPY_AUC itself; below them the null's spread lowers it."""
    # (0.5 - COPY_AUC) / COPY_AUC_NULL_SDS = sqrt((2n + 1) / (12 n^2)), solved for n.
    d2 = ((0.5 - COPY_AUC) / COPY_AUC_NULL_SDS) ** 2
    return math.ceil((2.0 + math.sqrt(4.0 + 48.0 * d2)) / (24.0 * d2))


def close_share_min_holdout() -> int:
    """Holdout rows from which privacy.close_share is graded (its quantile then rests on CLOSE_MIN_TAIL_ROWS rows)."""
    return math.ceil(CLOSE_MIN_TAIL_ROWS / CLOSE_QUANTILE)
