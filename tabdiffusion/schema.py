"""Column kinds of a table: inferred from pandas dtypes, overridable per column, saved as JSON with a model."""

from __future__ import annotations

import datetime
import re
from dataclasses import asdict, dataclass
from typing import Callable, Literal, Mapping

import numpy as np
import pandas as pd

from .errors import SchemaError

Kind = Literal["numeric", "integer", "boolean", "categorical", "datetime", "id", "constant"]
KINDS: tuple[str, ...] = ("numeric", "integer", "boolean", "categorical", "datetime", "id", "constant")
NUMERIC_KINDS: tuple[str, ...] = ("numeric", "integer", "datetime")  # modelled as numbers
LABEL_KINDS: tuple[str, ...] = ("categorical", "boolean")  # modelled as categories
Task = Literal["classification", "regression"]
# An integer target with at most this many distinct values is taken as class labels (pass task= to override).
MAX_INTEGER_CLASSES = 10
# A column is an identifier rather than data (generated fresh, never learned, so no real key leaks) once it has
# ID_MIN_ROWS rows and either is text or a category column with distinct values in at least ID_MIN_DISTINCT_SHARE of
# its rows (a key with a stray duplicate or missing entry, or free text such as names), or holds integers that are all
# distinct and fill one dense range (1..n), or holds integers distinct in at least ID_MIN_DISTINCT_SHARE of its rows
# under a key-like name ("customer_id", "CustomerID", "key"): a key that a train/holdout split has thinned out is no
# longer a dense range.
ID_MIN_ROWS = 20
ID_MIN_DISTINCT_SHARE = 0.95
_KEY_NAME = re.compile(r"^(id|key|uuid|guid)$|[_\s.-](id|key|uuid|guid)$", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key|UUID)$")


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, how it is modelled (`kind`) and the pandas dtype to give back."""

    name: str
    kind: Kind
    dtype: str


@dataclass(frozen=True)
class TableSchema:
    """The ordered columns of a table; `to_dict`/`from_dict` round-trip through JSON."""

    columns: tuple[ColumnSpec, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "TableSchema":
        return cls(tuple(ColumnSpec(**c) for c in data["columns"]))

    def __str__(self) -> str:
        width = max((len(c.name) for c in self.columns), default=0)
        return "\n".join(f"{c.name:<{width}}  {c.kind:<11}  {c.dtype}" for c in self.columns)


def infer_task(kind: str, n_distinct: int) -> Task:
    """Classification for categorical/boolean targets and integers with few distinct values; regression otherwise."""
    if kind in LABEL_KINDS or (kind == "integer" and n_distinct <= MAX_INTEGER_CLASSES):
        return "classification"
    return "regression"


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, bytes, int, float, bool, np.generic, datetime.date))


def has_key_name(name: str) -> bool:
    """Whether a column name reads as a key: 'id', 'customer_id', 'order-key', 'CustomerID', 'userId' (not 'key_length')."""
    return bool(_KEY_NAME.search(name) or _CAMEL_ID.search(name))


def _mostly_distinct(series: pd.Series) -> bool:
    """At least ID_MIN_DISTINCT_SHARE of all rows hold distinct values, so at most the rest are missing or repeated
    (a mostly missing free-text column stays data: its missing rate is learned, an identifier's is not)."""
    return len(series) >= ID_MIN_ROWS and series.nunique() >= ID_MIN_DISTINCT_SHARE * len(series)


def _holds_timestamps(values: pd.Series) -> bool:
    """Whether an object column's values are all pd.Timestamp (or datetime / date objects) that convert to one
    datetime dtype (one time zone)."""
    if not len(values) or not values.map(lambda v: isinstance(v, datetime.date)).all():
        return False
    try:
        return pd.api.types.is_datetime64_any_dtype(pd.to_datetime(values).dtype)
    except (TypeError, ValueError):  # time zones mixed, or aware and naive stamps together
        return False


def _infer_kind(series: pd.Series) -> Kind:
    """The natural kind of one column from its dtype and values."""
    name, dtype = series.name, series.dtype
    non_null = series.dropna()
    if dtype == object:
        bad = non_null[~non_null.map(_is_scalar)]
        if len(bad):
            raise SchemaError(
                f"Column {name!r} holds values of type {type(bad.iloc[0]).__name__} (e.g. {bad.iloc[0]!r}), "
                "which cannot be modelled. Convert them to strings or numbers, or drop the column."
            )
    if series.nunique(dropna=False) <= 1:  # one value everywhere, or all missing: nothing to learn
        return "constant"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        # A surrogate key: every row a distinct integer, together filling one dense range (e.g. 1..n).
        if len(series) >= ID_MIN_ROWS and not series.isna().any() and series.is_unique and (
            int(series.max()) - int(series.min()) + 1 == len(series)
        ):
            return "id"
        return "id" if has_key_name(str(name)) and _mostly_distinct(series) else "integer"
    if pd.api.types.is_float_dtype(dtype):
        # An integer key read as floats (a CSV column with a missing entry) under a key-like name.
        if has_key_name(str(name)) and _mostly_distinct(series) and bool((non_null == np.round(non_null)).all()):
            return "id"
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if dtype == object and _holds_timestamps(non_null):
        return "datetime"  # modelled as datetimes and given back as pd.Timestamp objects
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype) or dtype == object:
        # A category column follows the text rule: a Parquet round trip turns a text key column into a category.
        if not isinstance(dtype, pd.CategoricalDtype) and non_null.map(lambda v: isinstance(v, (bool, np.bool_))).all():
            return "boolean"
        if _mostly_distinct(series):
            return "id"
        return "categorical"
    raise SchemaError(
        f"Column {name!r} has dtype {dtype}, which is not supported. Convert it to numbers, strings or datetimes, "
        "or drop the column."
    )


def _check_override(series: pd.Series, kind: str) -> None:
    """Reject an override that the column's values cannot satisfy, naming an offending value."""
    name = series.name
    if kind not in KINDS:
        raise SchemaError(f"column_types[{name!r}] = {kind!r} is not a kind; use one of {', '.join(KINDS)}.")
    non_null = series.dropna()
    if kind in ("numeric", "integer") and not pd.api.types.is_numeric_dtype(series.dtype):
        converted = pd.to_numeric(non_null, errors="coerce")
        bad = non_null[converted.isna()]
        if len(bad):
            raise SchemaError(
                f"Column {name!r}: {len(bad)} values are not numbers (e.g. {bad.iloc[0]!r}). "
                f"Mark it categorical in column_types or clean the values."
            )
    if kind == "boolean" and non_null.nunique() > 2:
        raise SchemaError(
            f"Column {name!r} has {non_null.nunique()} distinct values (e.g. {non_null.iloc[0]!r}), so it cannot be "
            "boolean. Mark it categorical in column_types, or leave its kind to be inferred."
        )
    if kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(series.dtype):
        raise SchemaError(
            f"Column {name!r} has dtype {series.dtype}, not datetime. Convert it first with pd.to_datetime(df[{name!r}])."
        )


def infer_schema(df: pd.DataFrame, column_types: Mapping[str, str] | None = None,
                 kind_of: Callable[[pd.Series], str] | None = None) -> TableSchema:
    """Infer each column's kind from its dtype (and values: keys, constants), or by `kind_of` where given;
    `column_types` overrides kinds by column name."""
    overrides = dict(column_types or {})
    unknown = sorted(set(overrides) - set(map(str, df.columns)))
    if unknown:
        raise SchemaError(
            f"column_types names columns that are not in the table: {unknown}. Columns are: {list(df.columns)}."
        )
    columns = []
    for name in df.columns:
        series = df[name]
        if name in overrides:
            _check_override(series, overrides[name])
            kind = overrides[name]
        else:
            kind = (kind_of or _infer_kind)(series)
        columns.append(ColumnSpec(name=str(name), kind=kind, dtype=str(series.dtype)))
    return TableSchema(tuple(columns))
