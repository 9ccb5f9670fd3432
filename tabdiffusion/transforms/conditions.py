"""Conditions on column values -> what the sampler must satisfy in model space, and the exact values to write back.

A condition names a column and what its generated values must be:
- a value (`{"country": "AT", "age": 35}`): every row holds exactly that value;
- a range for numeric, integer and datetime columns (`{"age": (30, 40)}`, inclusive, None for an open end);
- a list of allowed levels for categorical and boolean columns (`{"country": ["AT", "DE"]}`);
- None: the value is missing (for a column that has missing values).
Per-row conditions come from a table of known cells (`known_rows`): each non-missing cell is that row's value.

`CodeConstraints` holds, per row or for all rows at once, bounds on every numeric code and the allowed levels of
every categorical code and of the class label; `fix` then writes fixed values back exactly (a pooled rare level, a
value with more decimals than the column keeps, a range's ends after rounding), so conditions hold in every row.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .categorical import RARE, CategoricalColumn, restore_dtype, to_json_value
from .numeric import NumericColumn
from .support import PairSupport, numeric_cells
from .table import TableEncoder

SHOWN_LEVELS = 20  # an error about an unknown level lists at most this many known ones


@dataclass
class CodeConstraints:
    """Bounds `low`, `high` (m, d_num) on the numeric codes (+-inf where free), allowed categorical levels
    `allowed` (m, sum K) and allowed classes `labels` (m, n_classes) or None; m is 1 (every row) or the row count.
    `fixes` rewrite decoded columns so that fixed values and ranges hold exactly (see module docstring)."""

    low: np.ndarray
    high: np.ndarray
    allowed: np.ndarray
    labels: np.ndarray | None
    known_num: np.ndarray  # (m, d_num) bool: numeric columns fixed to one value (their codes' interval)
    fixes: list[Callable[[dict[str, pd.Series]], None]] = field(default_factory=list)

    @property
    def per_row(self) -> bool:
        return len(self.low) > 1

    def rows(self, start: int, stop: int) -> "CodeConstraints":
        """The constraints of rows start..stop (a one-row set applies to every row and is returned as is)."""
        if not self.per_row:
            return self
        labels = None if self.labels is None else self.labels[start:stop]
        return CodeConstraints(self.low[start:stop], self.high[start:stop], self.allowed[start:stop], labels,
                               self.known_num[start:stop], self.fixes)

    @property
    def restricts_columns(self) -> bool:
        """Whether some numeric code has a bound or some categorical level is ruled out (the class aside)."""
        return bool(np.isfinite(self.low).any() or np.isfinite(self.high).any() or not self.allowed.all())

    def met_by(self, x_num: np.ndarray, x_cat: np.ndarray, category_sizes: list[int]) -> np.ndarray:
        """(n,) bool: which rows of model codes meet one-row constraints (every numeric code inside its bounds, every
        category at an allowed level)."""
        inside = ((x_num >= self.low) & (x_num <= self.high)).all(axis=1)
        if not category_sizes:
            return inside
        return inside & self.allowed[0][x_cat + level_offsets(category_sizes)].all(axis=1)

    def fix(self, columns: dict[str, pd.Series]) -> None:
        """Write fixed values and range ends into the decoded `columns` (TableEncoder.decode's `adjust` hook)."""
        for fix in self.fixes:
            fix(columns)


def _free(encoder: TableEncoder, m: int) -> CodeConstraints:
    """Constraints that allow everything, for m rows."""
    d_num, width = len(encoder.numeric_), sum(encoder.category_sizes)
    labels = np.ones((m, encoder.n_classes), bool) if encoder.label_ is not None else None
    return CodeConstraints(np.full((m, d_num), -np.inf), np.full((m, d_num), np.inf), np.ones((m, width), bool), labels,
                           np.zeros((m, d_num), bool))


def level_offsets(category_sizes: list[int]) -> np.ndarray:
    """Where each categorical column's levels start in the flat (sum K) level order."""
    return np.concatenate([[0], np.cumsum(category_sizes)])[:-1].astype(int)


def _shown(values: list) -> str:
    shown = ", ".join(repr(v) for v in values[:SHOWN_LEVELS])
    return shown + (f", ... ({len(values)} in all)" if len(values) > SHOWN_LEVELS else "")


# ---------------------------------------------------------------------------------------------- single conditions
def _level_codes(column: CategoricalColumn, name: str, wanted: list) -> tuple[list[int], list]:
    """Codes of the wanted levels and the wanted values that sit in the pooled rare level."""
    index = column.named_codes()
    rare = list(column.rare_values_)
    codes, pooled = [], []
    for value in wanted:
        value = to_json_value(value)
        if value in index:
            codes.append(index[value])
        elif value in rare:
            codes.append(column.levels_.index(RARE))
            pooled.append(value)
        else:
            known = column.known_values()
            what = "has no missing values" if value is None else f"never holds {value!r} ({type(value).__name__})"
            raise ParameterError(f"conditions[{name!r}]: the column {what} in training. Known levels: {_shown(known)}.")
    return codes, pooled


def _pooled_fix(name: str, column: CategoricalColumn, pooled: list, rng: np.random.Generator) -> Callable:
    """A fix that redraws, among the wanted values pooled in the rare level, any decoded value outside the wanted set
    (the rare level decodes to any of its values), by their training frequencies."""
    weights = np.array([column.rare_weights_[column.rare_values_.index(v)] for v in pooled])
    weights = weights / weights.sum()

    def fix(columns: dict[str, pd.Series]) -> None:
        series = columns[name]
        wanted = set(pooled) | set(column.named_codes())
        outside = ~series.map(lambda v: to_json_value(v) in wanted).to_numpy()
        if outside.any():
            values = series.astype(object).to_numpy().copy()
            values[outside] = np.array(pooled + [None], dtype=object)[:-1][rng.choice(len(pooled), int(outside.sum()), p=weights)]
            columns[name] = restore_dtype(values, column.dtype, name, column.dtype_categories_, column.ordered_)

    return fix


def _as_raw(column: NumericColumn, name: str, value: object) -> float:
    """A condition's value for a numeric, integer or datetime column as the float the model's codes come from."""
    if column.kind == "datetime":
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError):
            raise ParameterError(f"conditions[{name!r}] = {value!r} is not a date or time; pass a datetime or an ISO "
                                 "8601 string.") from None
        if column.tz_ is not None:
            stamp = stamp.tz_localize(column.tz_) if stamp.tz is None else stamp.tz_convert(column.tz_)
        return float(column.to_float(pd.Series([stamp]))[0])
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value):
        raise ParameterError(f"conditions[{name!r}] = {value!r} is not a finite number; the column is {column.kind}.")
    return float(value)


def _describe(column: NumericColumn, raw: float) -> str:
    return str(column.from_float(np.array([raw]), keep_range=False).iloc[0])


def _numeric_bounds(column: NumericColumn, name: str, condition: object) -> tuple[float, float, bool]:
    """The raw interval [low, high] a value or range condition allows, and whether it is one fixed value."""
    if isinstance(condition, tuple):
        if len(condition) != 2:
            raise ParameterError(f"conditions[{name!r}] = {condition!r}: a range is a pair (low, high); use None for an "
                                 "open end.")
        low = -np.inf if condition[0] is None else _as_raw(column, name, condition[0])
        high = np.inf if condition[1] is None else _as_raw(column, name, condition[1])
        if low > high:
            raise ParameterError(f"conditions[{name!r}] = {condition!r} is an empty range (low above high).")
        unit = 1.0 if column.kind == "integer" else column.resolution_ or (
            10.0 ** -column.decimals_ if column.decimals_ is not None else None)
        if unit is not None:  # the range's ends on the grid that decoding rounds to, so rounding cannot leave it
            low, high = _on_grid(low, unit, up=True), _on_grid(high, unit, up=False)
        if column.snap_values_ is not None:
            grid = np.asarray(column.snap_values_)
            inside = grid[(grid >= low) & (grid <= high)]
            low, high = (inside.min(), inside.max()) if len(inside) else (np.inf, -np.inf)
        if low > high or high < column.min_ or low > column.max_:
            raise ParameterError(
                f"conditions[{name!r}] = {condition!r} holds no value the column takes in training (from "
                f"{_describe(column, column.min_)} to {_describe(column, column.max_)}"
                + (f", {len(column.snap_values_)} distinct values" if column.snap_values_ is not None else "") + ")."
            )
        return max(low, column.min_), min(high, column.max_), False
    if isinstance(condition, (list, set, frozenset)):
        raise ParameterError(f"conditions[{name!r}]: a list of levels applies to categorical columns; {name!r} is "
                             f"{column.kind}: pass one value or a range (low, high).")
    raw = _as_raw(column, name, condition)
    if not column.min_ <= raw <= column.max_:
        raise ParameterError(f"conditions[{name!r}] = {condition!r} is outside the column's training range, "
                             f"{_describe(column, column.min_)} to {_describe(column, column.max_)}: the model cannot "
                             "generate it. Pass a value inside it.")
    return raw, raw, True


def _on_grid(bound: float, unit: float, up: bool) -> float:
    """The grid value (a multiple of `unit`, which decoding rounds to) nearest to `bound` inside the range: the
    smallest one >= bound for a low end (`up`), the largest one <= bound for a high end. Float noise in a bound
    (29.630000000000003 for 29.63) is read as the grid value first, then checked, so every decoded value compares
    inside the bound the caller passed."""
    if not np.isfinite(bound):
        return bound
    steps = np.ceil(bound / unit - 1e-9) if up else np.floor(bound / unit + 1e-9)
    value = float(np.round(steps * unit, 12))
    if up and value < bound:
        value = float(np.round((steps + 1) * unit, 12))
    elif not up and value > bound:
        value = float(np.round((steps - 1) * unit, 12))
    return value


def _value_fix(name: str, column: NumericColumn, value: object) -> Callable:
    """A fix that writes one fixed value into every row, in the column's dtype."""
    def fix(columns: dict[str, pd.Series]) -> None:
        series = columns[name]
        columns[name] = with_values(series, np.ones(len(series), bool), value)

    return fix


def _range_fix(name: str, column: NumericColumn, low: float, high: float) -> Callable:
    """A fix that clips the decoded values (already rounded or snapped inside the range's codes) to [low, high]."""
    def fix(columns: dict[str, pd.Series]) -> None:
        series = columns[name]
        raw = column.to_float(series)
        outside = (raw < low) | (raw > high)
        if outside.any():
            clipped = column.from_float(np.clip(raw, low, high), np.isnan(raw))
            columns[name] = series.where(~outside, clipped)

    return fix


def with_values(series: pd.Series, where: np.ndarray, values: object) -> pd.Series:
    """`series` with `values` (a scalar or an aligned array) written into the rows `where`, keeping its dtype."""
    out = series.astype(object).to_numpy().copy()
    out[where] = values if np.ndim(values) == 0 else np.asarray(values, dtype=object)[where]
    try:
        return pd.Series(out, name=series.name).astype(series.dtype)
    except (TypeError, ValueError):
        return pd.Series(out, name=series.name)


# ------------------------------------------------------------------------------------------------ whole requests
def from_conditions(encoder: TableEncoder, conditions: Mapping[str, object], calibration, rng: np.random.Generator,
                    support: PairSupport | None = None) -> CodeConstraints:
    """One set of constraints for every row from `conditions` (see module docstring); `calibration` (or None) is the
    fit's marginal calibration, through which numeric bounds are mapped back to the model's own codes. With the
    training table's `support`, a combination no training row shows is reported in a UserWarning (rows are still
    generated: the model's best estimate)."""
    if not isinstance(conditions, Mapping):
        raise ParameterError(f"conditions must map column names to values, e.g. {{'country': 'AT', 'age': (30, 40)}}; "
                             f"got {type(conditions).__name__}.")
    out = _free(encoder, 1)
    names = encoder.schema.names
    numeric = {c.name: i for i, c in enumerate(encoder.numeric_)}
    categorical = {c.name: i for i, c in enumerate(encoder.categorical_)}
    indicators = {c.name: len(encoder.categorical_) + i for i, c in enumerate(encoder.missing_indicators)}
    derived = {c.name: c for c in encoder.derived_}
    offsets = level_offsets(encoder.category_sizes)
    for name, condition in conditions.items():
        if name not in names:
            raise ParameterError(f"conditions names {name!r}, which is not a column. Columns are: {_shown(names)}.")
        kind = encoder.schema[name].kind
        if name in derived:  # read off its source category: condition the source on the levels that give the value
            source = derived[name]
            values = np.asarray(source.values_, dtype=np.float64)
            if condition is None:
                raise ParameterError(f"conditions[{name!r}] = None: the column has no missing values in training.")
            low, high, _ = _numeric_bounds(source.column, name, condition)
            levels = [level for level, value in zip(source.levels_, values) if low <= value <= high]
            _restrict_levels(out, encoder, categorical, offsets, source.source, levels, rng)
            continue
        if name == encoder.target and encoder.label_ is not None:
            wanted = condition if isinstance(condition, (list, set, frozenset, tuple)) else [condition]
            codes, _ = _level_codes(encoder.label_, name, list(wanted))
            mask = np.zeros(encoder.n_classes, bool)
            mask[codes] = True
            out.labels &= mask
            continue
        if name in numeric:
            column, j = encoder.numeric_[numeric[name]], numeric[name]
            if condition is None:
                if name not in indicators:
                    raise ParameterError(f"conditions[{name!r}] = None asks for missing values, but the column has none "
                                         "in training.")
                _allow(out, offsets, indicators[name], [1], 2)
                continue
            low, high, fixed = _numeric_bounds(column, name, condition)
            lower, upper = encoder.code_interval(j, np.array([low, high]))
            out.low[0, j], out.high[0, j] = lower[0], upper[1]  # each column is named once: nothing to intersect
            out.known_num[0, j] = fixed
            if name in indicators:
                _allow(out, offsets, indicators[name], [0], 2)
            out.fixes.append(_value_fix(name, column, condition) if fixed else _range_fix(name, column, low, high))
            continue
        if name in categorical:
            _restrict_levels(out, encoder, categorical, offsets, name,
                             list(condition) if isinstance(condition, (list, set, frozenset, tuple)) else [condition], rng)
            continue
        if kind == "id":
            raise ParameterError(f"conditions[{name!r}]: {name!r} is an identifier, generated fresh for every row so that "
                                 "no real key leaks; it cannot be conditioned on.")
        if kind == "constant":
            value = next(c for c in encoder.unmodelled_ if c.name == name).value_
            if to_json_value(condition) != value:
                raise ParameterError(f"conditions[{name!r}] = {condition!r}: the column holds one value, {value!r}, in "
                                     "every training row, so no other value can be generated.")
            continue
        raise ParameterError(f"conditions[{name!r}]: {name!r} is computed from other numeric columns; condition on "
                             "those instead.")
    if out.labels is not None and not out.labels.any():
        raise ParameterError("conditions on the target allow no class.")
    if support is not None:
        _warn_if_unseen(encoder, out, support)
    return _uncalibrated(out, calibration)


def _warn_if_unseen(encoder: TableEncoder, out: CodeConstraints, support: PairSupport) -> None:
    """Warn, naming the columns, when some pair of the conditioned columns never occurs together in training
    (transforms/support.py; bounds are on calibrated codes here, the training codes' scale)."""
    allowed: list[np.ndarray | None] = []
    for j in range(len(encoder.numeric_)):
        low, high = out.low[0, j], out.high[0, j]
        if np.isfinite(low) or np.isfinite(high):
            mask = np.zeros(int(support.sizes[j]), bool)
            mask[int(numeric_cells(low)) : int(numeric_cells(high)) + 1] = True
            allowed.append(mask)
        else:
            allowed.append(None)
    for start, size in zip(level_offsets(encoder.category_sizes), encoder.category_sizes):
        levels = out.allowed[0, start : start + size]
        allowed.append(None if levels.all() else levels)
    if out.labels is not None:
        allowed.append(None if out.labels[0].all() else out.labels[0])
    names = ([c.name for c in encoder.numeric_] + [c.name for c in encoder.categorical_]
             + [f"{c.name} (missing or not)" for c in encoder.missing_indicators] + [encoder.target] * (out.labels is not None))
    unseen = support.unseen(allowed)
    if unseen:
        pairs = "; ".join(f"{names[i]!r} with {names[j]!r}" for i, j in unseen[:5])
        warnings.warn(f"No training row has the requested values of {pairs}, so these rows are the model's estimate "
                      "for a combination the data never shows.", UserWarning, stacklevel=4)


def _uncalibrated(out: CodeConstraints, calibration) -> CodeConstraints:
    """`out` with its numeric bounds, set on calibrated codes, mapped back to the model's own codes through the fit's
    marginal calibration (None: none); infinite (free) bounds stay infinite."""
    if calibration is not None:
        out.low, out.high = calibration.invert(out.low, "left"), calibration.invert(out.high, "right")
    return out


def _allow(out: CodeConstraints, offsets: np.ndarray, column: int, codes: list[int], size: int) -> None:
    """Keep only `codes` among the allowed levels of categorical column `column` (intersected with what was allowed)."""
    keep = np.zeros(size, bool)
    keep[codes] = True
    start = offsets[column]
    out.allowed[:, start : start + size] &= keep
    if not out.allowed[:, start : start + size].any(axis=1).all():
        raise ParameterError("conditions contradict each other: they allow no level of one column.")


def _restrict_levels(out: CodeConstraints, encoder: TableEncoder, categorical: dict[str, int], offsets: np.ndarray,
                     name: str, wanted: list, rng: np.random.Generator) -> None:
    """Allow only the `wanted` levels of categorical column `name`."""
    if not wanted:
        raise ParameterError(f"conditions[{name!r}] is an empty list of levels; list at least one.")
    column = encoder.categorical_[categorical[name]]
    codes, pooled = _level_codes(column, name, wanted)
    _allow(out, offsets, categorical[name], codes, column.n_levels)
    if pooled:
        out.fixes.append(_pooled_fix(name, column, pooled, rng))


def known_rows(encoder: TableEncoder, known: pd.DataFrame, calibration, values_only: bool) -> CodeConstraints:
    """Per-row constraints from a table's non-missing cells: numeric cells fix their codes' interval, categorical
    cells their level (a level unseen in training constrains nothing). With `values_only`, a missing cell must be
    generated as a value, not as missing (imputation); else it is generated freely."""
    n = len(known)
    out = _free(encoder, n)
    offsets = level_offsets(encoder.category_sizes)
    indicators = {c.name: len(encoder.categorical_) + i for i, c in enumerate(encoder.missing_indicators)}
    for j, column in enumerate(encoder.numeric_):
        if column.name not in known.columns:
            continue
        raw = column.to_float(known[column.name])
        present = ~np.isnan(raw)
        low, high = encoder.code_interval(j, np.where(present, raw, 0.0))
        out.low[present, j], out.high[present, j] = low[present], high[present]
        out.known_num[present, j] = True
        if column.name in indicators:  # level 1 is "missing": allowed only for a missing cell generated freely
            out.allowed[:, offsets[indicators[column.name]] + 1] = ~present & (not values_only)
    for i, column in enumerate(encoder.categorical_):
        if column.name not in known.columns:
            continue
        index = column.named_codes()
        rare = column.levels_.index(RARE) if RARE in column.levels_ else None
        values = known[column.name].map(to_json_value)
        present = values.notna().to_numpy()
        codes = np.array([index.get(v, rare if v in column.rare_values_ else -1) if p else -1
                          for v, p in zip(values, present)])
        start = offsets[i]
        fixed = codes >= 0
        block = np.zeros((int(fixed.sum()), column.n_levels), bool)
        block[np.arange(len(block)), codes[fixed]] = True
        out.allowed[fixed, start : start + column.n_levels] = block
        if values_only and None in index:  # a missing cell is filled with a value
            out.allowed[~present, start + index[None]] = False
    if encoder.label_ is not None and encoder.target in known.columns:
        index = {level: code for code, level in enumerate(encoder.label_.levels_)}
        codes = np.array([index.get(to_json_value(v), -1) for v in known[encoder.target]])
        fixed = codes >= 0
        out.labels[fixed] = False
        out.labels[np.flatnonzero(fixed), codes[fixed]] = True
    return _uncalibrated(out, calibration)


def from_text(encoder: TableEncoder, text: str) -> tuple[str, object]:
    """One condition written as text, `COLUMN=VALUE` (the CLI's --where): `low..high` is a range (either end may be
    empty), `a,b` a list of levels, an empty value a missing one; values are read as the column's kind, and levels
    are matched to the training levels by their text."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ParameterError(f"--where {text!r} is not COLUMN=VALUE, e.g. country=AT, age=30..40 or country=AT,DE.")
    if name not in encoder.schema.names:
        raise ParameterError(f"--where names {name!r}, which is not a column. Columns are: {_shown(encoder.schema.names)}.")
    kind = encoder.schema[name].kind
    if value == "":
        return name, None
    if kind in ("numeric", "integer", "datetime"):
        def read(part: str) -> object:
            if part.strip() == "":
                return None
            if kind == "datetime":
                return part.strip()
            try:
                number = float(part)
            except ValueError:
                raise ParameterError(f"--where {text!r}: {part!r} is not a number; {name!r} is {kind}.") from None
            return int(number) if kind == "integer" and number.is_integer() else number

        if ".." in value:
            low, _, high = value.partition("..")
            return name, (read(low), read(high))
        return name, read(value)
    levels = _text_levels(encoder, name)
    parts = value.split(",")
    unknown = [p for p in parts if p not in levels]
    if unknown:
        raise ParameterError(f"--where {text!r}: {unknown[0]!r} is not a level of {name!r}. Known levels: "
                             f"{_shown(list(levels))}.")
    values = [levels[p] for p in parts]
    return name, values[0] if len(values) == 1 else values


def _text_levels(encoder: TableEncoder, name: str) -> dict[str, object]:
    """A categorical, boolean or constant column's training levels by their text (missing left out)."""
    if encoder.label_ is not None and name == encoder.target:
        column = encoder.label_
    else:
        column = next((c for c in encoder.categorical_ if c.name == name), None)
    if column is None:
        constant = next((c for c in encoder.unmodelled_ if c.name == name), None)
        return {} if constant is None or getattr(constant, "value_", None) is None else {str(constant.value_): constant.value_}
    values = column.known_values()
    levels = {str(v): v for v in values if v is not None}
    return {**levels, **{str(v).lower(): v for v in values if isinstance(v, bool)}}  # true / false for booleans
