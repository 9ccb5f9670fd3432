"""Every transform round-trips: dtype, missing values and categories survive; state survives JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tabdiffusion.schema import infer_schema
from tabdiffusion.transforms.categorical import RARE, CategoricalColumn
from tabdiffusion.transforms.numeric import NumericColumn
from tabdiffusion.transforms.table import Encoded, TableEncoder, dequantized_quantile_normal
from conftest import make_coded_table, make_mixed_table, make_related_table

SERIES = {
    "float": pd.Series([0.5, np.nan, 2.25, -1.0]),
    "float32": pd.Series([1.5, 2.5, 3.5], dtype="float32"),
    "int": pd.Series([3, 1, 4, 1, 5]),
    "nullable_int": pd.Series([3, None, 4], dtype="Int64"),
    "datetime": pd.Series(pd.to_datetime(["2021-03-04", None, "2022-01-01"])),
    "datetime_tz": pd.Series(pd.to_datetime(["2021-03-04 10:00:01", "2022-01-01 00:00:00"]).tz_localize("Europe/Oslo")),
}


@pytest.mark.parametrize("key", sorted(SERIES))
def test_numeric_column_round_trip(key):
    series = SERIES[key].rename("c")
    kind = infer_schema(series.to_frame())["c"].kind
    column = NumericColumn("c", kind, str(series.dtype)).fit(series)
    values = column.to_float(series)
    restored = NumericColumn.from_state(json.loads(json.dumps(column.state()))).from_float(values, np.isnan(values))
    pd.testing.assert_series_equal(restored, series)


def test_numeric_column_clips_rounds_and_snaps():
    column = NumericColumn("x", "integer", "int64").fit(pd.Series(np.arange(100)))
    assert column.from_float(np.array([-5.0, 2.4, 2.6, 500.0])).tolist() == [0, 2, 3, 99]
    snapper = NumericColumn("s", "numeric", "float64").fit(pd.Series([0.0, 0.5, 10.0]))
    assert snapper.from_float(np.array([0.2, 0.3, 6.0, 4.0])).tolist() == [0.0, 0.5, 10.0, 0.5]


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(["a", "b", None, "a"], dtype="str"),
        pd.Series(["a", "b", None, "a"], dtype=object),
        pd.Series([True, False, True]),
        pd.Series([True, None, False], dtype="boolean"),
        pd.Series(pd.Categorical(["lo", "hi", "lo"], categories=["lo", "mid", "hi"], ordered=True)),
        pd.Series([10, 20, 10]),
    ],
)
def test_categorical_column_round_trip(series):
    column = CategoricalColumn("c", str(series.dtype)).fit(series)
    restored = CategoricalColumn.from_state(json.loads(json.dumps(column.state())))
    out = restored.decode(column.encode(series), np.random.default_rng(0))
    pd.testing.assert_series_equal(out, series.rename("c"))


def test_missing_is_its_own_level_and_levels_are_by_frequency():
    column = CategoricalColumn("c", "object").fit(pd.Series(["x", None, "y", "y", None, None]))
    assert column.levels_ == [None, "y", "x"]


def test_rare_levels_are_pooled_and_drawn_by_frequency():
    series = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5)
    with pytest.warns(UserWarning, match="Column 'c' has 4 distinct values; the 2 most frequent"):
        column = CategoricalColumn("c", "object", max_categories=3).fit(series)
    assert column.levels_ == ["a", "b", RARE]
    assert column.rare_values_ == ["c", "d"] and column.rare_weights_ == pytest.approx([0.75, 0.25])
    drawn = column.decode(np.full(4000, 2), np.random.default_rng(0))
    assert set(drawn) == {"c", "d"} and (drawn == "c").mean() == pytest.approx(0.75, abs=0.03)


def test_table_encoder_round_trip_and_layout():
    table = make_mixed_table(80)
    encoder = TableEncoder(infer_schema(table), target="label").fit(table)
    encoded = encoder.encode(table)
    assert [c.name for c in encoder.numeric_] == ["age", "income", "joined"]
    # city, member, plan as categories + one missing indicator (income)
    assert encoder.category_sizes == [2, 5, 2, 2]
    assert encoded.x_num.dtype == np.float32 and np.isfinite(encoded.x_num).all()
    meta, arrays = encoder.state()
    restored = TableEncoder.from_state(json.loads(json.dumps(meta)), arrays)
    out = restored.decode(Encoded(encoded.x_num, encoded.x_cat, encoded.y), np.random.default_rng(0))
    expected = table.drop(columns="customer_id")
    pd.testing.assert_frame_equal(out.drop(columns="customer_id"), expected)


def test_quantile_transform_makes_numerics_standard_normal():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"skewed": rng.exponential(size=3000)})
    encoded = TableEncoder(infer_schema(table)).fit(table).encode(table)
    assert abs(encoded.x_num.mean()) < 0.05 and abs(encoded.x_num.std() - 1) < 0.1


def test_dequantisation_spreads_ties_over_their_quantile_interval_and_inverts_exactly():
    from scipy.special import ndtr
    from sklearn.preprocessing import QuantileTransformer

    rng = np.random.default_rng(0)
    # A spike at the minimum (0, 60% of rows), a tie at the maximum, an integer level, untied values and NaN.
    column = np.concatenate([np.zeros(600), np.full(100, 9.0), np.full(100, 3.0), rng.uniform(0.5, 8.5, 190), [np.nan] * 10])
    raw = column[:, None]
    transformer = QuantileTransformer(n_quantiles=100, output_distribution="normal").fit(raw)
    codes = dequantized_quantile_normal(transformer, raw, np.random.default_rng(1))[:, 0]
    observed = ~np.isnan(column)
    assert np.isnan(codes[~observed]).all()
    # Each tied value fills its share of the CDF (sklearn puts all of the spike at -5.2, the maximum at +5.2).
    probabilities = ndtr(codes)
    spike = probabilities[column == 0]
    assert spike.min() < 0.01 and 0.57 < spike.max() <= 0.61 and 0.25 < spike.mean() < 0.35
    assert probabilities[column == 9].min() > 0.88 and probabilities[column == 9].max() > 0.99
    assert np.ptp(probabilities[column == 3]) > 0.05
    # Codes look standard normal, and the inverse maps every code back to its original value.
    assert abs(codes[observed].mean()) < 0.1 and 0.9 < codes[observed].std() < 1.1
    np.testing.assert_allclose(transformer.inverse_transform(codes[:, None])[observed, 0], column[observed], atol=1e-9)
    # Untied values get sklearn's codes.
    untied = observed & ~np.isin(column, [0.0, 3.0, 9.0])
    np.testing.assert_allclose(codes[untied], transformer.transform(raw)[untied, 0], atol=1e-6)


def test_marginal_calibration_gives_training_marginals_and_keeps_ranks():
    from scipy.stats import ks_2samp

    from tabdiffusion.transforms.calibration import MarginalCalibration

    rng = np.random.default_rng(0)
    training = rng.normal(size=(4000, 2))
    training[:800, 1] = 0.0  # missing entries hold 0 in the codes; left out by the mask
    observed = np.ones_like(training, bool)
    observed[:800, 1] = False
    # A model that draws too narrow and shifted codes, correlated across the two columns.
    shared = rng.normal(size=(8000, 1))
    generated = 0.3 + 0.8 * (0.6 * shared + 0.8 * rng.normal(size=(8000, 2)))
    calibration = MarginalCalibration.fit(generated, training, training_observed=observed)
    fresh = 0.3 + 0.8 * (0.6 * rng.normal(size=(3000, 1)) + 0.8 * rng.normal(size=(3000, 2)))
    mapped = calibration.apply(fresh)
    for j in range(2):
        assert ks_2samp(fresh[:, j], training[observed[:, j], j]).statistic > 0.15
        assert ks_2samp(mapped[:, j], training[observed[:, j], j]).statistic < 0.04
        assert (np.argsort(mapped[:, j]) == np.argsort(fresh[:, j])).all()  # monotone: ranks and dependence kept
    assert np.corrcoef(mapped.T)[0, 1] == pytest.approx(np.corrcoef(fresh.T)[0, 1], abs=0.02)
    # Codes beyond the calibration sample's range keep moving with the same slope instead of piling up.
    far = calibration.apply(np.array([[50.0, -50.0]]))
    assert far[0, 0] > 40 and far[0, 1] < -40
    restored = MarginalCalibration.from_state(calibration.state())
    assert np.array_equal(restored.apply(fresh), mapped)
    # A fixed column keeps its codes; the other is still calibrated (smoothed, as the only calibrated column).
    partial = MarginalCalibration.fit(generated, training, training_observed=observed, fixed=np.array([False, True]))
    np.testing.assert_allclose(partial.apply(fresh)[:, 1], fresh[:, 1], atol=1e-9)
    assert ks_2samp(partial.apply(fresh)[:, 0], training[:, 0]).statistic < 0.04
    assert np.median(np.abs(partial.apply(fresh)[:, 0] - mapped[:, 0])) < 0.01  # nearly the interpolated map
    with pytest.raises(ValueError, match="one flag per column"):
        MarginalCalibration.fit(generated, training, fixed=np.array([True]))


def test_a_single_calibrated_column_puts_rows_as_far_from_training_values_as_fresh_rows():
    from scipy.stats import ks_2samp

    from tabdiffusion.transforms.calibration import MarginalCalibration, column_quantiles, training_quantiles

    rng = np.random.default_rng(0)
    training = rng.normal(size=(300, 1))
    generated, drawn = 0.8 * rng.normal(size=(4000, 1)), 0.8 * rng.normal(size=(2000, 1))  # too narrow codes
    fresh = rng.normal(size=(2000, 1))  # new rows of the training distribution

    def gap(x: np.ndarray) -> float:  # median distance to the closest training value
        return float(np.median(np.abs(x - training.T).min(axis=1)))

    # Interpolating between the training values gives every gap between neighbours the same share of rows, so rows
    # crowd into the narrow gaps (0.37 of a fresh row's distance here); the smoothed quantiles do not (0.93).
    interpolated = MarginalCalibration.fit_to_quantiles(generated, column_quantiles(training)).apply(drawn)
    smoothed = MarginalCalibration.fit(generated, training).apply(drawn)
    assert gap(interpolated) < 0.5 * gap(fresh) and gap(smoothed) > 0.8 * gap(fresh)
    assert ks_2samp(smoothed[:, 0], training[:, 0]).statistic < 0.06  # the training marginal all the same
    assert (np.argsort(smoothed[:, 0]) == np.argsort(drawn[:, 0])).all()
    quantiles = training_quantiles(training)[:, 0]
    assert (np.diff(quantiles) > 0).all() and training.min() <= quantiles[0] and quantiles[-1] <= training.max()
    # Two calibrated columns keep the interpolated quantiles: there a row's closest training row depends on both.
    pair = rng.normal(size=(300, 2))
    assert np.array_equal(training_quantiles(pair), column_quantiles(pair))
    assert not np.array_equal(training_quantiles(pair, fixed=np.array([False, True]))[:, 0], column_quantiles(pair)[:, 0])


@pytest.mark.parametrize("source_dtype", ["object", "category"])
def test_a_numeric_column_fixed_by_a_category_is_derived_from_it_and_survives_the_model_file_state(source_dtype):
    table = make_coded_table()
    table.loc[table.index[:20], ["degree", "degree_num"]] = [None, 0]  # missing is a level with its own value
    table["degree"] = table["degree"].astype(source_dtype)
    encoder = TableEncoder(infer_schema(table)).fit(table)
    assert [c.name for c in encoder.numeric_] == ["x"] and [c.name for c in encoder.derived_] == ["degree_num"]
    meta, arrays = encoder.state()
    restored = TableEncoder.from_state(json.loads(json.dumps(meta)), arrays)
    out = restored.decode(encoder.encode(table), np.random.default_rng(0))
    pd.testing.assert_series_equal(out["degree_num"], table["degree_num"])
    assert (out["degree"].isna() == table["degree"].isna()).all()  # (object missing comes back as None, not NaN)
    assert [c.name for c in TableEncoder(infer_schema(table), derive=False).fit(table).numeric_] == ["degree_num", "x"]


def test_numeric_columns_that_others_fix_exactly_are_computed_from_them_and_survive_the_model_file_state():
    table = make_related_table()
    encoder = TableEncoder(infer_schema(table), compute=True).fit(table)
    assert [c.describe() for c in encoder.computed_] == [
        "living = 1 * above + 1 * basement", "salary = 1 * salary_copy", "speed = sqrt(1 * vx^2 + 1 * vy^2 + 1 * vz^2)"]
    assert [c.name for c in encoder.numeric_] == ["above", "basement", "salary_copy", "vx", "vy", "vz", "noise"]
    meta, arrays = encoder.state()
    restored = TableEncoder.from_state(json.loads(json.dumps(meta)), arrays)
    out = restored.decode(encoder.encode(table), np.random.default_rng(0))
    assert out.dtypes.equals(table.dtypes)
    assert (out["living"] == out["above"] + out["basement"]).all() and (out["salary"] == out["salary_copy"]).all()
    np.testing.assert_allclose(out["speed"], np.linalg.norm(out[["vx", "vy", "vz"]], axis=1), atol=1e-6)
    assert TableEncoder(infer_schema(table)).fit(table).computed_ == []  # off unless asked for


@pytest.mark.parametrize("change", ["one_row_off", "complement", "few_rows", "missing_value"])
def test_a_numeric_column_is_computed_only_when_every_row_fixes_it(change):
    table = make_related_table()[["living", "above", "basement", "noise", "label"]]
    if change == "one_row_off":
        table.loc[7, "living"] += 1
    elif change == "complement":  # living + rest = 6000: each is the other with a negative weight, not a total
        table = table.assign(rest=6000 - table["living"]).drop(columns=["above", "basement"])
    elif change == "few_rows":
        table = table.head(30)  # under 10 rows per candidate source: a column can fit the others by chance
    else:
        table["living"] = table["living"].astype("float64")
        table.loc[0, "living"] = np.nan
    assert TableEncoder(infer_schema(table), compute=True).fit(table).computed_ == []


@pytest.mark.parametrize("change", ["varies_in_a_level", "missing_value", "few_rows_per_level"])
def test_a_numeric_column_is_derived_only_when_every_level_fixes_it(change):
    table = make_coded_table()
    if change == "varies_in_a_level":
        table.loc[table.index[table["degree"] == "masters"][0], "degree_num"] = 15
    elif change == "missing_value":
        table["degree_num"] = table["degree_num"].astype("float64")
        table.loc[0, "degree_num"] = np.nan
    else:
        table = table.head(40)  # 5 levels in 40 rows: under MIN_ROWS_PER_LEVEL rows per level, a mapping by chance
    encoder = TableEncoder(infer_schema(table)).fit(table)
    assert encoder.derived_ == [] and "degree_num" in [c.name for c in encoder.numeric_]
