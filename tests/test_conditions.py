"""Conditional generation and imputation: the model-space constraints, the parsing of conditions and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tabdiffusion.diffusion.constraints import Constraints
from tabdiffusion.diffusion.flow import RectifiedFlow
from tabdiffusion.diffusion.mixed import MixedDiffusion
from tabdiffusion.errors import ParameterError
from tabdiffusion.nn.mlp import MLPDenoiser
from tabdiffusion.schema import infer_schema
from tabdiffusion.transforms.conditions import from_conditions, known_rows
from tabdiffusion.transforms.table import TableEncoder

from conftest import make_mixed_table


# ---------------------------------------------------------------------------------------------- model space
def _constraints(sizes: list[int]) -> Constraints:
    """Column 0 fixed at 0.5, column 1 in [-1, 0], column 2 free; category 0 fixed to level 2, category 1 in {0, 1}."""
    low = torch.tensor([[0.5, -1.0, -float("inf")]])
    high = torch.tensor([[0.5, 0.0, float("inf")]])
    allowed = torch.ones(1, sum(sizes))
    allowed[0, : sizes[0]] = torch.tensor([0.0, 0.0, 1.0, 0.0])
    allowed[0, sizes[0] : sizes[0] + sizes[1]] = torch.tensor([1.0, 1.0, 0.0])
    return Constraints(low, high, allowed)


@pytest.mark.parametrize("process, sampler", [("diffusion", "ancestral"), ("diffusion", "ddim"), ("flow", "euler")])
def test_every_sampler_meets_the_constraints_in_every_row(process, sampler):
    """An untrained denoiser predicts anything; the projected steps still end on the constrained values."""
    sizes = [4, 3]
    if process == "flow":
        diffusion = RectifiedFlow(3, sizes)
    else:
        diffusion = MixedDiffusion(3, sizes, num_timesteps=20)
    model = MLPDenoiser(diffusion.input_width, [32, 32], 0, 16, 0.0, n_numeric=3).eval()
    generator = torch.Generator().manual_seed(0)
    x_num, x_cat = diffusion.sample(model, 500, None, generator, steps=5 if sampler != "ancestral" else None,
                                    sampler=sampler, constraints=_constraints(sizes))
    assert torch.allclose(x_num[:, 0], torch.full((500,), 0.5), atol=1e-6)
    assert ((x_num[:, 1] >= -1 - 1e-6) & (x_num[:, 1] <= 1e-6)).all()
    if process == "diffusion":
        assert x_num[:, 2].std() > 0.1  # the free column is not pinned (an untrained flow barely moves its rows)
    assert (x_cat[:, 0] == 2).all()
    assert (x_cat[:, 1] <= 1).all()
    if process == "diffusion":
        assert set(x_cat[:, 1].tolist()) == {0, 1}  # both allowed levels are drawn


def test_per_row_constraints_follow_their_rows():
    diffusion = MixedDiffusion(1, [3], num_timesteps=10)
    model = MLPDenoiser(diffusion.input_width, [16], 0, 16, 0.0, n_numeric=1).eval()
    values = torch.linspace(-2, 2, 50)[:, None]
    allowed = torch.nn.functional.one_hot(torch.arange(50) % 3, 3).float()
    constraints = Constraints(values, values, allowed)
    x_num, x_cat = diffusion.sample(model, 50, None, torch.Generator().manual_seed(1), steps=4, sampler="ddim",
                                    constraints=constraints)
    assert torch.allclose(x_num, values, atol=1e-6)
    assert torch.equal(x_cat[:, 0], torch.arange(50) % 3)


# --------------------------------------------------------------------------------------------- parsing conditions
@pytest.fixture(scope="module")
def encoder() -> TableEncoder:
    table = make_mixed_table(200)
    return TableEncoder(infer_schema(table), target="label").fit(table)


@pytest.mark.parametrize("conditions, message", [
    ({"town": "Oslo"}, r"conditions names 'town', which is not a column\. Columns are: 'age', 'income'"),
    ({"city": "Rome"}, r"conditions\['city'\]: the column never holds 'Rome' \(str\) in training\. Known levels: "),
    ({"city": 3}, r"never holds 3 \(int\).*Known levels: "),
    ({"age": "old"}, r"conditions\['age'\] = 'old' is not a finite number; the column is integer"),
    ({"age": 200}, r"conditions\['age'\] = 200 is outside the column's training range, 18 to 89"),
    ({"age": (60, 40)}, r"is an empty range"),
    ({"age": (100, 120)}, r"holds no value the column takes in training"),
    ({"age": ["18", "19"]}, r"a list of levels applies to categorical columns"),
    ({"age": None}, r"asks for missing values, but the column has none"),
    ({"customer_id": "C00001"}, r"'customer_id' is an identifier"),
    ({"source": "app"}, r"holds one value, 'web', in every training row"),
    ({"city": []}, r"empty list of levels"),
    ({"label": "maybe"}, r"conditions\['label'\]: the column never holds 'maybe'"),
    ({"joined": "not a date"}, r"is not a date or time"),
    (["age"], r"conditions must map column names to values"),
])
def test_bad_conditions_name_the_column_and_what_is_allowed(encoder, conditions, message):
    with pytest.raises(ParameterError, match=message):
        from_conditions(encoder, conditions, None, np.random.default_rng(0))


def test_conditions_become_bounds_levels_and_classes(encoder):
    constraints = from_conditions(encoder, {"age": (30, 40), "income": None, "city": ["Oslo", "Lima"], "label": "yes"},
                                  None, np.random.default_rng(0))
    names = [c.name for c in encoder.numeric_]
    age = names.index("age")
    assert constraints.low[0, age] > -5 and constraints.high[0, age] < 5 and constraints.low[0, age] < constraints.high[0, age]
    assert np.isinf(constraints.low[0, names.index("income")])  # a missing value leaves the code free
    city = encoder.categorical_[[c.name for c in encoder.categorical_].index("city")]
    offset = sum(c.n_levels for c in encoder.categorical_[: [c.name for c in encoder.categorical_].index("city")])
    allowed = {city.levels_[k] for k in np.flatnonzero(constraints.allowed[0, offset : offset + city.n_levels])}
    assert allowed == {"Oslo", "Lima"}
    indicator = sum(encoder.category_sizes[: len(encoder.categorical_)]) + 0  # income's is the only indicator
    assert constraints.allowed[0, indicator : indicator + 2].tolist() == [False, True]
    assert encoder.label_.levels_[int(np.flatnonzero(constraints.labels[0])[0])] == "yes"


def test_known_cells_fix_their_rows_and_missing_cells_stay_free_or_values(encoder):
    known = pd.DataFrame({"age": [30, None, 50], "income": [None, 5000.0, None], "city": ["Oslo", None, "Kobe"]})
    free = known_rows(encoder, known, None, values_only=False)
    filled = known_rows(encoder, known, None, values_only=True)
    names = [c.name for c in encoder.numeric_]
    age = names.index("age")
    assert np.isfinite(free.low[[0, 2], age]).all() and np.isinf(free.low[1, age])
    indicator = sum(encoder.category_sizes[: len(encoder.categorical_)])
    assert free.allowed[:, indicator + 1].tolist() == [True, False, True]  # missing income may stay missing
    assert filled.allowed[:, indicator + 1].tolist() == [False, False, False]  # imputation fills every cell


# ------------------------------------------------------------------------------------------------ the Synthesizer
import tabdiffusion as td  # noqa: E402

from conftest import FAST  # noqa: E402


@pytest.fixture(scope="module")
def fitted_mixed() -> tuple[td.Synthesizer, pd.DataFrame]:
    table = make_mixed_table(300)
    return td.Synthesizer(seed=0, **{**FAST, "steps": 150}).fit(table, target="label"), table


@pytest.mark.parametrize("conditions, holds", [
    ({"city": "Oslo"}, lambda d: (d.city == "Oslo").all()),
    ({"member": True}, lambda d: d.member.all()),
    ({"age": 42}, lambda d: (d.age == 42).all() and d.age.dtype == "int64"),
    ({"income": 20000.123}, lambda d: (d.income == 20000.123).all()),  # more decimals than the column keeps
    ({"joined": "2021-03-04"}, lambda d: (d.joined == pd.Timestamp("2021-03-04")).all()),
    ({"age": (30, 40)}, lambda d: d.age.between(30, 40).all() and d.age.nunique() > 3),
    ({"age": (None, 25)}, lambda d: (d.age <= 25).all()),
    ({"income": (15000.0, 30000.0)}, lambda d: d.income.between(15000, 30000).all()),
    # Ends between the column's two-decimal values, with a category so that a projected pass piles rows on them.
    ({"income": (15000.005, 22000.005), "city": "Pune"}, lambda d: d.income.between(15000.005, 22000.005).all()),
    # Ends a float's noise away from two-decimal values (as quantiles give): no row may fall outside them.
    ({"income": (15000.01 + 2e-12, 22000.01 - 2e-12), "city": "Pune"},
     lambda d: d.income.between(15000.01 + 2e-12, 22000.01 - 2e-12).all()),
    ({"joined": ("2021-01-01", "2021-06-30")}, lambda d: d.joined.between("2021-01-01", "2021-06-30").all()),
    ({"city": ["Oslo", "Lima"]}, lambda d: set(d.city) == {"Oslo", "Lima"}),
    ({"income": None}, lambda d: d.income.isna().all()),
    ({"city": None}, lambda d: d.city.isna().all()),
    ({"label": "yes"}, lambda d: (d.label == "yes").all()),
    ({"label": "yes", "city": "Kobe", "age": (50, 60), "member": False},
     lambda d: ((d.label == "yes") & (d.city == "Kobe") & d.age.between(50, 60) & ~d.member).all()),
])
def test_every_kind_of_condition_holds_in_every_row(fitted_mixed, conditions, holds):
    synth, table = fitted_mixed
    rows = synth.sample(400, seed=3, conditions=conditions)
    assert len(rows) == 400 and list(rows.columns) == list(table.columns)
    assert rows.dtypes.to_dict() == synth.sample(5, seed=0).dtypes.to_dict()
    assert holds(rows)


def test_a_pooled_rare_level_is_generated_exactly(fitted_mixed):
    table = make_mixed_table(300).assign(city=lambda d: d.city.where(d.index % 50 != 0, "Rare" + (d.index // 50).astype(str)))
    # Levels held by one row each: value protection would forget them, so this checks the cap's pooling without it.
    synth = td.Synthesizer(seed=0, max_categories=4, value_protection=False, **FAST).fit(table, target="label")
    assert "Rare1" in synth.encoder_.categorical_[[c.name for c in synth.encoder_.categorical_].index("city")].rare_values_
    assert (synth.sample(50, seed=0, conditions={"city": "Rare1"}).city == "Rare1").all()
    assert set(synth.sample(200, seed=0, conditions={"city": ["Rare1", "Rare2"]}).city) == {"Rare1", "Rare2"}


def test_conditional_sampling_is_seeded(fitted_mixed):
    synth, _ = fitted_mixed
    conditions = {"city": "Lima", "age": (20, 50)}
    pd.testing.assert_frame_equal(synth.sample(100, seed=5, conditions=conditions), synth.sample(100, seed=5, conditions=conditions))
    assert not synth.sample(100, seed=5, conditions=conditions).equals(synth.sample(100, seed=6, conditions=conditions))


def test_sample_remaining_columns_keeps_every_known_cell(fitted_mixed):
    synth, table = fitted_mixed
    known = table.loc[[5, 9, 11, 40], ["age", "city", "label"]].copy()
    known.loc[9, "city"] = None
    rows = synth.sample_remaining_columns(known, seed=0)
    assert list(rows.index) == [5, 9, 11, 40] and list(rows.columns) == list(table.columns)
    assert rows.age.tolist() == known.age.tolist() and rows.label.tolist() == known.label.tolist()
    assert rows.loc[[5, 11, 40], "city"].tolist() == known.loc[[5, 11, 40], "city"].tolist()
    with pytest.raises(ParameterError, match=r"known has columns the model does not know: \['town'\]"):
        synth.sample_remaining_columns(known.rename(columns={"city": "town"}))


def test_impute_fills_only_the_missing_cells_and_keeps_the_rest_byte_identical(fitted_mixed):
    synth, table = fitted_mixed
    data = table.head(60).copy().set_axis(range(100, 160))
    rng = np.random.default_rng(0)
    for name in ("age", "income", "city", "plan", "joined"):
        data[name] = data[name].where(rng.random(60) > 0.3)
    data["note"] = "kept"  # a column the model does not know
    before = data.copy(deep=True)
    filled = synth.impute(data, seed=1)
    pd.testing.assert_frame_equal(data, before)  # the input is not modified
    assert list(filled.columns) == list(data.columns) and filled.index.equals(data.index)
    assert filled.dtypes.equals(data.dtypes)
    observed = data.notna()
    for name in data.columns:
        assert filled[name][observed[name]].equals(data[name][observed[name]])
    assert filled[["age", "city", "plan", "joined"]].notna().all().all()
    assert filled.income.notna().all()  # a missing cell is filled with a value, though income has missing values
    copies = synth.impute(data, draws=3, seed=1)
    assert len(copies) == 3 and not copies[0].equals(copies[1])
    pd.testing.assert_frame_equal(copies[0], synth.impute(data, draws=3, seed=1)[0])  # seeded


def test_the_conditional_distribution_is_learned():
    """income depends on country (means 10 / 20 / 30): conditioned on a country, the generated incomes have its mean;
    conditioned on a high income range, the country is the rich one."""
    rng = np.random.default_rng(0)
    country = rng.choice(["A", "B", "C"], 900)
    income = np.select([country == "A", country == "B"], [10.0, 20.0], 30.0) + rng.normal(0, 1.5, 900)
    table = pd.DataFrame({"country": country, "income": income.round(3), "noise": rng.normal(size=900)})
    for calibrate in (False, True):
        synth = td.Synthesizer(seed=0, calibrate=calibrate, min_proximity=0, steps=2500, batch_size=128,
                               d_layers=(64, 64), num_timesteps=50, verbose=False, device="cpu").fit(table)
        for name, mean in (("A", 10.0), ("B", 20.0), ("C", 30.0)):
            rows = synth.sample(400, seed=1, conditions={"country": name})
            assert abs(rows.income.mean() - mean) < 1.5, (calibrate, name, rows.income.mean())  # 1 sd of a country
        rich = synth.sample(400, seed=2, conditions={"income": (27.0, None)})
        assert (rich.country == "C").mean() > 0.95, (calibrate, rich.country.value_counts())



def test_a_known_category_moves_every_column_it_shapes():
    """Five numeric columns share a latent size and a group effect of one standard deviation; conditioned on the
    group, each column's mean must move the whole way to the group's, not stay near the table's (a model that reads
    the clean category weakly lands between them)."""
    rng = np.random.default_rng(0)
    group = rng.choice(["small", "large"], 1500)
    size = rng.normal(size=1500)
    table = pd.DataFrame({f"x{k}": (group == "large") + 0.8 * size + 0.3 * rng.normal(size=1500) for k in range(5)})
    table["group"] = group
    synth = td.Synthesizer(seed=0, calibrate=False, min_proximity=0, steps=2500, batch_size=256, d_layers=(128, 128),
                           verbose=False, device="cpu").fit(table)
    for name, mean in (("small", 0.0), ("large", 1.0)):
        rows = synth.sample(1000, seed=1, conditions={"group": name})
        means = rows.drop(columns="group").mean()
        assert (means - mean).abs().max() < 0.15, (name, means.round(3).tolist())  # the table's mean is 0.5 away


def test_conditions_on_other_columns_draw_the_class_with_its_conditional_frequencies():
    """The class is an input of the denoiser, not a column it generates: conditioned on a country, its share of
    'yes' must be that country's (0.1 / 0.5 / 0.9), not the whole table's 0.32."""
    rng = np.random.default_rng(0)
    country = rng.choice(["A", "B", "C"], 1500, p=[0.6, 0.3, 0.1])
    label = np.where(rng.random(1500) < np.select([country == "A", country == "B"], [0.1, 0.5], 0.9), "yes", "no")
    table = pd.DataFrame({"country": country, "x": rng.normal(size=1500) + (label == "yes"), "label": label})
    synth = td.Synthesizer(seed=0, min_proximity=0, steps=1500, batch_size=256, d_layers=(64, 64),
                           verbose=False).fit(table, target="label")
    for name in "ABC":
        real = (table[table.country == name].label == "yes").mean()
        rows = synth.sample(600, seed=1, conditions={"country": name})
        assert abs((rows.label == "yes").mean() - real) < 0.1, (name, real, (rows.label == "yes").mean())

# --------------------------------------------------------------------------------------------------------- the CLI
def test_the_cli_samples_under_conditions_from_known_rows_and_imputes(fitted_mixed, tmp_path):
    from typer.testing import CliRunner

    from tabdiffusion.cli import app

    synth, table = fitted_mixed
    model = synth.save(tmp_path / "m.tdm")
    runner = CliRunner()
    where = runner.invoke(app, ["sample", str(model), "--rows", "50", "--where", "city=Oslo,Lima", "--where", "age=30..40",
                                "--where", "member=true", "--where", "income=", "--out", str(tmp_path / "w.csv"), "--seed", "0"])
    assert where.exit_code == 0, where.output
    rows = pd.read_csv(tmp_path / "w.csv")
    assert len(rows) == 50 and set(rows.city) <= {"Oslo", "Lima"} and rows.age.between(30, 40).all()
    assert rows.member.all() and rows.income.isna().all()
    bad = runner.invoke(app, ["sample", str(model), "--rows", "5", "--where", "city=Rome", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1 and "'Rome' is not a level of 'city'" in bad.output and "Traceback" not in bad.output
    table.head(4)[["age", "label"]].to_csv(tmp_path / "known.csv", index=False)
    known = runner.invoke(app, ["sample", str(model), "--known", str(tmp_path / "known.csv"), "--out", str(tmp_path / "k.csv")])
    assert known.exit_code == 0, known.output
    assert pd.read_csv(tmp_path / "k.csv").age.tolist() == table.age.head(4).tolist()
    gaps = table.head(20).copy()
    gaps.loc[::3, "income"] = np.nan
    gaps.to_csv(tmp_path / "gaps.csv", index=False)
    filled = runner.invoke(app, ["impute", str(model), str(tmp_path / "gaps.csv"), "--out", str(tmp_path / "f.csv"),
                                 "--draws", "2", "--seed", "0"])
    assert filled.exit_code == 0, filled.output
    out = pd.read_csv(tmp_path / "f.csv")
    assert list(out.columns) == ["draw", *gaps.columns] and len(out) == 40 and out.income.notna().all()


def test_a_condition_on_a_derived_column_conditions_its_source():
    from conftest import make_coded_table

    synth = td.Synthesizer(seed=0, **FAST).fit(make_coded_table(300))
    assert [c.name for c in synth.encoder_.derived_] == ["degree_num"]
    rows = synth.sample(100, seed=0, conditions={"degree_num": 13})
    assert (rows.degree_num == 13).all() and (rows.degree == "bachelors").all()
    rows = synth.sample(200, seed=0, conditions={"degree_num": (13, 14)})
    assert set(rows.degree) == {"bachelors", "masters"}


def test_a_combination_no_training_row_shows_is_warned_about_and_still_generated(tmp_path):
    """red rows are always size S with negative x: asking for red and L, or blue with a negative x, warns (naming the
    columns) and still meets the conditions; combinations the data shows do not warn, also after save and load."""
    import warnings

    import tabdiffusion as td

    rng = np.random.default_rng(0)
    color = rng.choice(["red", "blue"], 300)
    table = pd.DataFrame({"color": color, "size": np.where(color == "red", "S", "L"),
                          "x": np.where(color == "red", -1.0, 1.0) * rng.uniform(1, 2, 300),
                          "label": rng.choice(["yes", "no"], 300)})
    synth = td.Synthesizer(seed=0, steps=30, min_proximity=0, d_layers=(32,), num_timesteps=20, verbose=False,
                           device="cpu").fit(table, target="label")
    loaded = td.Synthesizer.load(synth.save(tmp_path / "m.tdm"))
    for model in (synth, loaded):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for seen in ({"color": "red", "size": "S"}, {"color": "red", "x": (-1.8, -1.2)},
                         {"label": "yes", "color": ["red", "blue"], "size": "L"}):
                model.sample(5, seed=0, conditions=seen)
        for unseen, named in (({"color": "red", "size": "L"}, "'color' with 'size'"),
                              ({"color": "blue", "x": (-1.8, -1.2)}, "'x' with 'color'")):
            with pytest.warns(UserWarning, match=f"No training row has the requested values of {named}"):
                rows = model.sample(20, seed=0, conditions=unseen)
            for name, condition in unseen.items():
                assert (rows[name] == condition).all() if isinstance(condition, str) else rows[name].between(*condition).all()
