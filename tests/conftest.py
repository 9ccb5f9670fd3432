"""Shared fixtures: a small mixed table with every column kind and missing values, and a fast synthesizer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tabdiffusion as td

# Tiny model and few steps: tests check properties, not quality.
FAST = dict(steps=60, batch_size=64, d_layers=(32, 32), num_timesteps=20, verbose=False, device="cpu")


def make_mixed_table(n: int = 160, seed: int = 0) -> pd.DataFrame:
    """A table with float, integer, boolean, categorical, datetime, ID and constant columns, some missing."""
    rng = np.random.default_rng(seed)
    label = rng.choice(["yes", "no"], size=n, p=[0.3, 0.7])
    income = np.round(rng.lognormal(10, 0.5, size=n), 2)
    income[rng.random(n) < 0.25] = np.nan
    city = rng.choice(["Oslo", "Lima", "Pune", "Kobe"], size=n).astype(object)
    city[rng.random(n) < 0.1] = None
    return pd.DataFrame({
        "age": rng.integers(18, 90, size=n),
        "income": income,
        "member": rng.random(n) < 0.4,
        "city": pd.Series(city, dtype="str"),
        "plan": pd.Categorical(rng.choice(["basic", "pro"], size=n), categories=["basic", "pro", "max"]),
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, size=n), unit="D"),
        "customer_id": [f"C{i:05d}" for i in rng.permutation(n)],
        "source": "web",
        "label": label,
    })


@pytest.fixture
def mixed_table() -> pd.DataFrame:
    return make_mixed_table()


@pytest.fixture(scope="session")
def fitted() -> tuple[td.Synthesizer, pd.DataFrame]:
    """One synthesizer fitted once for the read-only tests."""
    table = make_mixed_table()
    return td.Synthesizer(seed=0, **FAST).fit(table, target="label"), table


def make_related_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Columns fixed by others: a total (living = above + basement), a copy (salary) and a length (speed)."""
    rng = np.random.default_rng(seed)
    above = rng.integers(500, 4000, size=n)
    basement = np.where(rng.random(n) < 0.6, 0, rng.integers(100, 1500, size=n))
    velocity = rng.normal(size=(n, 3)).round(6)
    salary = rng.lognormal(10, 0.5, size=n).round(2)
    return pd.DataFrame({
        "living": above + basement, "above": above, "basement": basement, "salary": salary, "salary_copy": salary,
        "vx": velocity[:, 0], "vy": velocity[:, 1], "vz": velocity[:, 2],
        "speed": np.linalg.norm(velocity, axis=1).round(6), "noise": rng.normal(size=n),
        "label": rng.choice(["a", "b"], size=n),
    })


def make_coded_table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A label column, its integer code (a function of it, as Adult's education-num of education) and noise."""
    rng = np.random.default_rng(seed)
    degree = rng.choice(["school", "college", "bachelors", "masters", "doctorate"], size=n)
    code = {"school": 9, "college": 10, "bachelors": 13, "masters": 14, "doctorate": 16}
    return pd.DataFrame({"degree": degree, "degree_num": [code[d] for d in degree], "x": rng.normal(size=n)})

