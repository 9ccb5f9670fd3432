"""The demo: fit the bundled Palmer Penguins table, sample a synthetic copy, write files and a short comparison."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from .evaluation import evaluate
from .synthesizer import Synthesizer
from .tables import check_writable, load_demo_table, write_table


def compare(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """Side-by-side summary per column: mean (numeric) or most common value share (others), and missing rate."""
    rows = []
    for name in real.columns:
        r, s = real[name], synthetic[name]
        if pd.api.types.is_numeric_dtype(r.dtype) and not pd.api.types.is_bool_dtype(r.dtype):
            stat, rv, sv = "mean", f"{r.mean():.4g}", f"{s.mean():.4g}"
        else:
            top = r.mode().iloc[0]
            stat, rv, sv = f"share {top!s}", f"{(r == top).mean():.1%}", f"{(s == top).mean():.1%}"
        rows.append({"column": name, "statistic": stat, "real": rv, "synthetic": sv,
                     "missing real": f"{r.isna().mean():.1%}", "missing synthetic": f"{s.isna().mean():.1%}"})
    return pd.DataFrame(rows)


def _report(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, out: Path, seed: int) -> list[str]:
    """Evaluate and write report.html (report.json only, with a hint, when matplotlib is not installed)."""
    result = evaluate(train, synthetic, holdout, target="species", seed=seed, verbose=False)
    json_path = out / "report.json"
    result.to_json(json_path)
    lines = [f"{area:<10} {v['level']:<5} {v['headline']}" for area, v in result.verdicts.items()]
    try:
        result.to_html(out / "report.html")
    except ImportError:
        return lines + [f"Scores: {json_path} (pip install 'tabdiffusion[report]' for the HTML report)"]
    return lines + [f"Report:          {out / 'report.html'}"]


def demo_split(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo table split 80/20 into (train, holdout), rows keeping their original index."""
    real = load_demo_table()
    holdout = real.sample(frac=0.2, random_state=seed)
    return real.drop(index=holdout.index), holdout


def run_demo(out: Path, time_budget: float = 120.0, seed: int = 0) -> str:
    """Run the demo end to end and return the text to show the user.

    The table is split 80/20: the model learns the 80% and the 20% holdout lets the report judge privacy
    (are synthetic rows closer to training rows than to unseen ones?) and ML efficacy on unseen rows.
    """
    out = Path(out)
    check_writable(out / "penguins.tdm")  # before the fit, not after it
    train, holdout = demo_split(seed)
    start = time.perf_counter()
    synth = Synthesizer(seed=seed, time_budget=time_budget).fit(train, target="species")
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = synth.sample(len(train), seed=seed)
    sample_seconds = time.perf_counter() - start
    model_path = synth.save(out / "penguins.tdm")
    train_path = write_table(train, out / "penguins_train.csv")
    synthetic_path = write_table(synthetic, out / "penguins_synthetic.csv")
    report_lines = _report(train.reset_index(drop=True), synthetic, holdout.reset_index(drop=True), out, seed)
    lines = [
        f"Palmer Penguins: {len(train) + len(holdout)} rows x {train.shape[1]} columns (target: species); "
        f"{len(train)} to learn from, {len(holdout)} held out",
        f"Fitted {synth.history_.steps} steps in {fit_seconds:.1f}s; sampled {len(synthetic)} rows in {sample_seconds:.2f}s.",
        "",
        compare(train, synthetic).to_string(index=False),
        "",
        *report_lines,
        f"Training table:  {train_path}",
        f"Synthetic table: {synthetic_path}",
        f"Model:           {model_path}",
        "",
        "Next:",
        f"  tabdiffusion sample {model_path} --rows 10000 --out more.csv",
        "  tabdiffusion fit your_table.csv --target your_label --out model.tdm --time-budget 300",
        f"  tabdiffusion report --real {train_path} --synthetic {synthetic_path} --out report.html",
    ]
    return "\n".join(lines)
