"""Columns that are not learned: constants are repeated, identifiers are generated fresh so no real ID leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ParameterError
from .categorical import restore_dtype, to_json_value
from .protection import round_outward

# An integer key column keeps its dtype if that holds fresh keys for this many times its rows (else it is widened).
KEY_HEADROOM = 100


class ConstantColumn:
    """A column with one value everywhere (or all missing); it is reproduced as is, with a category column's declared
    categories and order, and a pd.Timestamp in an object column as a pd.Timestamp."""

    def __init__(self, name: str, dtype: str) -> None:
        self.name, self.dtype = name, dtype

    def fit(self, series: pd.Series) -> "ConstantColumn":
        self.value_ = to_json_value(series.iloc[0]) if len(series) else None
        self.is_timestamp_ = bool(len(series)) and isinstance(series.iloc[0], pd.Timestamp) and series.dtype == object
        is_category = isinstance(series.dtype, pd.CategoricalDtype)
        self.categories_ = [to_json_value(c) for c in series.dtype.categories] if is_category else None
        self.ordered_ = bool(is_category and series.dtype.ordered)
        return self

    def generate(self, n: int, rng: np.random.Generator, first_row: int = 0) -> pd.Series:
        """n copies of the value (rng and first_row are IdColumn's interface)."""
        value = pd.Timestamp(self.value_) if self.is_timestamp_ else self.value_
        return restore_dtype([value] * n, self.dtype, self.name, self.categories_, self.ordered_)

    def state(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "value": self.value_, "is_timestamp": self.is_timestamp_,
                "categories": self.categories_, "ordered": self.ordered_}

    @classmethod
    def from_state(cls, state: dict) -> "ConstantColumn":
        column = cls(state["name"], state["dtype"])
        column.value_, column.is_timestamp_ = state["value"], state["is_timestamp"]
        column.categories_, column.ordered_ = state["categories"], state["ordered"]
        return column


def _numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype behind a numpy or pandas nullable dtype name ('UInt16' -> uint16)."""
    pandas_dtype = pd.api.types.pandas_dtype(dtype)
    return np.dtype(getattr(pandas_dtype, "numpy_dtype", pandas_dtype))


def exact_integers(dtype: str) -> tuple[int, int]:
    """The smallest and largest integer that `dtype` holds exactly (floats: up to 2**mantissa bits)."""
    base = _numpy_dtype(dtype)
    if base.kind == "f":
        bound = 2 ** (np.finfo(base).nmant + 1)
        return -bound, bound
    info = np.iinfo(base)
    return int(info.min), int(info.max)


def _widenings(dtype: str) -> list[str]:
    """`dtype` and the wider dtypes of its kind (signed, unsigned or float; numpy or nullable), narrowest first."""
    base = _numpy_dtype(dtype)
    names = [np.dtype(f"{base.kind}{size}").name for size in (1, 2, 4, 8) if size > base.itemsize]
    if not isinstance(pd.api.types.pandas_dtype(dtype), np.dtype):  # pandas nullable: UInt16, Int32, Float64
        names = [name.replace("uint", "UInt").replace("int", "Int").replace("float", "Float") for name in names]
    return [dtype, *names]


class IdColumn:
    """A unique-per-row key: integers continue past the largest real ID, strings are random 'syn-' tokens.

    Every generated row gets a fresh key, also where the real column had missing keys, and never a training key.
    Integer keys keep the column's dtype when it holds KEY_HEADROOM times as many keys past the largest real one as
    the column has rows; otherwise they come in the smallest wider dtype of the same kind that does (uint8 -> uint16,
    Int32 -> Int64), chosen at fit so that every chunk of a sample has one dtype. Keys that do not fit past the
    largest real key (a larger sample, or 64-bit keys near the top of their range) continue below the smallest one,
    and a sample larger than all unused keys of the dtype is refused.
    A category column of keys gets tokens as its categories.
    """

    def __init__(self, name: str, dtype: str, protect: bool = False) -> None:
        self.name, self.dtype, self.protect = name, dtype, protect

    def fit(self, series: pd.Series, rows: int | None = None, bounds: tuple[int, int] | None = None) -> "IdColumn":
        """Learn the key range and the output dtype; `rows` and `bounds` (smallest and largest key), where given, are
        the whole column's, of which `series` is a sample (a streamed fit)."""
        # Integer keys, also held as floats (a CSV integer column with a missing entry), continue past the largest.
        self.is_integer_ = bool(pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype))
        self.low_, self.high_, self.out_dtype_ = 0, 0, self.dtype
        if self.is_integer_ and (bounds is not None or series.notna().any()):
            keys = series.dropna()
            self.low_, self.high_ = (int(keys.min()), int(keys.max())) if bounds is None else bounds
            if self.protect:  # keys continue past rounded bounds, which do not tell the real extremes
                lowest, highest = exact_integers(self.dtype)
                self.low_ = max(round_outward(self.low_, upward=False), lowest)
                self.high_ = min(round_outward(self.high_, upward=True), highest)
            candidates = _widenings(self.dtype)
            needed = KEY_HEADROOM * (len(series) if rows is None else rows)
            self.out_dtype_ = next((d for d in candidates if exact_integers(d)[1] - self.high_ >= needed),
                                   candidates[-1])
        return self

    def _integer_keys(self, n: int, first_row: int) -> np.ndarray:
        """Keys first_row .. first_row + n - 1 of one sample, in order: past the largest real key while the output
        dtype holds them, then below the smallest; (n,) in the output dtype's numpy type."""
        lowest, highest = exact_integers(self.out_dtype_)
        above, below = max(highest - self.high_, 0), max(self.low_ - lowest, 0)
        if first_row + n > above + below:
            raise ParameterError(
                f"Column {self.name!r} ({self.out_dtype_}) has only {above + below} integer keys that are not training "
                f"keys, too few for {first_row + n} rows. Sample fewer rows, or cast the column to a wider integer "
                "dtype (or to strings) before fit."
            )
        base = _numpy_dtype(self.out_dtype_)
        work = base if base.itemsize == 8 else np.dtype("float64" if base.kind == "f" else "int64")  # holds any step
        n_above = min(max(above - first_row, 0), n)
        steps = np.arange(n, dtype=np.int64).astype(work)
        parts = []
        if n_above:
            parts.append(work.type(self.high_ + 1 + first_row) + steps[:n_above])
        if n_above < n:
            used_below = max(first_row - above, 0)  # keys below the smallest real key that earlier chunks took
            parts.append(work.type(self.low_ - 1 - used_below) - steps[: n - n_above])
        return np.concatenate(parts).astype(base)

    def generate(self, n: int, rng: np.random.Generator, first_row: int = 0) -> pd.Series:
        """n distinct fresh values; integers are shuffled so row order carries no information. first_row: rows
        generated before this chunk of one sample (integers continue after theirs, so chunks never repeat a key)."""
        if self.is_integer_:
            keys = self._integer_keys(n, first_row)[rng.permutation(n)]
            return pd.Series(keys, name=self.name).astype(self.out_dtype_)
        # 64 random bits per token: collisions are negligible and checked anyway.
        tokens = [f"syn-{v:016x}" for v in rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)]
        if len(set(tokens)) < n:
            return self.generate(n, rng)
        return restore_dtype(tokens, self.dtype, self.name)

    def state(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "is_integer": self.is_integer_, "low": self.low_,
                "high": self.high_, "out_dtype": self.out_dtype_, "protect": self.protect}

    @classmethod
    def from_state(cls, state: dict) -> "IdColumn":
        column = cls(state["name"], state["dtype"], state.get("protect", False))
        column.is_integer_, column.low_, column.high_ = state["is_integer"], state["low"], state["high"]
        column.out_dtype_ = state["out_dtype"]
        return column
