"""A memorisation signal that needs no holdout, for stopping a fit before it copies rows.

The proximity ratio is the median distance from a generated row to its closest training row over the median
distance from a training row to its closest *other* training row, both in the evaluation's DCR geometry (min-max
numerics, one-hot/sqrt(2) categories). Rows drawn like fresh real rows give about 1; a model that reproduces its
training rows gives much less (docs/experiments.md, "A signal that needs no holdout").

The sampled rows are scored after the marginal calibration the finished model applies (calibration.py), fitted to
these rows themselves. A few-step sampler draws numeric marginals that are too narrow, so its rows crowd into the
dense middle of the table, where every row has close neighbours: uncalibrated, the ratio of a fit whose rows are not
copies can drift below the stop's line, while calibrated it stays at or above a fresh holdout's. Calibration moves
a copied row only as far as the copies' marginals differ from the training rows', so copies still score low
(docs/experiments.md, "The memorisation stop" and "The stop scores calibrated rows").

A barely trained model can score low too, by piling its rows onto a few training rows (its clipped codes decode to a
column's training minimum or maximum). Copying reaches many training rows, so the diversity says which it is: how
many distinct training rows are nearest to the generated rows, over how many are nearest to as many training rows
(each leaving itself out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from .dcr import embed_rows
from .neighbours import nearest
from .transforms.calibration import MarginalCalibration, training_quantiles
from .transforms.table import Encoded, TableEncoder

# The reference holds at most this many training rows (a random subset beyond it), so a check costs a bounded amount
# of memory and time; the leave-one-out median uses at most LOO_ROWS of them.
REFERENCE_MAX_ROWS = 20_000
LOO_ROWS = 2_000

# The memorisation stop (config.min_proximity): PROXIMITY_CHECKS evenly spaced checks per fit, each scoring
# PROXIMITY_ROWS sampled rows against the training rows. The checks draw from their own random stream, so a fit that
# the stop never ends is the same, weight for weight, as one without checks.
PROXIMITY_CHECKS = 10
PROXIMITY_ROWS = 500
# A check fails only where the sampled rows are close (proximity below min_proximity) to many training rows: at least
# MIN_DIVERSITY times as many distinct nearest training rows as real rows have. Fewer is a barely trained model
# piling its rows onto a few (see the module docstring).
MIN_DIVERSITY = 0.5

_Model = TypeVar("_Model")


def reference_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    """Which of n training rows a reference holds: all, or REFERENCE_MAX_ROWS of them at random (sorted)."""
    return np.sort(rng.choice(n, REFERENCE_MAX_ROWS, replace=False)) if n > REFERENCE_MAX_ROWS else np.arange(n)


class ProximityReference:
    """The training rows' embedding and their leave-one-out nearest distance, against which samples are scored."""

    def __init__(self, encoder: TableEncoder, training: Encoded, rng: np.random.Generator) -> None:
        """`training`: the codes (not dequantised) of the reference's rows, at most REFERENCE_MAX_ROWS (reference_rows)."""
        self.encoder = encoder
        numeric = encoder.numeric_
        self._low = np.array([c.min_ for c in numeric])
        self._span = np.array([c.max_ - c.min_ if c.max_ > c.min_ else 1.0 for c in numeric])
        self._fill = np.array([float(np.interp(0.5, encoder.quantile_.references_, encoder.quantile_.quantiles_[:, j]))
                               for j in range(len(numeric))]) if numeric else np.zeros(0)
        self._rows = self.embed(training)
        self._quantiles = training_quantiles(training.x_num, encoder.observed_numeric(training.x_cat), encoder.snapped_numeric())
        probe = rng.choice(len(self._rows), min(LOO_ROWS, len(self._rows)), replace=False)
        distances, index = nearest(self._rows[probe], self._rows, 2)
        # Leave-one-out: each probe row finds itself (or an exact duplicate) first; its second neighbour is the other row.
        self.loo_distance = float(np.median(distances[:, 1])) if distances.shape[1] == 2 else 0.0
        others = np.where(index[:, 0] == probe, index[:, -1], index[:, 0])  # the nearest row that is not the probe itself
        first_seen = np.zeros(len(others), dtype=np.int64)
        first_seen[np.unique(others, return_index=True)[1]] = 1
        self._distinct_real = np.cumsum(first_seen)  # [q - 1]: distinct nearest rows of the first q probe rows

    @property
    def usable(self) -> bool:
        """False where most training rows have an exact duplicate (or there is one row): the ratio is then undefined."""
        return self.loo_distance > 0

    def embed(self, encoded: Encoded) -> np.ndarray:
        """Model codes (not dequantised, or sampled) -> float32 vectors whose L2 distances are DCR distances, between
        the values that decode would write (clipped, rounded, snapped)."""
        encoder = self.encoder
        raw = np.zeros((len(encoded.x_num), 0))
        if encoder.numeric_:
            raw = encoder.quantile_.inverse_transform(encoded.x_num.astype(np.float64))
            raw = np.column_stack([column.rounded(raw[:, j]) for j, column in enumerate(encoder.numeric_)])  # as decoded
        # A numeric column's missing indicator is one of the codes (two levels), so it adds distance 1 as in evaluate.
        missing = ~encoder.observed_numeric(encoded.x_cat)
        sizes = encoder.category_sizes + ([encoder.n_classes] if encoded.y is not None else [])
        codes = encoded.x_cat if encoded.y is None else np.column_stack([encoded.x_cat, encoded.y])
        # float32 throughout: wide tables stay small.
        return embed_rows(raw, missing, self._low, self._span, self._fill, codes, sizes, dtype=np.float32)

    def calibrated(self, sampled: Encoded) -> Encoded:
        """`sampled` with its numeric codes mapped onto the training marginals (snapped columns as they are)."""
        if not self.encoder.numeric_:
            return sampled
        calibration = MarginalCalibration.fit_to_quantiles(sampled.x_num, self._quantiles,
                                                           self.encoder.observed_numeric(sampled.x_cat),
                                                           self.encoder.snapped_numeric())  # as the fit's calibration
        return Encoded(calibration.apply(sampled.x_num), sampled.x_cat, sampled.y)

    def score(self, sampled: Encoded) -> dict[str, float]:
        """proximity: the median nearest-training-row distance of the calibrated `sampled` over the training rows'
        leave-one-out median; diversity: the distinct nearest training rows of its first q rows over those of q
        training rows."""
        distances, index = nearest(self.embed(self.calibrated(sampled)), self._rows, 1)
        q = min(len(index), len(self._distinct_real))
        return {"proximity": float(np.median(distances[:, 0]) / self.loo_distance),
                "diversity": len(np.unique(index[:q, 0])) / float(self._distinct_real[q - 1])}


def memorisation_checks(
    encoder: TableEncoder, df: pd.DataFrame, encoded: Encoded, *, dequantized: bool, min_proximity: float, steps: int,
    seed: int, draw: Callable[[_Model, int], Encoded],
) -> tuple[frozenset[int], Callable[[_Model], dict[str, float]], Callable[[dict[str, float]], bool]] | None:
    """The memorisation stop's checks for a fit of `steps` steps on `df` (encoded as `encoded`), as training.Checks
    takes them (steps, probe, passes): PROXIMITY_CHECKS evenly spaced scores of the PROXIMITY_ROWS rows that
    draw(model, n) samples. None when min_proximity is 0 or the ratio is undefined (most training rows repeat exactly)."""
    if not min_proximity:
        return None
    rng = np.random.default_rng([seed, 2])
    rows = reference_rows(len(df), rng)
    # Distances between the rows' own values, so not the dequantised codes: only the reference's rows are encoded again.
    plain = encoder.encode(df.iloc[rows]) if dequantized else encoded.take(rows)
    reference = ProximityReference(encoder, plain, rng)
    if not reference.usable:
        return None

    def probe(model: _Model) -> dict[str, float]:
        return reference.score(draw(model, PROXIMITY_ROWS))

    def passes(values: dict[str, float]) -> bool:  # too close to too many training rows fails
        return values["proximity"] >= min_proximity or values["diversity"] < MIN_DIVERSITY

    at = frozenset(max(1, round(i * steps / PROXIMITY_CHECKS)) for i in range(1, PROXIMITY_CHECKS + 1))
    return at, probe, passes


def sampler_seconds_per_row(checks: list[dict[str, float]]) -> float | None:
    """The sampler's seconds per row as the quickest memorisation check of a fit (its History.checks) measured it
    (sampling and scoring PROXIMITY_ROWS rows, so an upper bound); None without checks."""
    timed = [check["seconds"] for check in checks]
    return min(timed) / PROXIMITY_ROWS if timed else None
