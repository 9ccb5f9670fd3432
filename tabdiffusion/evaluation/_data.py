"""Check the input tables and bring them into one canonical form that every metric group reads."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import ParameterError, SchemaError
from ..schema import LABEL_KINDS, NUMERIC_KINDS, TableSchema, infer_schema
from ..tables import as_dataframe

CATEGORICAL_KINDS = (*LABEL_KINDS, "constant")  # constants are compared as one-level categories
_TRUE = {"true", "1", "1.0", "yes", "t", "y"}
_FALSE = {"false", "0", "0.0", "no", "f", "n"}


@dataclass
class Prepared:
    """Real, synthetic and holdout tables as float (numeric) and str/NaN (categorical) columns.

    A value that is present but is no number or date, or is infinite, is NaN here, so the metrics treat it as missing;
    `invalid` counts such values per synthetic column ({"unparsable": n, "infinite": n}), and validity counts them
    as invalid, not missing.
    """

    real: pd.DataFrame
    synthetic: pd.DataFrame
    holdout: pd.DataFrame | None
    schema: TableSchema
    numeric: list[str]
    categorical: list[str]
    kinds: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    invalid: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The evaluated columns in the real table's order."""
        return [c for c in self.real.columns]


def _check_frame(df: object, name: str) -> pd.DataFrame:
    """A DataFrame (read from a path if given one, as `fit` does); reject empty tables and repeated column names."""
    df = as_dataframe(df, name)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise SchemaError(f"The {name} table is empty ({df.shape[0]} rows, {df.shape[1]} columns); pass at least one row and column.")
    names = [str(c) for c in df.columns]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise SchemaError(f"The {name} table has duplicated column names: {duplicated}. Rename them first.")
    return df


def _check_columns(reference: list[str], df: pd.DataFrame, name: str) -> None:
    """Raise a SchemaError naming the columns that `df` lacks or has in excess of the real table."""
    have = [str(c) for c in df.columns]
    missing = [c for c in reference if c not in set(have)]
    extra = [c for c in have if c not in set(reference)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"extra columns {extra}")
        raise SchemaError(
            f"The {name} table must have the same columns as the real table, but it has {' and '.join(parts)}. "
            f"Select or rename its columns to match: {reference}."
        )


def _canonical(value: object) -> str:
    """A category value as a string on which real and synthetic agree (1, 1.0 and np.int64(1) all give '1')."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _boolean(value: object) -> str:
    """A boolean value as 'True' or 'False', accepting 1/0 and common spellings; anything else as its string."""
    key = _canonical(value)
    if key.lower() in _TRUE:
        return "True"
    if key.lower() in _FALSE:
        return "False"
    return key


def _categorical_values(series: pd.Series, kind: str) -> np.ndarray:
    """Object array of canonical strings, np.nan where missing."""
    values = series.astype(object).to_numpy()
    out = np.full(len(values), np.nan, dtype=object)
    missing = pd.isna(series).to_numpy()
    present = values[~missing]
    if len(present):
        mapper = _boolean if kind == "boolean" else _canonical
        inverse, uniques = pd.factorize(pd.Series(present, dtype=object))
        keys = np.array([mapper(u) for u in uniques], dtype=object)
        out[~missing] = keys[inverse]
    return out


def _numeric_values(series: pd.Series, kind: str) -> np.ndarray:
    """Float array (datetimes as seconds since 1970 UTC), np.nan where missing or not a number."""
    if kind == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(series, errors="coerce", utc=True)
        seconds = (stamps - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1)
        return np.asarray(seconds, dtype=float)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float).to_numpy()
    return pd.to_numeric(series, errors="coerce").astype(float).to_numpy()


def _convert(
    df: pd.DataFrame, names: list[str], kinds: Mapping[str, str], precision: Mapping[str, type] | None = None
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """A new frame of the evaluated columns in canonical form, and per numeric or datetime column the counts of
    present values that became NaN: "unparsable" (no number or date, e.g. "1,5") and "infinite" (so that no model
    meets an infinity). The input is not modified. A column named in `precision` is rounded to that float type first,
    so that tables stored at different precisions compare equal."""
    by_name = {str(c): c for c in df.columns}
    data = {}
    invalid: dict[str, dict[str, int]] = {}
    for name in names:
        series = df[by_name[name]].reset_index(drop=True)
        kind = kinds[name]
        if kind not in NUMERIC_KINDS:
            data[name] = _categorical_values(series, kind)
            continue
        values = np.array(_numeric_values(series, kind), dtype=float)  # a copy, written to below
        infinite = np.isinf(values)
        values[infinite] = np.nan
        unparsable = np.isnan(values) & ~infinite & ~pd.isna(series).to_numpy()
        invalid[name] = {"unparsable": int(unparsable.sum()), "infinite": int(infinite.sum())}
        data[name] = values.astype(precision[name]).astype(float) if precision and name in precision else values
    return pd.DataFrame(data), invalid


def _shared_precision(frames: list[pd.DataFrame], names: list[str]) -> dict[str, type]:
    """The narrowest float type each numeric column has in any of the tables, where that is narrower than float64.

    A synthetic table stored as float32 holds the float32 nearest to each value: a copied 0.1 reads back as
    0.10000000149 and would not equal the real 0.1, so exact copies and zero distances would go unseen.
    """
    narrow: dict[str, type] = {}
    for df in frames:
        by_name = {str(c): c for c in df.columns}
        for name in names:
            dtype = df[by_name[name]].dtype
            if not pd.api.types.is_float_dtype(dtype):  # integers, booleans, datetimes, text: stored exactly
                continue
            dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))  # pandas' nullable Float32 holds a numpy float32
            if dtype.itemsize < np.dtype(narrow.get(name, np.float64)).itemsize:
                narrow[name] = dtype.type
    return narrow


def prepare(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    column_types: Mapping[str, str] | None = None,
) -> Prepared:
    """Validate the tables, infer kinds from the real one and return canonical copies of all three."""
    real = _check_frame(real, "real")
    synthetic = _check_frame(synthetic, "synthetic")
    reference = [str(c) for c in real.columns]
    _check_columns(reference, synthetic, "synthetic")
    if holdout is not None:
        holdout = _check_frame(holdout, "holdout")
        _check_columns(reference, holdout, "holdout")
    if target is not None and str(target) not in reference:
        raise ParameterError(f"target={target!r} is not a column of the real table. Columns are: {reference}.")
    renamed = real.rename(columns=str) if any(not isinstance(c, str) for c in real.columns) else real
    schema = infer_schema(renamed, column_types)
    kinds: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for spec in schema.columns:
        if spec.kind == "id":
            skipped[spec.name] = "identifier column (nearly all values distinct, or a key): not comparable, left out of every metric"
        else:
            kinds[spec.name] = spec.kind
    if target is not None and str(target) in skipped:
        raise ParameterError(
            f"target={target!r} looks like an identifier (every value distinct), so it cannot be predicted. "
            "Pass column_types={target: 'categorical'} or 'numeric' if it really is the label."
        )
    if not kinds:
        raise SchemaError(f"No column can be evaluated: every column is an identifier ({list(skipped)}).")
    names = [n for n in reference if n in kinds]
    numeric = [n for n in names if kinds[n] in NUMERIC_KINDS]
    precision = _shared_precision([f for f in (real, synthetic, holdout) if f is not None], numeric)
    synthetic_values, invalid = _convert(synthetic, names, kinds, precision)
    return Prepared(
        real=_convert(real, names, kinds, precision)[0],
        synthetic=synthetic_values,
        holdout=None if holdout is None else _convert(holdout, names, kinds, precision)[0],
        schema=schema,
        numeric=numeric,
        categorical=[n for n in names if kinds[n] in CATEGORICAL_KINDS],
        kinds=kinds,
        skipped=skipped,
        target=None if target is None else str(target),
        invalid=invalid,
    )


def subsample(n: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row positions: all of them when n <= limit, else `limit` drawn without replacement."""
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))
