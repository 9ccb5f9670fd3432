"""Properties over random tables (hypothesis), and a learning test with known structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tabdiffusion as td

TINY = dict(steps=3, batch_size=32, d_layers=(16,), num_timesteps=5, verbose=False, device="cpu", min_proximity=0)
KINDS = ("float", "int", "nullable_int", "bool", "text", "category", "datetime")


def _column(kind: str, n: int, missing: float, levels: int, rng: np.random.Generator) -> pd.Series:
    """One column of a kind, n rows, about `missing` of them missing where the kind allows it."""
    gaps = rng.random(n) < missing
    if kind == "float":
        return pd.Series(np.where(gaps, np.nan, rng.normal(size=n).round(3)))
    if kind == "int":
        return pd.Series(rng.integers(0, levels * 3 + 2, n))
    if kind == "nullable_int":
        return pd.Series(pd.array(np.where(gaps, None, rng.integers(-5, 50, n)), dtype="Int64"))
    if kind == "bool":
        return pd.Series(rng.random(n) < 0.4)
    values = rng.choice([f"v{i}" for i in range(levels)], n).astype(object)
    values[gaps] = None
    if kind == "category":
        return pd.Series(pd.Categorical(values, categories=[f"v{i}" for i in range(levels)]))
    if kind == "text":
        return pd.Series(values, dtype=object)
    days = pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    return pd.Series(pd.Timestamp("2021-01-01") + days).where(~gaps)


@st.composite
def tables(draw) -> pd.DataFrame:
    """A table of 6 to 40 rows and 2 to 6 columns of random kinds, missing values and level counts."""
    n = draw(st.integers(6, 40))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=2, max_size=6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    columns = {f"c{i}_{kind}": _column(kind, n, draw(st.sampled_from([0.0, 0.2])), draw(st.integers(2, 6)), rng)
               for i, kind in enumerate(kinds)}
    return pd.DataFrame(columns)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_any_table_comes_back_with_its_columns_dtypes_and_values_and_survives_a_save(table, tmp_path_factory):
    try:
        synth = td.Synthesizer(seed=0, **TINY).fit(table)
    except td.SchemaError as error:  # a table with nothing to learn gets a clear error, not a crash
        assert "Nothing to learn" in str(error)
        return
    rows = synth.sample(25, seed=1)
    assert list(rows.columns) == list(table.columns)
    for name in table.columns:  # a category column's declared categories drop the rare levels (value protection)
        real, fake = table[name].dtype, rows[name].dtype
        if isinstance(real, pd.CategoricalDtype):
            assert isinstance(fake, pd.CategoricalDtype) and set(fake.categories) <= set(real.categories) | {"_RARE_"}
        else:
            assert fake == real, name
    assert len(rows) == 25 and rows.index.equals(pd.RangeIndex(25))
    for name in table.columns:
        real, fake = table[name], rows[name]
        if table[name].notna().all():
            assert fake.notna().all(), name  # a column without gaps gets none
        if isinstance(real.dtype, pd.CategoricalDtype) or real.dtype == object:
            allowed = set(real.dropna()) | {"_RARE_"}
            assert set(fake.dropna()) <= allowed, name
        elif pd.api.types.is_numeric_dtype(real.dtype) and not pd.api.types.is_bool_dtype(real.dtype) and fake.notna().any():
            assert real.min() <= fake.min() and fake.max() <= real.max(), name  # within the training range
    path = tmp_path_factory.mktemp("model") / "m.tdm"
    pd.testing.assert_frame_equal(td.Synthesizer.load(synth.save(path)).sample(25, seed=1), rows)


def test_a_fit_learns_a_known_correlation_and_known_class_means():
    """Without the marginal calibration, what the denoiser learned shows directly: x and z correlate at 0.8 and w
    has mean +2 in class a and -2 in class b."""
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    label = rng.choice(["a", "b"], n)
    table = pd.DataFrame({"x": x, "z": 0.8 * x + 0.6 * rng.normal(size=n),
                          "w": np.where(label == "a", 2.0, -2.0) + 0.5 * rng.normal(size=n), "label": label})
    synth = td.Synthesizer(seed=0, steps=600, batch_size=256, d_layers=(64, 64), num_timesteps=50, calibrate=False,
                           min_proximity=0, verbose=False, device="cpu").fit(table, target="label")
    rows = synth.sample(3000, seed=1)
    assert rows["x"].corr(rows["z"]) == pytest.approx(0.8, abs=0.1)
    means = rows.groupby("label")["w"].mean()
    assert means["a"] == pytest.approx(2.0, abs=0.4) and means["b"] == pytest.approx(-2.0, abs=0.4)
    assert rows["label"].value_counts(normalize=True)["a"] == pytest.approx((label == "a").mean(), abs=0.05)
