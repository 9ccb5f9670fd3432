"""The demo: fit the bundled Palmer Penguins table, sample a synthetic copy, write files and a short comparison."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from .synthesizer import Synthesizer
from .tables import load_demo_table, write_table


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


def run_demo(out: Path, time_budget: float = 120.0, seed: int = 0) -> str:
    """Run the demo end to end and return the text to show the user."""
    out = Path(out)
    real = load_demo_table()
    start = time.perf_counter()
    synth = Synthesizer(seed=seed, time_budget=time_budget).fit(real, target="species")
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = synth.sample(len(real), seed=seed)
    sample_seconds = time.perf_counter() - start
    model_path = synth.save(out / "penguins.tdm")
    real_path, synthetic_path = write_table(real, out / "penguins_real.csv"), write_table(synthetic, out / "penguins_synthetic.csv")
    lines = [
        f"Palmer Penguins: {len(real)} rows x {real.shape[1]} columns (target: species)",
        f"Fitted {synth.history_.steps} steps in {fit_seconds:.1f}s; sampled {len(synthetic)} rows in {sample_seconds:.2f}s.",
        "",
        compare(real, synthetic).to_string(index=False),
        "",
        f"Real table:      {real_path}",
        f"Synthetic table: {synthetic_path}",
        f"Model:           {model_path}",
        "",
        "Next:",
        f"  tabdiffusion sample {model_path} --rows 10000 --out more.csv",
        "  tabdiffusion fit your_table.csv --target your_label --out model.tdm --time-budget 300",
    ]
    return "\n".join(lines)
