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
    ({"city": "Rome"}, r"conditions\['city'\]: the column has no the level 'Rome' \(str\) in training\. Known levels: "),
    ({"city": 3}, r"no the level 3 \(int\).*Known levels: "),
    ({"age": "old"}, r"conditions\['age'\] = 'old' is not a finite number; the column is integer"),
    ({"age": 200}, r"conditions\['age'\] = 200 is outside the column's training range, 18 to 89"),
    ({"age": (60, 40)}, r"is an empty range"),
    ({"age": (100, 120)}, r"holds no value the column takes in training"),
    ({"age": ["18", "19"]}, r"a list of levels applies to categorical columns"),
    ({"age": None}, r"asks for missing values, but the column has none"),
    ({"customer_id": "C00001"}, r"'customer_id' is an identifier"),
    ({"source": "app"}, r"holds one value, 'web', in every training row"),
    ({"city": []}, r"empty list of levels"),
    ({"label": "maybe"}, r"conditions\['label'\]: the column has no the level 'maybe'"),
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
