"""`report_cli`: the plain function behind `tabdiffusion report` (reads CSV/Parquet, writes HTML and JSON)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..tables import as_dataframe, atomic_write
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
    )
    if out_json is not None:
        text = result.to_json()
        atomic_write(out_json, lambda temp: Path(temp).write_text(text, encoding="utf-8"))
    if out_html is not None:
        html = result.to_html()
        atomic_write(out_html, lambda temp: Path(temp).write_text(html, encoding="utf-8"))
    return result
