"""A whole table <-> the arrays the diffusion model sees: quantile-normal numerics, categorical codes, class labels."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import ndtri
from sklearn.preprocessing import QuantileTransformer

from ..errors import SchemaError
from ..schema import LABEL_KINDS, NUMERIC_KINDS, TableSchema, Task, infer_task
from .categorical import CategoricalColumn, to_json_value
from .computed import ComputedColumn, find_relations
from .derived import DerivedColumn, determines, level_codes
from .numeric import NumericColumn
from .protection import window_quantiles
from .stats import TableStats
from .unmodelled import ConstantColumn, IdColumn

QUANTILE_BOUND = 1e-7  # sklearn's QuantileTransformer clips probabilities here: normal codes stay within +-5.2


def probability_interval(quantiles: np.ndarray, references: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval of the empirical CDF that each value of `x` occupies in one quantile-transformed column: a tied
    value (a spike, an integer level) spans its whole run of quantiles, an untied one a point; (n,) lower and upper.

    The quantiles of a tied value can differ from it in the last bits (sklearn interpolates percentiles); a relative
    tolerance finds the whole tied run, and widens an untied value's interval negligibly.
    """
    tolerance = 1e-12 * max(1.0, float(np.nanmax(np.abs(quantiles), initial=0.0)))
    upper = np.interp(x + tolerance, quantiles, references)
    lower = -np.interp(-(x - tolerance), -quantiles[::-1], -references[::-1])
    return lower, upper


def normal_codes(probabilities: np.ndarray) -> np.ndarray:
    """CDF values -> quantile-normal codes, clipped as sklearn clips them (within +-5.2)."""
    return ndtri(np.clip(probabilities, QUANTILE_BOUND, 1 - QUANTILE_BOUND))


def dequantized_quantile_normal(transformer: QuantileTransformer, raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Quantile-normal codes in which a tied value (a spike, an integer level) fills its whole quantile interval.

    sklearn maps every copy of a tied value to one point (and a column's minimum to -5.2), so a column that is
    0 in 90% of rows becomes a point mass at the edge of the range, which Gaussian diffusion models badly. Here each
    copy gets a uniform draw from the value's interval of the empirical CDF instead (dequantisation), so the codes
    are close to N(0, 1) whatever the ties; inverse_transform still maps the whole interval back to the tied value.
    Untied values get sklearn's codes; NaN stays NaN.
    """
    probabilities = np.empty_like(raw, dtype=np.float64)
    for j in range(raw.shape[1]):
        lower, upper = probability_interval(transformer.quantiles_[:, j], transformer.references_, raw[:, j])
        probabilities[:, j] = lower + rng.random(len(raw)) * (upper - lower)
    return normal_codes(probabilities)


@dataclass(frozen=True)
class Encoded:
    """Model-space view of a table: x_num (n, d_num) float32, x_cat (n, n_cat) int64 codes, y (n,) int64 or None."""

    x_num: np.ndarray
    x_cat: np.ndarray
    y: np.ndarray | None

    def take(self, rows: np.ndarray) -> "Encoded":
        """The given rows (an index array) of every part."""
        return Encoded(self.x_num[rows], self.x_cat[rows], None if self.y is None else self.y[rows])


def _check_target(schema: TableSchema, df: pd.DataFrame, target: str, task: Task, stats: TableStats | None = None) -> None:
    """Reject targets that cannot be learned, saying why and what to do (from `stats` where the table is streamed)."""
    series, kind = df[target], schema[target].kind
    missing = int(series.isna().sum()) if stats is None else stats.missing(target)
    if missing:
        raise SchemaError(
            f"Target {target!r} has {missing} missing values. Drop those rows "
            f"(df.dropna(subset=[{target!r}])) or fit without target=."
        )
    if (series.nunique() if stats is None else stats.distinct(target)) < 2:
        raise SchemaError(
            f"Target {target!r} has a single value ({to_json_value(series.iloc[0])!r}); a target needs at least two "
            "classes or values. Fit without target= to model it as an ordinary column."
        )
    if kind == "id":
        raise SchemaError(f"Target {target!r} is unique per row, like an identifier; choose another target.")
    if task == "regression" and kind not in NUMERIC_KINDS:
        raise SchemaError(
            f"Target {target!r} is {kind}, so it cannot be a regression target. Use task='classification'."
        )


class TableEncoder:
    """Fits per-column transforms and a quantile transform, and maps tables to model arrays and back."""

    def __init__(
        self,
        schema: TableSchema,
        target: str | None = None,
        task: Task | None = None,
        max_categories: int | None = 100,
        seed: int = 0,
        derive: bool = True,
        compute: bool = False,
        protect_rows: int = 0,
    ) -> None:
        self.schema, self.target, self.task = schema, target, task
        self.max_categories, self.seed, self.derive, self.compute = max_categories, seed, derive, compute
        self.protect_rows = protect_rows  # value protection (transforms/protection.py); 0: every value is kept

    def _derived_sources(self, df: pd.DataFrame) -> dict[str, str]:
        """Numeric column without missing values -> the categorical column that fixes its value in every training row
        (the first such)."""
        if not self.derive:
            return {}
        sources = {c.name: level_codes(df[c.name]) for c in self.schema.columns
                   if c.kind in LABEL_KINDS and c.name != self.target}  # factorised once, tested against every numeric
        if self.protect_rows:  # a derived column's table holds every source level: only sources without rare levels
            sources = {name: (codes, levels) for name, (codes, levels) in sources.items()
                       if np.bincount(codes, minlength=len(levels)).min() >= self.protect_rows}
        found = {}
        for spec in self.schema.columns:
            values = df[spec.name]
            if spec.kind not in NUMERIC_KINDS or spec.name == self.target or values.isna().any():
                continue
            n_values = values.nunique()  # once per column: under 2 it is a constant column, not a derived one
            source = next((name for name, (codes, levels) in sources.items()
                           if n_values >= 2 and determines(codes, len(levels), values, n_values)), None)
            if source is not None:
                found[spec.name] = source
        return found

    def _computed(self, df: pd.DataFrame, skip: set[str]) -> list[ComputedColumn]:
        """Numeric columns (not the target, none missing, not in `skip`) that other such columns fix exactly."""
        if not self.compute:
            return []
        columns = {c.name: NumericColumn(c.name, c.kind, c.dtype, self.protect_rows).fit(df[c.name]) for c in self.schema.columns
                   if c.kind in NUMERIC_KINDS and c.name != self.target and c.name not in skip
                   and df[c.name].notna().all() and df[c.name].nunique() >= 2}
        values = {name: column.to_float(df[name]) for name, column in columns.items()}  # as the fitted columns see them
        return [ComputedColumn(columns[name], *relation)
                for name, relation in find_relations(values, self.seed).items()]

    def fit(self, df: pd.DataFrame, stats: TableStats | None = None) -> "TableEncoder":
        """Learn every column's transform; the regression target leads the numeric block, as in TabDDPM.

        With `stats` (transforms/stats.py), `df` is a row sample of a larger table whose exact statistics `stats`
        holds: levels and their counts, missingness, ranges and the protected bounds come from `stats`, the quantile
        transform and the derived and computed columns from the sample (streaming.py). A sample that is the whole
        table gives the encoder that fit(df) gives."""
        n_rows = len(df) if stats is None else stats.rows
        counts = (lambda name: None) if stats is None else stats.counts
        summary = (lambda name: None) if stats is None else stats.numeric
        if self.target is not None:
            distinct = df[self.target].nunique() if stats is None else stats.distinct(self.target)
            self.task = self.task or infer_task(self.schema[self.target].kind, distinct)
            _check_target(self.schema, df, self.target, self.task, stats)
        self.numeric_, self.categorical_, self.unmodelled_ = [], [], []
        self.label_ = None
        derived_sources = self._derived_sources(df)
        self.derived_ = [DerivedColumn(NumericColumn(name, self.schema[name].kind, self.schema[name].dtype, self.protect_rows), source)
                         .fit(df[name], df[source]) for name, source in derived_sources.items()]
        self.computed_ = self._computed(df, skip=set(derived_sources))
        not_modelled = set(derived_sources) | {c.name for c in self.computed_}
        for spec in self.schema.columns:
            series = df[spec.name]
            if spec.name in not_modelled:
                continue
            if spec.name == self.target and self.task == "classification":
                self.label_ = CategoricalColumn(spec.name, spec.dtype).fit(series, counts(spec.name))
            elif spec.name == self.target:
                self.numeric_.insert(0, NumericColumn(spec.name, spec.kind, spec.dtype, self.protect_rows).fit(
                    series, summary(spec.name)))
            elif spec.kind in NUMERIC_KINDS:
                self.numeric_.append(NumericColumn(spec.name, spec.kind, spec.dtype, self.protect_rows).fit(
                    series, summary(spec.name)))
            elif spec.kind in LABEL_KINDS:
                self.categorical_.append(CategoricalColumn(spec.name, spec.dtype, self.max_categories,
                                                           self.protect_rows).fit(series, counts(spec.name)))
            elif spec.kind == "id":
                self.unmodelled_.append(IdColumn(spec.name, spec.dtype, self.protect_rows > 0).fit(
                    series, n_rows, None if stats is None else stats.id_bounds(spec.name)))
            else:
                self.unmodelled_.append(ConstantColumn(spec.name, spec.dtype).fit(series))
        if not self.numeric_ and not self.categorical_:
            kinds = ", ".join(f"{c.name}={c.kind}" for c in self.schema.columns if c.name != self.target)
            raise SchemaError(
                f"Nothing to learn: no column besides the target varies as data ({kinds or 'no other columns'}). "
                f"Constant columns are repeated and identifiers generated fresh, so a model needs at least one other "
                f"numeric, categorical, boolean or datetime column and at least two rows ({len(df)} given). "
                "Override a kind with column_types= if one was misread (a CSV with another separator reads as one column)."
            )
        self.class_frequencies_ = self.label_.frequencies(df[self.target], counts(self.target)) if self.label_ else None
        self.quantile_ = None
        if self.numeric_:
            raw = self._raw_numeric(df)
            n_quantiles = max(min(n_rows // 30, 1000), 10)
            self.quantile_ = QuantileTransformer(
                n_quantiles=min(n_quantiles, len(df)), output_distribution="normal", subsample=10**9,
                random_state=self.seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # constant stretches in a column are expected
                self.quantile_.fit(raw)
            if self.protect_rows:  # each stored quantile a mean of protect_rows training values (protection.py)
                for j in range(raw.shape[1]):
                    observed = raw[~np.isnan(raw[:, j]), j]
                    self.quantile_.quantiles_[:, j] = window_quantiles(observed, self.quantile_.references_,
                                                                       self.protect_rows)
        return self

    def _raw_numeric(self, df: pd.DataFrame) -> np.ndarray:
        return np.column_stack([c.to_float(df[c.name]) for c in self.numeric_])

    def code_interval(self, index: int, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The codes that numeric column `index`'s raw values `raw` (n,) occupy: each tied value's whole interval
        (as dequantisation spreads it), an untied value's point; (n,) lower and upper codes."""
        lower, upper = probability_interval(self.quantile_.quantiles_[:, index], self.quantile_.references_, raw)
        return normal_codes(lower), normal_codes(upper)

    @property
    def missing_indicators(self) -> list[NumericColumn]:
        """Numeric columns that had missing values; each adds a two-level code to the categorical block."""
        return [c for c in self.numeric_ if c.has_missing_]

    @property
    def category_sizes(self) -> list[int]:
        return [c.n_levels for c in self.categorical_] + [2] * len(self.missing_indicators)

    def snapped_numeric(self) -> np.ndarray:
        """(d_num,) bool: True for the numeric columns whose decoded values snap to a few seen values."""
        return np.array([column.snap_values_ is not None for column in self.numeric_], bool)

    def observed_numeric(self, x_cat: np.ndarray) -> np.ndarray:
        """(n, d_num) bool from the model's codes: True where a numeric entry holds a value, False where it is missing."""
        observed = np.ones((len(x_cat), len(self.numeric_)), bool)
        indicator_codes = iter(x_cat[:, len(self.categorical_):].T)
        for i, column in enumerate(self.numeric_):
            if column.has_missing_:
                observed[:, i] = next(indicator_codes) != 1
        return observed

    @property
    def n_classes(self) -> int:
        return self.label_.n_levels if self.label_ else 0

    def encode(self, df: pd.DataFrame, dequantize: np.random.Generator | None = None) -> Encoded:
        """Model arrays for a table with the fitted columns; with a generator, tied numeric values are dequantised."""
        n = len(df)
        x_num = np.zeros((n, 0), np.float32)
        indicators = []
        if self.numeric_:
            raw = self._raw_numeric(df)
            indicators = [np.isnan(raw[:, i]).astype(np.int64) for i, c in enumerate(self.numeric_) if c.has_missing_]
            normal = self.quantile_.transform(raw) if dequantize is None else dequantized_quantile_normal(self.quantile_, raw, dequantize)
            x_num = np.nan_to_num(normal, nan=0.0).astype(np.float32)
        codes = [c.encode(df[c.name]) for c in self.categorical_] + indicators
        x_cat = np.column_stack(codes).astype(np.int64) if codes else np.zeros((n, 0), np.int64)
        y = self.label_.encode(df[self.target]) if self.label_ else None
        return Encoded(x_num, x_cat, y)

    def decode(self, encoded: Encoded, rng: np.random.Generator, first_row: int = 0,
               adjust: Callable[[dict[str, pd.Series]], None] | None = None) -> pd.DataFrame:
        """A table in the original column order and dtypes from model arrays; first_row counts the rows already
        decoded for the same sample (a later chunk), so that generated keys stay unique across chunks. `adjust`
        may rewrite the modelled columns (conditions.py) before the columns read off them are derived."""
        n = len(encoded.x_num)  # x_num always has one row per row, even with no numeric columns
        columns: dict[str, pd.Series] = {}
        if self.numeric_:
            raw = self.quantile_.inverse_transform(encoded.x_num.astype(np.float64))
            observed = self.observed_numeric(encoded.x_cat)
            for i, column in enumerate(self.numeric_):
                columns[column.name] = column.from_float(raw[:, i], ~observed[:, i] if column.has_missing_ else None)
        for i, column in enumerate(self.categorical_):
            columns[column.name] = column.decode(encoded.x_cat[:, i], rng)
        if self.label_:
            columns[self.target] = self.label_.decode(encoded.y, rng)
        if adjust is not None:
            adjust(columns)
        for column in self.unmodelled_:
            columns[column.name] = column.generate(n, rng, first_row)
        for derived in self.derived_:
            columns[derived.name] = derived.generate(columns[derived.source])
        numeric = {column.name: column for column in self.numeric_}
        for computed in self.computed_:
            columns[computed.name] = computed.generate(columns, numeric)
        return pd.DataFrame({name: columns[name].reset_index(drop=True) for name in self.schema.names})

    def bytes_per_row(self, rows: int = 256) -> float:
        """Bytes per row of a decoded table (pandas' deep memory, text values included), measured on `rows` rows
        decoded from random codes: what a table of n sampled rows will take, without running the model."""
        rng = np.random.default_rng(0)
        codes = [rng.integers(0, size, rows) for size in self.category_sizes]
        encoded = Encoded(rng.standard_normal((rows, len(self.numeric_))).astype(np.float32),
                          np.column_stack(codes).astype(np.int64) if codes else np.zeros((rows, 0), np.int64),
                          rng.integers(0, self.n_classes, rows) if self.n_classes else None)
        return float(self.decode(encoded, rng).memory_usage(deep=True, index=False).sum()) / rows

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-serialisable state plus the quantile arrays, for model files that never pickle."""
        meta = {
            "schema": self.schema.to_dict(), "target": self.target, "task": self.task,
            "max_categories": self.max_categories, "seed": self.seed, "protect_rows": self.protect_rows,
            "numeric": [c.state() for c in self.numeric_],
            "categorical": [c.state() for c in self.categorical_],
            "unmodelled": [{"type": type(c).__name__, **c.state()} for c in self.unmodelled_],
            "derived": [c.state() for c in self.derived_],
            "computed": [c.state() for c in self.computed_],
            "label": self.label_.state() if self.label_ else None,
            "class_frequencies": None if self.class_frequencies_ is None else self.class_frequencies_.tolist(),
        }
        arrays = {}
        if self.quantile_ is not None:
            arrays = {"quantiles": self.quantile_.quantiles_, "references": self.quantile_.references_}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> "TableEncoder":
        encoder = cls(TableSchema.from_dict(meta["schema"]), meta["target"], meta["task"], meta["max_categories"], meta["seed"],
                      protect_rows=meta.get("protect_rows", 0))
        encoder.numeric_ = [NumericColumn.from_state(s) for s in meta["numeric"]]
        encoder.categorical_ = [CategoricalColumn.from_state(s) for s in meta["categorical"]]
        kinds = {"ConstantColumn": ConstantColumn, "IdColumn": IdColumn}
        encoder.unmodelled_ = [kinds[s["type"]].from_state(s) for s in meta["unmodelled"]]
        encoder.derived_ = [DerivedColumn.from_state(s) for s in meta.get("derived", [])]  # absent in files saved before derived columns
        encoder.computed_ = [ComputedColumn.from_state(s) for s in meta.get("computed", [])]  # likewise
        encoder.label_ = CategoricalColumn.from_state(meta["label"]) if meta["label"] else None
        freqs = meta["class_frequencies"]
        encoder.class_frequencies_ = None if freqs is None else np.asarray(freqs)
        encoder.quantile_ = None
        if "quantiles" in arrays:
            quantiles = np.asarray(arrays["quantiles"], dtype=np.float64)
            encoder.quantile_ = QuantileTransformer(n_quantiles=len(quantiles), output_distribution="normal")
            encoder.quantile_.quantiles_ = quantiles
            encoder.quantile_.references_ = np.asarray(arrays["references"], dtype=np.float64)
            encoder.quantile_.n_quantiles_ = len(quantiles)
            encoder.quantile_.n_features_in_ = quantiles.shape[1]
        return encoder
