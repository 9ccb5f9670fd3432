"""Numeric columns that are an exact function of other numeric columns: computed from them, not modelled.

Real tables carry totals (King County's sqft_living = sqft_above + sqft_basement), copies (the churn table holds
EstimatedSalary twice) and lengths (gesture's scalar velocities are the Euclidean norms of its vector velocities).
A model that learns every column breaks these identities in each generated row: a classifier trained on the rows
learns the breaks as if they were signal, and a detector can find them. A column that every training row fixes as
a non-negative combination of other numeric columns, or whose square is one of their squares (a Euclidean length),
is computed from the generated columns instead. Non-negative weights make the total the computed column (the
parts stay modelled, so a part never comes out negative because a total came out small).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from .numeric import NumericColumn

MIN_ROWS_PER_SOURCE = 10  # fewer rows than this per candidate source, and a column can fit the others by chance
SCREEN_ROWS = 4096  # an exact relation holds in every row, so a row sample finds it; all rows then confirm it
TOLERANCE = 1e-6  # of the column's largest absolute value: float32 storage and decimal rounding stay below it


def _fit(target: np.ndarray, sources: np.ndarray, intercept: bool) -> tuple[np.ndarray, float] | None:
    """Non-negative weights (and, if asked, an intercept) that best give target from sources, or None if all zero.

    Sources whose largest term is below the tolerance get weight 0: they fit rounding noise, not the identity.
    """
    scale = np.abs(sources).max(axis=0) + 1e-300  # columns of unit size for a well-posed solve
    constant = [np.ones(len(target)), -np.ones(len(target))] if intercept else []
    design = np.column_stack([sources / scale, *constant])
    solution, _ = nnls(design, target, maxiter=50 * design.shape[1])
    parts = solution[:sources.shape[1]]
    weights = np.where(parts < TOLERANCE * np.abs(target).max(), 0.0, parts / scale)
    return (weights, float(solution[-2] - solution[-1]) if intercept else 0.0) if weights.any() else None


def _exact(target: np.ndarray, computed: np.ndarray) -> bool:
    """Whether computed values match the column in every row to TOLERANCE of its largest absolute value."""
    return bool(np.all(np.abs(computed - target) <= TOLERANCE * np.abs(target).max()))


def _apply(sources: np.ndarray, weights: np.ndarray, intercept: float, squared: bool) -> np.ndarray:
    """The relation's values from the sources' values (n, k)."""
    if squared:
        return np.sqrt(np.maximum(sources ** 2 @ weights + intercept, 0.0))
    return sources @ weights + intercept


def _rank_deficient(matrix: np.ndarray) -> bool:
    """Whether some column of [matrix, 1] is (numerically) a linear combination of the others."""
    design = np.column_stack([matrix, np.ones(len(matrix))])
    design = design / (np.sqrt(np.mean(design ** 2, axis=0)) + 1e-300)
    singular = np.linalg.svd(design, compute_uv=False)
    return bool(singular[-1] <= 1e-6 * singular[0])


def _relation(target: np.ndarray, sources: np.ndarray, rows: np.ndarray,
              screens: dict[bool, bool]) -> tuple[np.ndarray, float, bool] | None:
    """(weights, intercept, squared) of an identity that gives target from sources in every row, or None.

    Fitted on the screening rows, confirmed on all; without an intercept first: the usual identities have none, and a
    fitted one would be rounding noise."""
    for squared in (False, True):
        if not screens[squared] or (squared and target.min() < 0):  # a length is never negative
            continue
        power = 2 if squared else 1
        for intercept in (False, True):
            fit = _fit(target[rows] ** power, sources[rows] ** power, intercept)
            if fit is not None and _exact(target, _apply(sources, *fit, squared)):
                return (*fit, squared)
    return None


Relation = tuple[list[str], list[float], float, bool]  # sources, weights, intercept, squared


def find_relations(values: dict[str, np.ndarray], seed: int = 0) -> dict[str, Relation]:
    """Column -> (sources, weights, intercept, squared) for the columns of `values` (name -> float64 values without
    NaN, in table order) that the others fix exactly; the sources of a relation are never computed themselves."""
    names = list(values)
    n = len(next(iter(values.values()), []))
    if len(names) < 2:
        return {}
    rows = np.random.default_rng(seed).permutation(n)[:SCREEN_ROWS]
    full = np.column_stack([values[c] for c in names])
    screens = {False: _rank_deficient(full[rows]), True: _rank_deficient(full[rows] ** 2)}
    if not any(screens.values()):  # most tables: no relation at all, found in one SVD per form
        return {}
    found, modelled, pinned = {}, list(names), set()
    for name in names:
        sources = [c for c in modelled if c != name]
        if name in pinned or n < MIN_ROWS_PER_SOURCE * (len(sources) + 1):
            continue
        columns = np.column_stack([values[c] for c in sources])
        relation = _relation(values[name], columns, rows, screens)
        if relation is not None:
            weights, intercept, squared = relation
            used = np.flatnonzero(weights)
            found[name] = ([sources[i] for i in used], weights[used].tolist(), intercept, squared)
            modelled.remove(name)
            pinned.update(sources[i] for i in used)
    return found


class ComputedColumn:
    """A numeric column computed from generated numeric columns through an identity that held in every training row."""

    def __init__(self, column: NumericColumn, sources: list[str], weights: list[float], intercept: float,
                 squared: bool) -> None:
        self.column, self.sources, self.weights = column, sources, weights
        self.intercept, self.squared = intercept, squared

    @property
    def name(self) -> str:
        return self.column.name

    def generate(self, columns: dict[str, pd.Series], sources: dict[str, NumericColumn]) -> pd.Series:
        """The column's values for the generated source columns (NumericColumns to read them as floats)."""
        values = np.column_stack([sources[c].to_float(columns[c]) for c in self.sources])
        computed = _apply(values, np.asarray(self.weights), self.intercept, self.squared)
        return self.column.from_float(computed, keep_range=False)  # in-range parts can sum beyond the total's range

    def describe(self) -> str:
        """The identity as a formula, e.g. 'total = 1 * a + 1 * b' or 'speed = sqrt(1 * vx^2 + 1 * vy^2)'."""
        power = "^2" if self.squared else ""
        terms = " + ".join(f"{w:.6g} * {c}{power}" for c, w in zip(self.sources, self.weights))
        terms += f" + {self.intercept:.6g}" if self.intercept else ""
        return f"{self.name} = sqrt({terms})" if self.squared else f"{self.name} = {terms}"

    def state(self) -> dict:
        return {"column": self.column.state(), "sources": self.sources, "weights": self.weights,
                "intercept": self.intercept, "squared": self.squared}

    @classmethod
    def from_state(cls, state: dict) -> "ComputedColumn":
        return cls(NumericColumn.from_state(state["column"]), state["sources"], state["weights"], state["intercept"],
                   state["squared"])
