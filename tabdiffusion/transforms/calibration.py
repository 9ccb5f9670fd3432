"""Per-column monotone maps that give the model's numeric codes the marginals of the training codes.

A diffusion model sampled in a few dozen steps draws numeric codes whose spread is too narrow (standard deviations
under the training codes' 1; docs/experiments.md, "Marginal calibration"), and a gradient-boosted detector sees
that at once. After training, `fit` compares the quantiles of a calibration sample of the model's own codes with
those of the training codes, column by column; `apply` maps each generated code through that quantile-to-quantile
map. The map is monotone, so every row keeps its ranks and the dependence between columns is untouched; it is
learned once per fit and applied row by row, so samples do not depend on the batch size. Missing entries (whose
codes carry no value) are left out of both sides.

Columns passed as `fixed` keep the identity map. The synthesizer fixes snapped columns (at most SNAP_MAX_VALUES
distinct values): inside one value's interval their codes are dequantisation noise, and stretching it moves rows to a
neighbouring value that a categorical column may contradict (adult's education-num, a copy of education, raised the
detection AUC when calibrated; docs/experiments.md, "Marginal calibration").

Where a single column is calibrated, its training quantiles are smoothed (Harrell-Davis) instead of interpolated
between the training values. Linear interpolation through every training value gives each gap between neighbouring
values the same share of generated rows, whatever its width, so narrow gaps get crowded: a fresh row lands in a gap
in proportion to its width. With two or more numeric columns a row's nearest training row depends on all of them and
this does not show; with one it is the whole distance, and a table of one numeric and one categorical column got a
DCR share well above fresh rows' and an early memorisation stop (docs/experiments.md, "Calibration of a single
numeric column").
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy.special import betainc

from ..deadline import Deadline, draw_until
from .protection import window_quantiles
from .table import Encoded, TableEncoder

QUANTILES = 1000  # quantile levels per column: (i + 0.5) / QUANTILES for i < QUANTILES
SMOOTH_MAX_VALUES = 2000  # Harrell-Davis weighs at most this many order statistics (quantiles of a longer column)


def _levels() -> np.ndarray:
    return (np.arange(QUANTILES) + 0.5) / QUANTILES


def smooth_quantiles(values: np.ndarray) -> np.ndarray:
    """(QUANTILES,) Harrell-Davis quantiles of `values`: each a Beta-weighted mean of the order statistics around it,
    so the quantile function is smooth instead of bending at every value (a column over SMOOTH_MAX_VALUES long is
    first summarised by that many quantiles)."""
    ordered = np.sort(values.astype(np.float64))
    if len(ordered) > SMOOTH_MAX_VALUES:
        ordered = np.quantile(ordered, (np.arange(SMOOTH_MAX_VALUES) + 0.5) / SMOOTH_MAX_VALUES)
    n, levels = len(ordered), _levels()[:, None]
    weights = np.diff(betainc((n + 1) * levels, (n + 1) * (1 - levels), np.arange(n + 1)[None, :] / n), axis=1)
    return weights @ ordered


def column_quantiles(codes: np.ndarray, observed: np.ndarray | None = None, smooth: np.ndarray | None = None,
                     window: int = 0) -> np.ndarray:
    """(QUANTILES, d) quantiles of each column over its observed entries; NaN for a column with none. Columns flagged
    in `smooth` (d,) get Harrell-Davis quantiles (smooth_quantiles); with `window` > 0 the others get means of that
    many order statistics (protection.window_quantiles), else linearly interpolated ones."""
    grid = np.full((QUANTILES, codes.shape[1]), np.nan)
    for j in range(codes.shape[1]):
        values = codes[:, j] if observed is None else codes[observed[:, j], j]
        if not len(values):
            continue
        if smooth is not None and smooth[j]:
            grid[:, j] = smooth_quantiles(values)
        elif window:
            grid[:, j] = window_quantiles(values, _levels(), window)
        else:
            grid[:, j] = np.quantile(values.astype(np.float64), _levels())
    return grid


def training_quantiles(training: np.ndarray, observed: np.ndarray | None = None, fixed: np.ndarray | None = None,
                       window: int = 0) -> np.ndarray:
    """The training side of a calibration, column_quantiles(training, observed), smoothed where one column is
    calibrated (not `fixed`): see the module docstring. `window` > 0 (value protection) makes every other quantile
    a mean of that many training codes, so that no stored quantile is the code of one training value."""
    calibrated = np.ones(training.shape[1], bool) if fixed is None else ~np.asarray(fixed, bool)
    return column_quantiles(training, observed, smooth=calibrated if calibrated.sum() == 1 else None, window=window)


class MarginalCalibration:
    """Quantile-to-quantile maps from generated codes (`source`) to training codes (`target`), (QUANTILES, d) each."""

    def __init__(self, source: np.ndarray, target: np.ndarray) -> None:
        self.source, self.target = np.asarray(source, np.float64), np.asarray(target, np.float64)

    @classmethod
    def fit(cls, generated: np.ndarray, training: np.ndarray, generated_observed: np.ndarray | None = None,
            training_observed: np.ndarray | None = None, fixed: np.ndarray | None = None,
            window: int = 0) -> "MarginalCalibration":
        """Learn the maps from the model's codes `generated` (m, d) to the training codes `training` (n, d).

        `fixed` (d,) marks columns to leave unchanged (identity map); `window` as in training_quantiles.
        """
        return cls.fit_to_quantiles(generated, training_quantiles(training, training_observed, fixed, window),
                                    generated_observed, fixed)

    @classmethod
    def fit_to_quantiles(cls, generated: np.ndarray, target: np.ndarray, generated_observed: np.ndarray | None = None,
                         fixed: np.ndarray | None = None) -> "MarginalCalibration":
        """As `fit`, with the training side given as `training_quantiles(training, training_observed, fixed)`, computed once
        by a caller that calibrates many samples against the same rows."""
        source, target = column_quantiles(generated, generated_observed), np.array(target, np.float64)
        identity = np.isnan(source).any(axis=0) | np.isnan(target).any(axis=0)  # no observed entries: leave as is
        if fixed is not None:
            fixed = np.asarray(fixed, bool)
            if fixed.shape != identity.shape:
                raise ValueError(f"fixed has shape {fixed.shape}; pass one flag per column, shape {identity.shape}")
            identity |= fixed
        # np.interp needs increasing knots: spread tied source quantiles (a spike of generated codes) minimally.
        source = np.maximum.accumulate(source + np.arange(QUANTILES)[:, None] * 1e-9, axis=0)
        source[:, identity] = target[:, identity] = np.linspace(-1.0, 1.0, QUANTILES)[:, None]
        return cls(source, target)

    def apply(self, codes: np.ndarray) -> np.ndarray:
        """Calibrated copy of `codes` (n, d): inside the quantile range interpolated, beyond it shifted with the end."""
        out = np.empty_like(codes)
        for j in range(codes.shape[1]):
            x, source, target = codes[:, j].astype(np.float64), self.source[:, j], self.target[:, j]
            mapped = np.interp(x, source, target)
            mapped = np.where(x < source[0], target[0] + (x - source[0]), mapped)
            out[:, j] = np.where(x > source[-1], target[-1] + (x - source[-1]), mapped)
        return out

    def invert(self, codes: np.ndarray, side: str = "left") -> np.ndarray:
        """Model codes that `apply` maps onto calibrated `codes` (n, d): side='left' gives the smallest such code,
        'right' the largest, which differ where the map is flat; so the interval [invert(lo, 'left'),
        invert(hi, 'right')] holds exactly the codes that apply maps into [lo, hi] (infinite bounds stay infinite)."""
        out = np.empty(codes.shape, np.float64)
        for j in range(codes.shape[1]):
            y, source, target = codes[:, j].astype(np.float64), self.source[:, j], self.target[:, j]
            i = np.searchsorted(target, y, side=side)
            inside = (i > 0) & (i < len(target))
            lower, upper = np.clip(i - 1, 0, len(target) - 1), np.clip(i, 0, len(target) - 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                slope = (source[upper] - source[lower]) / (target[upper] - target[lower])
                mapped = source[lower] + (y - target[lower]) * slope
            below, above = source[0] + (y - target[0]), source[-1] + (y - target[-1])
            out[:, j] = np.where(inside, mapped, np.where(i == 0, below, above))
        return out

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for the model file."""
        return {"source": self.source, "target": self.target}  # float64: float32 would re-tie spread knots

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> "MarginalCalibration":
        return cls(arrays["source"], arrays["target"])


# A fit's calibration (config.calibrate) learns from CALIBRATION_ROWS_PER_ROW of the model's codes per training row,
# between CALIBRATION_MIN_ROWS and CALIBRATION_MAX_ROWS; under a time budget it gets the last CALIBRATION_SHARE of
# it and stops drawing (after at least one batch) when the next batch would not fit. Where the sampler's speed is
# known and half the time left holds fewer rows than one batch of CALIBRATION_MIN_ROWS, the batches shrink to that
# (calibration_batch; at least CALIBRATION_FLOOR_ROWS), so a tiny budget is not overrun by the first batch.
CALIBRATION_ROWS_PER_ROW = 4
CALIBRATION_MIN_ROWS = 2_000
CALIBRATION_MAX_ROWS = 20_000
CALIBRATION_SHARE = 0.05
CALIBRATION_FLOOR_ROWS = 100


def calibration_batch(batch: int, seconds_left: float, seconds_per_row: float) -> int:
    """Rows per calibration draw: `batch`, or as many as half of `seconds_left` holds at `seconds_per_row` where that
    is fewer (at least CALIBRATION_FLOOR_ROWS; half, since a draw's rate is only estimated, and later draws go on
    while they fit). A budget that leaves room for two whole batches keeps them, so it draws the rows of no budget."""
    return max(min(batch, CALIBRATION_FLOOR_ROWS), min(batch, int(seconds_left / 2 / seconds_per_row)))


def fit_calibration(draw: Callable[[int], tuple[np.ndarray, np.ndarray]], training: np.ndarray,
                    training_observed: np.ndarray, fixed: np.ndarray, *, max_batch: int, deadline: Deadline,
                    seconds_per_row: float | None, window: int = 0) -> MarginalCalibration:
    """A fitted model's calibration: draw(n) gives n rows of its numeric codes and their observed mask, at most
    `max_batch` at a time (fewer rows if the deadline comes); the maps take them onto the `training` codes (`fixed`
    columns keep theirs; `window` as in training_quantiles).

    `seconds_per_row`, the sampler's cost measured during the fit (None: not measured), sizes the batches to the
    deadline; under a deadline without it, a first draw of CALIBRATION_FLOOR_ROWS rows measures it, and more rows are
    drawn only where the time left holds a batch.
    """
    rows = min(CALIBRATION_MAX_ROWS, max(CALIBRATION_MIN_ROWS, CALIBRATION_ROWS_PER_ROW * len(training)))
    batch = min(max_batch, CALIBRATION_MIN_ROWS)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    if deadline.end is not None and not seconds_per_row:
        began = time.perf_counter()
        parts.append(draw(CALIBRATION_FLOOR_ROWS))
        seconds_per_row = (time.perf_counter() - began) / CALIBRATION_FLOOR_ROWS
        rows -= CALIBRATION_FLOOR_ROWS
    if deadline.end is not None:
        batch = calibration_batch(batch, deadline.left(), seconds_per_row)
    if not parts or deadline.holds(batch * seconds_per_row):
        parts += draw_until([batch] * -(-rows // batch), deadline, draw)
    return MarginalCalibration.fit(np.concatenate([part[0] for part in parts]), training,
                                   np.concatenate([part[1] for part in parts]), training_observed, fixed=fixed,
                                   window=window)


def calibrate_model(sample: Callable[[int], Encoded], encoder: TableEncoder, encoded: Encoded, *, max_batch: int,
                    deadline: Deadline, seconds_per_row: float | None) -> MarginalCalibration:
    """fit_calibration for a fitted model whose sample(n) draws n rows of codes, onto the codes `encoded` of its
    training table: `encoder` says which numeric entries are observed, which columns are snapped (they keep their
    codes) and the value-protection window."""
    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        codes = sample(n)
        return codes.x_num, encoder.observed_numeric(codes.x_cat)

    return fit_calibration(draw, encoded.x_num, encoder.observed_numeric(encoded.x_cat), encoder.snapped_numeric(),
                           max_batch=max_batch, deadline=deadline, seconds_per_row=seconds_per_row,
                           window=encoder.protect_rows)
