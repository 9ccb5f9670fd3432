"""`report_cli`: the plain function behind `tabdiffusion report` (reads CSV/Parquet, writes HTML and JSON)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import ParameterError
from .core import evaluate
from .limits import Limits
from .result import EvaluationResult

Table = str | Path | pd.DataFrame


def read_table(source: Table, name: str) -> pd.DataFrame:
    """A DataFrame as is, or one read from a .csv/.tsv/.parquet/.pq path."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.is_file():
        raise ParameterError(f"--{name}: file {str(path)!r} does not exist.")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() in (".gz", ".bz2", ".zip", ".xz") else path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix.startswith(".csv"):
        return pd.read_csv(path)
    if suffix.startswith(".tsv"):
        return pd.read_csv(path, sep="\t")
    raise ParameterError(f"--{name}: cannot read {str(path)!r}; use a .csv, .tsv or .parquet file.")


def report_cli(
    real: Table,
    synthetic: Table,
    holdout: Table | None = None,
    target: str | None = None,
    out_html: str | Path | None = None,
    out_json: str | Path | None = None,
    seed: int = 0,
    verbose: bool = True,
    limits: Limits | None = None,
) -> EvaluationResult:
    """Read the tables, run `evaluate`, write the HTML report and/or JSON; return the result."""
    result = evaluate(
        read_table(real, "real"),
        read_table(synthetic, "synthetic"),
        None if holdout is None else read_table(holdout, "holdout"),
        target=target,
        seed=seed,
        limits=limits,
        verbose=verbose,
    )
    if out_json is not None:
        result.to_json(out_json)
    if out_html is not None:
        result.to_html(out_html)
    return result
