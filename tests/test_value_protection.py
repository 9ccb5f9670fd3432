"""Value protection: a value that few training rows hold is neither in the model file nor in sampled rows."""

from __future__ import annotations

import re
import struct

import numpy as np
import pandas as pd
import pytest

import tabdiffusion as td
from tabdiffusion.transforms.categorical import CategoricalColumn
from tabdiffusion.transforms.numeric import NumericColumn
from tabdiffusion.transforms.protection import (PROTECT_ROWS, PROTECTED_TEXT, common_values, inner_range, round_outward,
                                                window_quantiles)

TINY = dict(steps=60, min_proximity=0, d_layers=(32,), num_timesteps=20, device="cpu", verbose=False)
SECRET_LEVEL = "Liechtenstein-7731"
SECRET_INCOME = 987654.375  # exactly representable in float32 and float64
SECRET_KEY = 90017


def _planted_table(n: int = 400) -> pd.DataFrame:
    """A table with one row holding a unique country, a unique extreme income and the largest customer key."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "customer_id": np.arange(1000, 1000 + n),
        "country": rng.choice(["AT", "DE", "FR", "IT"], n),
        "income": np.round(rng.lognormal(10, 0.4, n), 2),
        "age": rng.integers(18, 80, n),
        "member": rng.random(n) < 0.5,
    })
    table.loc[7, ["country", "income", "customer_id"]] = [SECRET_LEVEL, SECRET_INCOME, SECRET_KEY]
    return table


def _holds(data: bytes, value: object) -> bool:
    """Whether a model file's bytes hold `value`: as text (not inside a longer number or word), or as float64,
    float32 or int64 bytes."""
    text = re.escape(str(value).encode())
    if re.search(rb"(?<![0-9A-Za-z.])" + text + rb"(?![0-9A-Za-z])", data):
        return True
    if isinstance(value, (int, float)):
        packed = [struct.pack("<d", float(value)), struct.pack("<f", float(value))]
        packed += [struct.pack("<q", int(value))] if float(value).is_integer() else []
        return any(code in data for code in packed)
    return False


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    table = _planted_table()
    folder = tmp_path_factory.mktemp("protection")
    protected = td.Synthesizer(seed=0, **TINY).fit(table)
    plain = td.Synthesizer(seed=0, value_protection=False, **TINY).fit(table)
    return table, protected, protected.save(folder / "protected.tdm"), plain.save(folder / "plain.tdm")


def test_a_model_file_holds_no_planted_unique_value(files):
    _, _, protected, plain = files
    for secret in (SECRET_LEVEL, SECRET_INCOME, SECRET_KEY):
        assert _holds(plain.read_bytes(), secret), secret  # the search finds it where nothing protects it
        assert not _holds(protected.read_bytes(), secret), secret


def test_sampled_rows_never_hold_a_planted_unique_value(files):
    table, protected, _, _ = files
    rows = protected.sample(100_000, seed=1)
    assert SECRET_LEVEL not in set(rows.country) and (rows.country == PROTECTED_TEXT).any()
    assert not (rows.income == SECRET_INCOME).any() and rows.income.max() < table.income.nlargest(2).iloc[-1]
    assert not rows.customer_id.isin(table.customer_id).any() and rows.customer_id.min() > SECRET_KEY + 1
    loaded = td.Synthesizer.load(files[2])
    assert SECRET_LEVEL not in set(loaded.sample(20_000, seed=2).country)


def test_conditions_and_known_rows_treat_a_protected_value_as_unknown(files):
    _, protected, _, _ = files
    with pytest.raises(td.ParameterError, match="never holds 'Liechtenstein-7731'"):
        protected.sample(5, conditions={"country": SECRET_LEVEL})
    assert (protected.sample(50, seed=0, conditions={"country": PROTECTED_TEXT}).country == PROTECTED_TEXT).all()
    with pytest.raises(td.ParameterError, match="outside the column's training range"):
        protected.sample(5, conditions={"income": SECRET_INCOME})


def test_rare_levels_pool_into_a_placeholder_in_text_and_into_the_mode_elsewhere():
    text = CategoricalColumn("c", "object", protect_rows=5).fit(pd.Series(["a"] * 10 + ["b"] * 6 + ["x", "y", "y"]))
    assert "x" not in text.levels_ and "y" not in text.levels_ and text.protected_as_ == PROTECTED_TEXT
    decoded = text.decode(text.encode(pd.Series(["x", "y", "a"])), np.random.default_rng(0))
    assert decoded.tolist() == [PROTECTED_TEXT, PROTECTED_TEXT, "a"]
    flags = CategoricalColumn("f", "bool", protect_rows=5).fit(pd.Series([False] * 20 + [True] * 3))
    assert flags.decode(np.array([0, 1]), np.random.default_rng(0)).tolist() == [False, False]
    cats = pd.Series(pd.Categorical(["a"] * 8 + ["z"], categories=["a", "z", "unused"]))
    column = CategoricalColumn("k", "category", protect_rows=5).fit(cats)
    assert column.dtype_categories_ == ["a", PROTECTED_TEXT] and "z" not in str(column.state())
    assert CategoricalColumn("c", "object").fit(pd.Series(["a", "x"])).levels_ == ["a", "x"]  # off: all kept


def test_numeric_columns_keep_inner_ranges_common_snap_values_and_window_quantiles():
    values = pd.Series([1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 60.25])
    column = NumericColumn("x", "numeric", "float64", protect_rows=5).fit(values)
    assert (column.min_, column.max_) == (2.25, 5.25)  # 10 values: the means of the 2nd-3rd and 8th-9th, never 60.25
    ints = NumericColumn("n", "integer", "int64", protect_rows=5).fit(pd.Series([0] * 30 + [1] * 30 + [2] * 3 + [9]))
    assert ints.snap_values_ == [0.0, 1.0] and ints.max_ == 1.0
    ordered = np.arange(100.0)
    table = window_quantiles(ordered, np.linspace(0, 1, 11))
    assert table[0] == 6.0 and table[-1] == 93.0 and np.all(np.diff(table) >= 0)  # the 4 most extreme left out
    assert window_quantiles(np.r_[np.zeros(50), np.arange(1.0, 51)], np.array([0.0, 0.25]))[1] == 0.0  # a spike stays


def test_protection_helpers():
    assert inner_range(np.arange(100.0)) == (6.0, 93.0) and inner_range(np.array([4.0])) == (4.0, 4.0)
    assert inner_range(np.r_[np.arange(99.0), 1e9])[1] == 93.0  # the largest value does not move the bound
    assert common_values(np.array([1, 1, 1, 1, 1, 2, 2])).tolist() == [1]
    assert round_outward(1234, upward=True) == 1300 and round_outward(1234, upward=False) == 1200
    assert round_outward(7, upward=True) == 10 and round_outward(-57, upward=False) == -60
    assert PROTECT_ROWS == 5
