"""`report_cli`: the plain function behind `tabdiffusion report` (reads CSV/Parquet, writes HTML and JSON)."""

from __future__ import annotations

import os

import pandas as pd

from ..tables import as_dataframe
from .core import evaluate
from .limits import Limits
from .result import EvaluationResult

Table = str | os.PathLike | pd.DataFrame


def report_cli(
    real: Table,
    synthetic: Table,
    holdout: Table | None = None,
    target: str | None = None,
    out_html: str | os.PathLike | None = None,
    out_json: str | os.PathLike | None = None,
    seed: int = 0,
    verbose: bool = True,
    limits: Limits | None = None,
    n_jobs: int = -1,
    guarantee: object | None = None,
) -> EvaluationResult:
    """Read the tables (DataFrames or .csv/.parquet paths), run `evaluate`, write HTML and/or JSON atomically."""
    result = evaluate(
        as_dataframe(real, "real"),
        as_dataframe(synthetic, "synthetic"),
        None if holdout is None else as_dataframe(holdout, "holdout"),
        target=target,
        seed=seed,
        limits=limits,
        verbose=verbose,
        n_jobs=n_jobs,
        guarantee=guarantee,
    )
    if out_json is not None:
        result.to_json(out_json)
    if out_html is not None:
        result.to_html(out_html)
    return result
