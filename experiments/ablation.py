"""Fit tabdiffusion with a few setting overrides on one benchmark dataset and score it: one row per variant.

    python -m experiments.ablation --dataset adult --variants "base:dequantize=False" "dequantized:dequantize=True"

A variant is NAME:KEY=VALUE,KEY=VALUE with Synthesizer keyword arguments (values parsed as Python literals);
`column_types={...}` goes to fit instead.
Each variant fits with the same seed on the train split, samples a train-size set and is scored by
tabdiffusion.evaluate against the train split (holdout = the test split; `--dataset penguins` uses the demo's
80/20 split); the worst columns' shape errors are listed so a change can be traced to the columns it affects.
Timings are whole fits on this machine. `--protocol` also scores the synthetic set with the paper's tuned CatBoost
(benchmarks.protocol, one CatBoost seed): compare variants on `protocol_val` (the real val split) so that choosing a
default does not tune against the test split that the harness reports. `--strong` adds the harness's strong detector
(benchmarks.detector: CatBoost on up to 20,000 rows per side) with the columns that give the rows away.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import time

import pandas as pd

import tabdiffusion as td
from benchmarks.detector import strong_detection
from benchmarks.protocol import catboost_score
from benchmarks.tabddpm_data import TARGET
from benchmarks.wide_table import load_any as load
from tabdiffusion.demo import demo_split


def parse_variant(text: str) -> tuple[str, dict]:
    """'name:a=1,b=True' -> ('name', {'a': 1, 'b': True})."""
    name, _, rest = text.partition(":")
    overrides = {}
    for item in filter(None, re.split(r",(?=\s*\w+\s*=)", rest)):  # commas inside a tuple value stay
        key, _, value = item.partition("=")
        overrides[key.strip()] = ast.literal_eval(value.strip())
    return name, overrides


def tables(name: str) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """Train split, holdout split, target column and task of a benchmark dataset, or of the demo's Penguins split."""
    if name == "penguins":
        train, holdout = demo_split(seed=0)
        return train.reset_index(drop=True), holdout.reset_index(drop=True), "species", "classification"
    data = load(name)
    return data.train, data.test, TARGET, "classification" if data.is_classification else "regression"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metrics", default="fidelity,detection,privacy")
    parser.add_argument("--protocol", action="store_true", help="also score with the paper's tuned CatBoost")
    parser.add_argument("--strong", action="store_true", help="also score with the strong detector (benchmarks.detector)")
    args = parser.parse_args()
    train, holdout, target, task = tables(args.dataset)
    scored_on = load(args.dataset) if args.protocol and args.dataset != "penguins" else None
    for variant in args.variants:
        name, overrides = parse_variant(variant)
        start = time.perf_counter()
        settings = {k: v for k, v in overrides.items() if k != "column_types"}
        synth = td.Synthesizer(seed=args.seed, verbose=False, **settings).fit(
            train, target=target, task=task, column_types=overrides.get("column_types"))
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        fake = synth.sample(len(train), seed=args.seed + 1)
        sample_seconds = time.perf_counter() - start
        result = td.evaluate(train, fake, holdout, target=target, task=task, seed=args.seed, verbose=False,
                             metrics=args.metrics.split(","))
        protocol = {}
        if scored_on is not None:
            scored = catboost_score(fake, scored_on, seed=0)
            protocol = {"protocol_val": round(scored["val_score"], 4), "protocol_test": round(scored["score"], 4)}
        if args.strong:
            categorical = [c for c in train.columns if c.startswith("cat_") or not pd.api.types.is_numeric_dtype(train[c])]
            categorical += [target] if task == "classification" and target not in categorical else []
            found = strong_detection(train, fake, categorical, seed=args.seed)
            protocol |= {"strong_auc": round(found["auc"], 4),
                         "strong_importance": dict(list(found["importance"].items())[:5])}
        errors = {column: info["error"] for column, info in result.details.get("columns", {}).items() if "error" in info}
        worst = dict(sorted(errors.items(), key=lambda kv: -kv[1])[:4])
        print(json.dumps({"variant": name, "overrides": overrides, "fit_seconds": round(fit_seconds, 1),
                          "steps": synth.history_.steps, "sample_seconds": round(sample_seconds, 2), **protocol,
                          **({"reflow_steps": synth.reflow_history_.steps} if synth.reflow_history_ else {}),
                          **{k: round(v, 4) for k, v in result.scores.items()
                             if k.endswith(("_error", "_auc", "dcr_share", "exact_copies_share", "ratio_mean"))},
                          "worst_columns": {k: round(v, 3) for k, v in worst.items()}}), flush=True)


if __name__ == "__main__":
    main()
