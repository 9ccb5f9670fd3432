"""Value protection's price: the default with and without it, on benchmark tables, scored by tabdiffusion.evaluate.

    python -m benchmarks.value_protection --datasets abalone,adult,churn2,insurance --budget 120

For each table: two fits of the default with the same seed and budget, value_protection on and off, each sampled
at the train size and scored against the train split (the test split as holdout): column-shape and pair-trend
errors, detection AUC (gradient boosting), DCR share, and ML efficacy (the evaluation's CatBoost, trained on the
synthetic rows, tested on the test split). For the protected fit, the rows are also scored with every `_RARE_` cell
replaced by its column's most frequent level: the other way a protected level could decode. Results go to
benchmarks/results/privacy/value_protection.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import tabddpm_data
from .tabddpm_data import TARGET, Dataset

RESULTS = Path(__file__).resolve().parent / "results" / "privacy" / "value_protection.json"
SCORES = {"shape_error": "fidelity.column_shapes_error", "pair_error": "fidelity.column_pair_trends_error",
          "detection_auc": "detection.gbm_auc", "dcr_share": "privacy.dcr_share"}
EFFICACY = ("efficacy.catboost.f1_macro.synthetic", "efficacy.catboost.r2.synthetic")


def _scores(data: Dataset, rows: pd.DataFrame, seed: int) -> dict:
    import tabdiffusion as td

    result = td.evaluate(data.train, rows, holdout=data.test, target=TARGET, seed=seed, verbose=False, n_jobs=2,
                         metrics=("fidelity", "detection", "privacy", "efficacy"))
    scores = {name: float(result.scores[key]) if key in result.scores else None for name, key in SCORES.items()}
    return {**scores, "efficacy": next((float(result.scores[k]) for k in EFFICACY if k in result.scores), None)}


def as_mode(rows: pd.DataFrame, train: pd.DataFrame, placeholder: str) -> pd.DataFrame:
    """`rows` with each placeholder cell replaced by its column's most frequent training level."""
    out = rows.copy()
    for name in out.columns:
        if out[name].dtype == object or pd.api.types.is_string_dtype(out[name].dtype):
            hit = out[name] == placeholder
            if hit.any():
                out[name] = out[name].where(~hit, train[name].mode().iloc[0])
    return out


def run_dataset(data: Dataset, budget: float, seed: int, log) -> dict:
    import tabdiffusion as td
    from tabdiffusion.transforms.protection import PROTECTED_TEXT

    entry: dict = {"train_rows": len(data.train), "variants": {}}
    for protect in (False, True):
        start = time.perf_counter()
        synth = td.Synthesizer(seed=seed, time_budget=budget, verbose=False, value_protection=protect)
        synth.fit(data.train, target=TARGET)
        rows = synth.sample(len(data.train), seed=seed + 1)
        name = "protected" if protect else "not protected"
        entry["variants"][name] = {"fit_seconds": time.perf_counter() - start, "steps": synth.history_.steps,
                                   "placeholder_share": float((rows == PROTECTED_TEXT).to_numpy().mean()),
                                   **_scores(data, rows, seed)}
        if protect and (rows == PROTECTED_TEXT).to_numpy().any():
            entry["variants"]["protected, decoded as the mode"] = _scores(data, as_mode(rows, data.train, PROTECTED_TEXT), seed)
        log(f"{data.name} {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in entry["variants"][name].items()
                                                 if isinstance(v, float)))
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.value_protection", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="abalone,adult,churn2,insurance")
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=None, help="subsample each split to this many rows (smoke runs)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    command = "python -m benchmarks.value_protection " + " ".join(argv if argv is not None else sys.argv[1:])
    print(tabddpm_data.run_each(args.datasets, Path(args.out), command, {"budget": args.budget, "seed": args.seed},
                                args.rows, args.seed, lambda data: run_dataset(data, args.budget, args.seed, print)))


def _f(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4f}"


def render(results: dict) -> list[str]:
    """Markdown for docs/benchmarks.md: one row per table and variant."""
    machine, settings = results.get("machine", {}), results["settings"]
    lines = ["## Value protection", "", "Commands: " + "; ".join(f"`{c}`" for c in results["commands"])
             + f" on {machine.get('processor')} ({machine.get('cores')} cores); fit budget {settings['budget']:g} s, "
             f"seed {settings['seed']}, one fit per variant, rows sampled at the train size. Scores by "
             "`tabdiffusion.evaluate` against the train split with the test split as holdout; efficacy is the "
             "evaluation's CatBoost (macro F1 or R2 on the test split), not the paper's tuned protocol.", "",
             "| table | variant | shape error | pair error | detection AUC | DCR share | efficacy | `_RARE_` cells |",
             "|---|---|---|---|---|---|---|---|"]
    for table, entry in results["datasets"].items():
        for variant, got in entry["variants"].items():
            share = got.get("placeholder_share")
            lines.append(f"| {table} | {variant} | {_f(got['shape_error'])} | {_f(got['pair_error'])} | "
                         f"{_f(got['detection_auc'])} | {_f(got['dcr_share'])} | {_f(got['efficacy'])} | "
                         f"{'' if share is None else f'{share:.4%}'} |")
    return lines + [""]


if __name__ == "__main__":
    main()
