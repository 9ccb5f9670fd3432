"""A differentially private sketch of a table: every column drawn on its own from noisy histograms of the data.

Under `dp_epsilon` the table encoder is fitted on this sketch instead of the data, so that what the encoder keeps
(quantile tables, ranges, category sets and frequencies, missing rates, class frequencies) is post-processing of
the noisy histograms and covered by their privacy guarantee. The histograms are released with the Gaussian
mechanism in two rounds, accounted in zero-concentrated DP (zCDP):
- round 1: one histogram per column: a categorical or boolean column's levels (missing values a level of their
  own), a numeric, integer or datetime column's magnitudes (bins by sign and power of two), from which its range is
  read;
- round 2: one histogram per numeric column on that range (histogram_bins: as many as the noise allows, up to
  HISTOGRAM_BINS, as many in each power of two of the range, so that a skewed column keeps its resolution where its
  values are; one bin per value for an integer column with a narrow range; and one bin for missing values).
Each row adds one count to each histogram of a round, so a round over k histograms has L2 sensitivity sqrt(k); with
noise sd sigma the two rounds are ((k1 + k2) / (2 sigma^2))-zCDP. A categorical level is kept only where its noisy
count passes a threshold set so that a level held by a single row appears with probability at most delta_threshold
over all columns; the other levels become one pooled level (decoded as value protection decodes it). Column kinds
come from the dtypes alone (pandas' bool, integer, float, datetime; anything else is categorical), since reading
values to tell a key or a constant column would use the data outside the budget; column_types overrides them.
PrivateFit gathers what a private fit prepares from the table before it trains: its budget, schema, task and sketch.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.special import ndtri

from ..dp import PrivacyBudget, zcdp_rho
from ..errors import ParameterError
from ..schema import NUMERIC_KINDS, ColumnSpec, TableSchema, infer_schema
from .categorical import to_json_value
from .numeric import NumericColumn
from .stats import dtype_kind
from .table import TableEncoder
from .unmodelled import exact_integers

HISTOGRAM_BINS = 256  # round 2's most bins per numeric column on its range (an integer column of at most this many values: one per value)
ROWS_PER_BIN_SIGMAS = 8.0  # and at most one bin per this many noise sds of rows, so that a typical bin's count stands
# well above the noise (a finer histogram of a small table would be mostly noise, and its thresholding would empty it)
MAGNITUDES = (-20, 64)  # round 1's powers of two: |v| in [2^e, 2^(e+1)) for e in this range, smaller |v| in the zero bin
RANGE_SIGMAS = 4.0  # a magnitude bin bounds the range where its noisy count passes this many noise sds (an empty
# bin of round 1's 169 passes it with probability 3e-5)
BIN_SIGMAS = 3.0  # round 2's noisy counts below this many noise sds count as empty, so that noise spreads no mass
# over empty bins (post-processing: no privacy cost)
OTHER = "\x00pooled-"  # sketch values standing for levels below the threshold: each held by one sketch row, so the
# encoder's value protection pools them into its protected level


def dp_schema(df: pd.DataFrame, column_types: Mapping[str, str] | None) -> TableSchema:
    """The schema from dtypes alone (dtype_kind), with `column_types` overriding kinds; a constant column is
    refused, since its one value is data."""
    schema = infer_schema(df, column_types, kind_of=lambda series: dtype_kind(series.dtype))
    for spec in schema.columns:
        if spec.kind == "constant":
            raise ParameterError(f"column_types[{spec.name!r}] = 'constant' cannot be used with dp_epsilon: the constant "
                                 "is a value of the data. Drop the column, or mark it categorical.")
    return schema


@dataclass(frozen=True)
class SketchBudget:
    """The preprocessing's noise: Gaussian noise sd `sigma`, and the noisy count a level needs (`threshold`)."""

    sigma: float
    threshold: float


def sketch_budget(schema: TableSchema, rho: float, delta_threshold: float) -> SketchBudget:
    """Noise sd and level threshold for a rho-zCDP preprocessing of `schema`'s modelled columns."""
    modelled = [c for c in schema.columns if c.kind != "id"]
    first = len(modelled)
    second = sum(c.kind in NUMERIC_KINDS for c in modelled)  # a class target of integers is counted, not released, here
    sigma = math.sqrt(max(first + second, 1) / (2 * rho))
    categorical = max(1, sum(c.kind not in NUMERIC_KINDS for c in modelled))
    return SketchBudget(sigma, 1 + sigma * float(ndtri(1 - delta_threshold / categorical)))


def dp_task(schema: TableSchema, target: str | None, task: str | None) -> str | None:
    """The target's task without reading its values: class labels for a categorical or boolean target, a number to
    predict for a float or datetime one; an integer target needs task= or declared classes (its distinct values are
    data)."""
    if target is None or task is not None:
        return task
    kind = schema[target].kind
    if kind == "integer":
        raise ParameterError(f"Target {target!r} holds integers: with dp_epsilon, declare its classes (categories="
                             f"{{{target!r}: [...]}}; CLI --categories) or pass task='classification' or "
                             "task='regression', since counting its distinct values would read the data.")
    return "regression" if kind in NUMERIC_KINDS else "classification"


def sketch_table(df: pd.DataFrame, schema: TableSchema, target: str | None, task: str | None, budget: SketchBudget,
                 rng: np.random.Generator, categories: Mapping[str, list] | None = None) -> pd.DataFrame:
    """As many rows as `df`, each column drawn independently from its noisy histograms (module docstring); a class
    target by its levels whatever its kind; a column in `categories` (public_levels) over its declared levels."""
    n = len(df)
    columns = {}
    categories = categories or {}
    for spec in schema.columns:
        series = df[spec.name]
        if spec.name == target and task == "classification":
            levels = _level_sketch(series, budget, rng, n, pooled=False, domain=categories.get(spec.name))
            columns[spec.name] = levels if spec.kind not in NUMERIC_KINDS else pd.to_numeric(levels)
        elif spec.kind == "id":
            columns[spec.name] = _key_stand_in(spec, n)
        elif spec.kind in NUMERIC_KINDS:
            columns[spec.name] = _numeric_sketch(spec, series, budget.sigma, rng, n, missing=spec.name != target)
        else:
            domain = categories.get(spec.name, [True, False] if spec.kind == "boolean" else None)
            columns[spec.name] = _level_sketch(series, budget, rng, n, pooled=spec.name != target,
                                               domain=None if domain is None else [*domain, None])
    return pd.DataFrame(columns)


def public_levels(df: pd.DataFrame, schema: TableSchema, target: str | None, task: str | None,
                  categories: Mapping[str, object] | None) -> dict[str, list]:
    """The declared levels of `categories` (column -> the levels it can take, known without reading the data: a code
    list, a target's classes) as the column's JSON values, checked: each names a categorical or boolean column or a
    class target, and lists at least one level (a target two) of the column's type."""
    declared = {}
    for name, levels in (categories or {}).items():
        if name not in df.columns:
            raise ParameterError(f"categories names {name!r}, which is not a column. Columns are: {list(df.columns)}.")
        is_class = name == target and task == "classification"
        if not is_class and schema[name].kind not in ("categorical", "boolean"):
            raise ParameterError(f"categories[{name!r}]: the column is {schema[name].kind}, but only categorical or "
                                 "boolean columns and a classification target have levels to declare.")
        if isinstance(levels, (str, bytes)) or not isinstance(levels, (list, tuple, set, np.ndarray, pd.Index)):
            raise ParameterError(f"categories[{name!r}] must list the column's levels, e.g. [0, 1] or ['a', 'b']; "
                                 f"got {levels!r}.")
        values = list(dict.fromkeys(to_json_value(v) for v in _as_column_type(df[name], list(levels))))
        values = [v for v in values if v is not None]
        if len(values) < (2 if is_class else 1):
            raise ParameterError(f"categories[{name!r}] lists {len(values)} level(s); a target needs at least two classes.")
        declared[name] = values
    return declared


def _as_column_type(series: pd.Series, levels: list) -> list:
    """`levels` converted to the column's type where it holds numbers or booleans (so that '1' from a command line
    matches 1), as they are otherwise; a ParameterError naming a level that is not of that type."""
    if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
        return levels
    converted = []
    for level in levels:
        text = str(level).strip().lower() if isinstance(level, str) else None
        if pd.api.types.is_bool_dtype(series.dtype) and text in ("true", "false"):
            converted.append(text == "true")
            continue
        number = pd.to_numeric(pd.Series([level]), errors="coerce").iloc[0]
        if pd.isna(number):
            raise ParameterError(f"categories[{series.name!r}]: {level!r} is not a value of the column, which holds "
                                 f"{series.dtype} values.")
        converted.append(bool(number) if pd.api.types.is_bool_dtype(series.dtype) else
                         int(number) if float(number).is_integer() else float(number))
    return converted


@dataclass(frozen=True)
class PrivateFit:
    """What a differentially private fit prepares before it trains: its budget, the schema and task read without
    the values (dp_schema, dp_task), and the sketch of the table that the encoder is fitted on instead of the rows."""

    budget: PrivacyBudget
    schema: TableSchema
    task: str | None
    sketch: pd.DataFrame

    @classmethod
    def prepare(cls, df: pd.DataFrame, target: str | None, task: str | None, column_types: Mapping[str, str] | None,
                epsilon: float, delta: float | None, seed: int,
                categories: Mapping[str, object] | None = None) -> PrivateFit:
        """The preparation for a fit of `df` under (epsilon, delta) (delta None: dp.default_delta); the sketch
        spends the budget's preprocessing share (half its delta on the level threshold) and draws from its own
        random stream of `seed`; `categories` declares public levels (public_levels)."""
        schema = dp_schema(df, column_types)
        budget = PrivacyBudget.of(epsilon, delta, len(df))
        # declared classes make the target's task classification
        task = dp_task(schema, target, task if task or target not in (categories or {}) else "classification")
        declared = public_levels(df, schema, target, task, categories)
        epsilon_pre, delta_pre = budget.preprocessing
        noise = sketch_budget(schema, zcdp_rho(epsilon_pre, delta_pre / 2), delta_pre / 2)
        sketch = sketch_table(df, schema, target, task, noise, np.random.default_rng([seed, 5]), declared)
        return cls(budget, schema, task, sketch)

    def trainable_rows(self, df: pd.DataFrame, encoder: TableEncoder) -> pd.DataFrame:
        """The rows of `df` that DP-SGD trains on: those of the classes that `encoder`, fitted on the sketch, kept
        (a class the sketch did not keep cannot be conditioned on); all rows without a class target."""
        if encoder.label_ is None:
            return df
        return df[df[encoder.target].map(to_json_value).isin(encoder.label_.named_codes()).to_numpy()]


def _level_sketch(series: pd.Series, budget: SketchBudget, rng: np.random.Generator, n: int, pooled: bool,
                  domain: list | None = None) -> pd.Series:
    """A categorical column's noisy level counts above the threshold, drawn n times; the rest of the rows pooled
    (at least one, so the encoder always has a level for values the sketch does not hold). A target keeps no pool.
    With a public `domain` (a boolean column's True, False and missing, or levels the caller declared) every level's
    count is released, and only levels whose noisy count is positive are drawn: no threshold is needed where the
    levels are not data. Values outside a declared domain count nowhere: pooled in a column, left out of training
    (PrivateFit.trainable_rows) in a target."""
    counts = series.map(to_json_value).astype(object).value_counts(dropna=False)
    if domain is not None:
        counts = counts.reindex(pd.Index(domain, dtype=object), fill_value=0)
    noisy = counts.to_numpy(dtype=float) + rng.normal(0.0, budget.sigma, len(counts))
    kept = noisy > (0.0 if domain is not None else budget.threshold)
    levels, weights = [v for v, k in zip(counts.index, kept) if k], noisy[kept]
    if len(levels) < 2 and not pooled:
        fix = (f"about {budget.threshold:.0f} rows here). Declare its classes, which are then released without that "
               f"threshold (categories={{{series.name!r}: [...]}}; CLI --categories), raise dp_epsilon, or fit without "
               "target=." if domain is None else  # declared: a class only needs a noisy count above 0
               f"a noisy count above 0, under noise of sd {budget.sigma:.0f} rows here). Raise dp_epsilon, or fit "
               "without target=.")
        raise ParameterError(f"Target {series.name!r}: {len(levels) or 'no'} class{'' if len(levels) == 1 else 'es'} "
                             f"frequent enough to survive the noise of dp_epsilon (a class needs {fix}")
    others = int(round(max(n - weights.sum(), 0.0))) if pooled else 0
    drawn = n - max(others, 1 if pooled else 0)
    values = np.empty(n, dtype=object)
    if levels:
        values[:drawn] = np.array(levels + [None], dtype=object)[:-1][rng.choice(len(levels), drawn, p=weights / weights.sum())]
    else:
        drawn = 0
    values[drawn:] = [f"{OTHER}{i}" for i in range(n - drawn)]
    return pd.Series(values[rng.permutation(n)], name=series.name, dtype=object)


def _magnitude_bins(values: np.ndarray) -> np.ndarray:
    """Round 1's bin of each value: 0..E-1 negative magnitudes (largest first), E the zero bin, E+1.. positive."""
    low, high = MAGNITUDES
    exponent = np.clip(np.floor(np.log2(np.maximum(np.abs(values), 2.0**low))), low, high).astype(int) - low
    span = high - low + 1
    small = np.abs(values) < 2.0**low
    return np.where(small, span, np.where(values > 0, span + 1 + exponent, span - 1 - exponent))


def _magnitude_edges(bin_index: int) -> tuple[float, float]:
    """The interval of values that round 1's bin `bin_index` holds."""
    low, high = MAGNITUDES
    span = high - low + 1
    if bin_index == span:
        return -(2.0**low), 2.0**low
    if bin_index > span:
        e = bin_index - span - 1 + low
        return 2.0**e, 2.0 ** (e + 1)
    e = span - 1 - bin_index + low
    return -(2.0 ** (e + 1)), -(2.0**e)


def histogram_bins(n: int, sigma: float) -> int:
    """Round 2's bin count for a column of n rows under noise sd sigma: HISTOGRAM_BINS at most, one per
    ROWS_PER_BIN_SIGMAS * sigma rows, at least 4."""
    return int(max(4, min(HISTOGRAM_BINS, n / (ROWS_PER_BIN_SIGMAS * sigma))))


def _numeric_sketch(spec: ColumnSpec, series: pd.Series, sigma: float, rng: np.random.Generator, n: int,
                    missing: bool) -> pd.Series:
    """A numeric column's range from its noisy magnitude histogram, then its values and missing rate from a noisy
    histogram on that range, drawn n times (a target draws no missing values)."""
    float_view = NumericColumn(spec.name, spec.kind, spec.dtype)
    values = float_view.to_float(series)
    observed = values[~np.isnan(values)]
    span = MAGNITUDES[1] - MAGNITUDES[0] + 1
    magnitudes = np.bincount(_magnitude_bins(observed), minlength=2 * span + 1) + rng.normal(0.0, sigma, 2 * span + 1)
    passing = np.flatnonzero(magnitudes > RANGE_SIGMAS * sigma)
    if not len(passing):  # the noisiest bin: as likely noise as data, so the values are drawn from a guess
        warnings.warn(f"dp_epsilon leaves column {spec.name!r}'s range to chance: the noise (sd {sigma:.0f} rows) "
                      f"hides where its {len(observed)} values lie, so its synthetic values come from a guessed range. "
                      "Pass a larger dp_epsilon or fit more rows.", UserWarning, stacklevel=2)
        passing = np.array([int(np.argmax(magnitudes))])
    first, last = int(passing[0]), int(passing[-1])
    low, high = _magnitude_edges(first)[0], _magnitude_edges(last)[1]
    integer, most = spec.kind == "integer", histogram_bins(n, sigma)
    if integer and math.ceil(high) - math.floor(low) + 1 <= most:  # one bin per integer
        edges = np.arange(math.floor(low), math.ceil(high) + 2) - 0.5
    else:  # each power of two of the range split into equal bins: resolution follows the magnitude
        per = max(1, most // (last - first + 1))
        edges = np.unique(np.concatenate([np.linspace(*_magnitude_edges(b), per + 1) for b in range(first, last + 1)]))
    bins = len(edges) - 1
    index = np.clip(np.searchsorted(edges, np.clip(observed, edges[0], edges[-1]), side="right") - 1, 0, bins - 1)
    counts = np.append(np.bincount(index, minlength=bins), np.isnan(values).sum()).astype(float)
    noisy = counts + rng.normal(0.0, sigma, bins + 1)
    noisy = np.where(noisy >= BIN_SIGMAS * sigma, noisy, 0.0) if (noisy[:-1] >= BIN_SIGMAS * sigma).any() else np.maximum(noisy, 0.0)
    if not missing:
        noisy[-1] = 0.0
    if noisy[:-1].sum() <= 0:
        noisy[:-1] = 1.0
    chosen = rng.choice(bins + 1, n, p=noisy / noisy.sum())
    inside = np.minimum(chosen, bins - 1)
    drawn = edges[inside] + rng.random(n) * (edges[inside + 1] - edges[inside])
    is_missing = chosen == bins
    if integer:
        drawn = np.round(drawn)
    if spec.kind == "datetime":
        return _datetimes(spec, drawn, is_missing)
    return pd.Series(np.where(is_missing, np.nan, drawn), name=spec.name, dtype="float64")


def _datetimes(spec: ColumnSpec, seconds: np.ndarray, missing: np.ndarray) -> pd.Series:
    """Seconds since 1970 in local clock time -> a datetime column of the spec's dtype (its time zone kept)."""
    column = NumericColumn(spec.name, "datetime", spec.dtype)
    column.min_, column.max_, column.snap_values_, column.resolution_, column.decimals_ = -np.inf, np.inf, None, 1.0, None
    column.tz_ = str(getattr(pd.api.types.pandas_dtype(spec.dtype), "tz", None) or "") or None
    column.plain_dates_, column.offset_, column.int_range_ = False, 0, None
    seconds = np.clip(seconds, -(2.0**33), 2.0**33)  # within what datetime64[ns] holds
    return column.from_float(seconds, missing)


def _key_stand_in(spec: ColumnSpec, n: int) -> pd.Series:
    """What a key column's encoder is fitted on: integer keys the largest value of their type, so that generated
    keys count down from the top of the type (the real keys' range is data); text keys a placeholder (generated
    keys are random tokens whatever the data)."""
    dtype = pd.api.types.pandas_dtype(spec.dtype)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return pd.Series(np.full(n, exact_integers(spec.dtype)[1]), name=spec.name).astype(spec.dtype)
    return pd.Series(["key"] * n, name=spec.name, dtype=object)
