"""Column edge cases: keys at the top of their dtype, tiny and full-precision floats, time zones, far-future dates,
category keys, huge integers, declared categories, timestamp objects and mixed-type columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tabdiffusion as td
from tabdiffusion.schema import infer_schema
from tabdiffusion.tables import read_table, write_table
from tabdiffusion.transforms.numeric import NumericColumn
from tabdiffusion.transforms.table import TableEncoder
from tabdiffusion.transforms.unmodelled import ConstantColumn, IdColumn
from conftest import FAST


def _json_state(column):
    """The column rebuilt from its state after a trip through JSON, as a model file stores it."""
    return type(column).from_state(json.loads(json.dumps(column.state())))


def _fitted_numeric(series: pd.Series) -> NumericColumn:
    series = series.rename("c")
    spec = infer_schema(series.to_frame())["c"]
    return _json_state(NumericColumn("c", spec.kind, spec.dtype).fit(series))


def _random_floats(column: NumericColumn, n: int, seed: int = 0) -> np.ndarray:
    """Model-space values spread over and a little beyond the column's range, as a sampler produces."""
    span = column.max_ - column.min_
    return np.random.default_rng(seed).uniform(column.min_ - 0.1 * span, column.max_ + 0.1 * span, n)


# ------------------------------------------------------------------------------------------------- integer keys
KEYS = {
    "uint8": pd.Series(np.arange(200, dtype="uint8")),
    "int16_top": pd.Series(np.arange(np.iinfo("int16").max - 199, np.iinfo("int16").max + 1, dtype="int16")),
    "int32_top": pd.Series(np.arange(np.iinfo("int32").max - 199, np.iinfo("int32").max + 1, dtype="int32")),
    "UInt8": pd.Series(np.arange(200), dtype="UInt8"),
    "int64_top": pd.Series(np.iinfo("int64").max - np.arange(200, dtype="int64")),
    "uint64_top": pd.Series(np.iinfo("uint64").max - np.arange(200, dtype="uint64")),
    "uint64_hash": pd.Series(np.random.default_rng(0).integers(0, 2**64 - 1, size=200, dtype="uint64", endpoint=True)),
    "float_with_missing": pd.Series([np.nan] + list(range(1, 200)), dtype="float64"),
}


@pytest.mark.parametrize("key", sorted(KEYS))
def test_generated_integer_keys_are_fresh_distinct_and_never_overflow(key):
    series = KEYS[key].rename("id")
    assert infer_schema(series.to_frame())["id"].kind == "id"
    column = _json_state(IdColumn("id", str(series.dtype)).fit(series))
    rng = np.random.default_rng(0)
    chunks = [column.generate(300, rng, 0), column.generate(300, rng, 300)]  # two chunks of one sample
    generated = pd.concat(chunks, ignore_index=True)
    assert len({str(c.dtype) for c in chunks}) == 1  # every chunk has one dtype, so they concatenate and write alike
    real = {int(v) for v in series.dropna()}
    fresh = [int(v) for v in generated]
    assert len(set(fresh)) == len(fresh) and not set(fresh) & real
    if key in ("int64_top", "uint64_top"):  # no room past the largest key in any dtype: below the smallest
        assert all(v < min(real) for v in fresh)
    else:  # past the largest key, never wrapped around
        assert all(v > max(real) for v in fresh)
    out = generated.dtype
    assert out.kind == series.dtype.kind and isinstance(out, np.dtype) == isinstance(series.dtype, np.dtype)
    assert out.itemsize >= series.dtype.itemsize
    if key in ("int64_top", "uint64_top", "uint64_hash", "float_with_missing"):
        assert out == series.dtype  # no wider dtype exists, or the keys fit: the dtype is kept


def test_a_dtype_without_room_for_fresh_keys_is_widened_to_the_smallest_that_holds_them():
    column = IdColumn("id", "uint8").fit(pd.Series(np.arange(200, dtype="uint8")))
    generated = column.generate(200, np.random.default_rng(0))
    assert generated.dtype == "uint16" and sorted(generated) == list(range(200, 400))


def test_a_narrow_dtype_with_room_for_fresh_keys_is_kept():
    column = IdColumn("id", "int8").fit(pd.Series([-128, -120], dtype="int8"))  # a key column by column_types=
    generated = column.generate(200, np.random.default_rng(0))
    assert generated.dtype == "int8" and sorted(generated) == list(range(-119, 81))


def test_a_sample_beyond_every_unused_key_of_a_dtype_is_refused_with_the_fix():
    series = pd.Series(np.iinfo("int64").max - np.arange(200, dtype="int64")).rename("id")
    column = IdColumn("id", "int64").fit(series)
    column.generate(10, np.random.default_rng(0))
    with pytest.raises(td.ParameterError, match="'id'.*wider|'id'.*fewer"):
        column.generate(10, np.random.default_rng(0), first_row=2**64 - 100)


# ------------------------------------------------------------------------------------------------- float precision
def test_tiny_floats_are_not_rounded_to_zero():
    rng = np.random.default_rng(0)
    tiny = _fitted_numeric(pd.Series(rng.normal(size=200) * 1e-12))
    restored = tiny.from_float(_random_floats(tiny, 500))
    assert (restored != 0).all() and restored.nunique() > 400
    p = np.concatenate([np.round(rng.random(197), 3) + 0.001, [3e-14, 1.2e-14, 7e-15]])
    p_values = _fitted_numeric(pd.Series(p))
    restored = p_values.from_float(_random_floats(p_values, 500))
    assert (restored != 0).all() and restored.between(p.min(), p.max()).all()


def test_rounding_neither_leaves_the_range_nor_invents_a_grid():
    rng = np.random.default_rng(1)
    income = np.concatenate([[2448.7939422755667, 123456.78901234567], np.exp(rng.normal(9, 1, 198))])
    column = _fitted_numeric(pd.Series(income))
    assert column.decimals_ is None
    restored = column.from_float(np.array([income.min() - 1e-6, income.min(), income.max() + 1.0]))
    assert restored.tolist() == [income.min(), income.min(), income.max()]
    pd.testing.assert_series_equal(column.from_float(income), pd.Series(income, name="c"))
    cents = _fitted_numeric(pd.Series(np.round(income, 2)))
    assert cents.decimals_ == 2
    restored = cents.from_float(_random_floats(cents, 500))
    assert restored.between(np.round(income, 2).min(), np.round(income, 2).max()).all()
    assert (np.round(restored, 2) == restored).all()


def test_a_float32_column_is_rounded_at_its_own_precision():
    values = pd.Series(np.round(np.random.default_rng(2).normal(size=200), 2).astype("float32"))
    column = _fitted_numeric(values)
    assert column.decimals_ == 2
    pd.testing.assert_series_equal(column.from_float(column.to_float(values)), values.rename("c"))


# ------------------------------------------------------------------------------------------------- datetimes
def test_time_zone_aware_daily_dates_come_back_at_local_midnight():
    days = pd.Series(pd.date_range("2021-01-01", periods=730, freq="D", tz="Europe/Berlin")).sample(300, random_state=0)
    column = _fitted_numeric(days)
    assert column.resolution_ == 86400.0
    restored = column.from_float(_random_floats(column, 1000))
    assert restored.dtype == days.dtype
    assert ((restored.dt.hour == 0) & (restored.dt.minute == 0) & (restored.dt.second == 0)).all()
    assert restored.between(days.min(), days.max()).all()
    pd.testing.assert_series_equal(column.from_float(column.to_float(days)), days.rename("c").reset_index(drop=True))


def test_local_midnights_that_a_dst_change_skips_or_repeats_still_decode():
    # Santiago moves its clocks at midnight: 2022-09-11 00:00 does not exist there, and 2022-04-02 23:00 happens twice.
    stamps = pd.Series(pd.to_datetime(["2022-09-10", "2022-09-12", "2022-04-01", "2022-04-03"]).tz_localize("America/Santiago"))
    column = _fitted_numeric(pd.concat([stamps] * 6, ignore_index=True))
    wall = (pd.Timestamp("2022-09-11") - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    restored = column.from_float(np.array([wall, wall + 3600.0, wall - 7 * 86400]))
    assert restored.notna().all() and restored.between(stamps.min(), stamps.max()).all()


def test_open_ended_dates_in_the_year_9999_fit_and_decode():
    dates = pd.Series(pd.to_datetime(["2020-01-05", "2021-06-30", "9999-12-31", None] * 10).astype("datetime64[us]"))
    column = _fitted_numeric(dates)
    pd.testing.assert_series_equal(column.from_float(column.to_float(dates), dates.isna().to_numpy()), dates.rename("c"))
    restored = column.from_float(_random_floats(column, 500))
    assert restored.dtype == "datetime64[us]" and restored.between(dates.min(), dates.max()).all()


def test_an_object_column_of_timestamps_comes_back_as_timestamps():
    stamps = pd.Series(list(pd.date_range("2020-01-01", periods=60, freq="D")), dtype=object).rename("t")
    spec = infer_schema(stamps.to_frame())["t"]
    assert spec.kind == "datetime" and spec.dtype == "object"
    column = _json_state(NumericColumn("t", spec.kind, spec.dtype).fit(stamps))
    restored = column.from_float(_random_floats(column, 100))
    assert restored.dtype == object and all(isinstance(v, pd.Timestamp) for v in restored)
    assert (restored.map(lambda v: v.hour) == 0).all()


def test_a_constant_object_column_of_one_timestamp_comes_back_as_timestamps():
    stamps = pd.Series([pd.Timestamp("2020-02-03 04:05:06")] * 30, dtype=object).rename("t")
    assert infer_schema(stamps.to_frame())["t"].kind == "constant"
    generated = _json_state(ConstantColumn("t", "object").fit(stamps)).generate(30, np.random.default_rng(0))
    pd.testing.assert_series_equal(generated, stamps)


def test_an_object_column_of_dates_is_modelled_and_comes_back_as_dates():
    """datetime.date objects (what pandas gives for a Parquet date32 column read with the ArrowDtype off, or a column
    built from dates) are datetimes, not a refused dtype, and come back as dates."""
    import datetime

    days = [datetime.date(2020, 1, 1) + datetime.timedelta(days=int(d)) for d in range(60)]
    dates = pd.Series(days + [None], dtype=object).rename("d")
    spec = infer_schema(dates.to_frame())["d"]
    assert spec.kind == "datetime"
    column = _json_state(NumericColumn("d", spec.kind, spec.dtype).fit(dates))
    restored = column.from_float(_random_floats(column, 100), missing=np.arange(100) % 10 == 0)
    present = restored.dropna()
    assert restored.dtype == object and restored.isna().sum() == 10
    assert all(type(v) is datetime.date for v in present) and present.between(days[0], days[-1]).all()


# ------------------------------------------------------------------------------------------------- other kinds
def test_integers_beyond_2_53_stay_exact_and_within_the_range():
    rng = np.random.default_rng(3)
    for series in (pd.Series(2**62 + rng.permutation(1000)[:200]),
                   pd.Series(np.iinfo("uint64").max - rng.permutation(1000)[:200].astype("uint64")),
                   pd.Series([None, *(2**62 + rng.permutation(1000)[:199])], dtype="Int64")):
        column = _fitted_numeric(series)
        pd.testing.assert_series_equal(column.from_float(column.to_float(series), series.isna().to_numpy()), series.rename("c"))
        restored = column.from_float(_random_floats(column, 1000))
        assert restored.dtype == series.dtype
        low, high = int(series.min()), int(series.max())
        assert all(low <= int(v) <= high for v in restored) and restored.nunique() > 100


def test_a_category_column_of_unique_keys_is_an_id_with_fresh_category_keys():
    keys = pd.Series([f"K{i:04d}" for i in range(50)], dtype="category").rename("k")
    assert infer_schema(keys.to_frame())["k"].kind == "id"
    generated = _json_state(IdColumn("k", "category").fit(keys)).generate(50, np.random.default_rng(0))
    assert isinstance(generated.dtype, pd.CategoricalDtype)
    assert generated.is_unique and not set(generated) & set(keys)


@pytest.mark.parametrize("values", [[None] * 30, ["b"] * 30])
def test_a_constant_category_column_keeps_its_declared_categories(values):
    series = pd.Series(pd.Categorical(values, categories=["a", "b", "c"], ordered=True)).rename("c")
    assert infer_schema(series.to_frame())["c"].kind == "constant"
    generated = _json_state(ConstantColumn("c", "category").fit(series)).generate(5, np.random.default_rng(0))
    assert generated.dtype == series.dtype
    pd.testing.assert_series_equal(generated, series.iloc[:5])


def test_a_mixed_type_object_column_keeps_its_values_and_can_be_written_to_parquet(tmp_path):
    table = pd.DataFrame({"x": np.random.default_rng(0).normal(size=60), "m": pd.Series([True, "yes", 3] * 20, dtype=object)})
    encoder = TableEncoder(infer_schema(table)).fit(table)
    synthetic = encoder.decode(encoder.encode(table), np.random.default_rng(0))
    assert synthetic["m"].tolist() == table["m"].tolist()  # decode keeps the training values and their types
    written = read_table(write_table(synthetic, tmp_path / "synthetic.parquet"))
    assert written["m"].astype(str).tolist() == synthetic["m"].astype(str).tolist()


# ------------------------------------------------------------------------------------------------- end to end
def test_edge_case_columns_fit_sample_and_survive_the_model_file(tmp_path):
    rng = np.random.default_rng(4)
    n = 120
    table = pd.DataFrame({
        "row": np.arange(n, dtype="uint8"),
        "x": rng.normal(size=n),
        "day": pd.Series(pd.date_range("2021-01-01", periods=n, freq="3D", tz="Europe/Berlin")),
        "valid_to": pd.Series(pd.to_datetime(rng.choice(["2022-01-01", "2023-06-30", "9999-12-31"], n)).astype("datetime64[us]")),
        "big": 2**62 + rng.integers(0, 10**6, n),
        "empty": pd.Series(pd.Categorical([None] * n, categories=["lo", "hi"])),
        "seen": pd.Series(list(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 500, n), unit="D")), dtype=object),
    })
    synth = td.Synthesizer(seed=0, **FAST).fit(table)
    synthetic = synth.sample(150, seed=1)
    assert synthetic.dtypes.astype(str).tolist()[1:] == table.dtypes.astype(str).tolist()[1:]
    assert not set(synthetic["row"].astype(int)) & set(table["row"].astype(int)) and synthetic["row"].is_unique
    assert (synthetic["day"].dt.hour == 0).all()
    assert synthetic["valid_to"].between(table["valid_to"].min(), table["valid_to"].max()).all()
    assert synthetic["big"].between(table["big"].min(), table["big"].max()).all()
    assert synthetic["empty"].dtype == table["empty"].dtype
    assert all(isinstance(v, pd.Timestamp) for v in synthetic["seen"])
    loaded = td.Synthesizer.load(synth.save(tmp_path / "model.tdm"))
    pd.testing.assert_frame_equal(loaded.sample(150, seed=1), synthetic)
