"""Generation given known cells, row by row: what Synthesizer.sample_remaining_columns and Synthesizer.impute do with
a table once the model is fitted.

Each row of the table becomes its own code constraints (transforms/conditions.py: known_rows), one row is generated
for each under them, and the known cells are put back as they were given, so that they keep their exact values and
dtypes whatever the decoding would round or pool.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ._random import Seed, numpy_rng
from .errors import ParameterError
from .transforms.calibration import MarginalCalibration
from .transforms.conditions import CodeConstraints, known_rows, with_values
from .transforms.table import TableEncoder

# rows(n, rng, constraints): n decoded rows of the fitted model, row i meeting row i of `constraints`.
Rows = Callable[[int, np.random.Generator, CodeConstraints], pd.DataFrame]


def known_table(known: object, argument: str, names: list[str], extra_columns: bool = False) -> pd.DataFrame:
    """`known` (a DataFrame, named `argument` in errors) with a fresh 0..n-1 index, checked against the model's
    column `names`: at least one row, and no other columns unless `extra_columns`."""
    if not isinstance(known, pd.DataFrame):
        raise ParameterError(f"{argument} must be a pandas DataFrame, not {type(known).__name__}.")
    unknown = [c for c in known.columns if c not in names]
    if unknown and not extra_columns:
        raise ParameterError(f"{argument} has columns the model does not know: {unknown[:10]}. Columns are: "
                             f"{names}.")
    if len(known) == 0:
        raise ParameterError(f"{argument} has no rows; pass at least one row.")
    return known.reset_index(drop=True)


def remaining_columns(known: object, seed: Seed, encoder: TableEncoder, calibration: MarginalCalibration | None,
                      rows: Rows) -> pd.DataFrame:
    """One generated row per row of `known` with that row's non-missing cells kept and the rest generated given them;
    the model's columns, `known`'s index."""
    table = known_table(known, "known", encoder.schema.names)
    rng = numpy_rng(seed)
    constraints = known_rows(encoder, table, calibration, values_only=False)
    generated = rows(len(table), rng, constraints)
    for name in table.columns:
        present = table[name].notna().to_numpy()
        generated[name] = with_values(generated[name], present, table[name].to_numpy(dtype=object))
    return generated.set_axis(known.index)


def impute(data: object, draws: int, seed: Seed, encoder: TableEncoder, calibration: MarginalCalibration | None,
           rows: Rows) -> pd.DataFrame | list[pd.DataFrame]:
    """`draws` copies of `data` with the missing cells of the model's columns generated given each row's observed
    cells (one copy itself where draws is 1); only rows with a gap are generated, each draw from the same stream."""
    table = known_table(data, "data", encoder.schema.names, extra_columns=True)
    columns = [c for c in table.columns if c in encoder.schema.names]
    gaps = table[columns].isna().to_numpy()
    gapped = np.flatnonzero(gaps.any(axis=1))
    rng = numpy_rng(seed)
    constraints = known_rows(encoder, table.iloc[gapped][columns].reset_index(drop=True), calibration,
                             values_only=True) if len(gapped) else None
    copies = []
    for _ in range(draws):
        out = data.copy()
        if len(gapped):
            generated = rows(len(gapped), rng, constraints)
            for j, name in enumerate(columns):
                values = np.empty(len(out), dtype=object)
                values[gapped] = generated[name].to_numpy(dtype=object)
                out[name] = with_values(data[name], gaps[:, j], values).set_axis(data.index)
        copies.append(out)
    return copies[0] if draws == 1 else copies
