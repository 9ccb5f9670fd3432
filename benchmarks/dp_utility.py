"""Utility against epsilon: tabdiffusion's differentially private fit beside smartnoise-synth's AIM, MST, DP-CTGAN
and PATE-CTGAN at the same epsilon.

    python -m benchmarks.dp_utility --datasets abalone,wilt,churn2,buddy,california,adult --epsilons 1,3,10 \\
        --steps 400 --baselines-python /work/venvs/snsynth/bin/python

For each table and epsilon, each method is fitted to the train split (delta = 1 / n^1.1 for tabdiffusion; the
baselines' own defaults), sampled at the train size, and scored by the harness's tuned CatBoost protocol (macro F1
or R2 on the real test split, early stopping on the real val split) and by tabdiffusion.evaluate's column-shape and
pair-trend errors against the train split. tabdiffusion declares a classification table's classes (the task's
codes 0..n_classes-1 from info.json) as public levels, as the baselines take their categories from the data. The
baselines run in their own environment (smartnoise-synth pins its
own torch and opendp): benchmarks/dp_baselines.py, one subprocess per fit, killed after --baseline-timeout seconds.
Results go to benchmarks/results/privacy/dp_utility.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import protocol, tabddpm_data
from .tabddpm_data import TARGET, Dataset

RESULTS = Path(__file__).resolve().parent / "results" / "privacy" / "dp_utility.json"
BASELINES = ("aim", "mst", "dpctgan", "patectgan")
NAMES = {"tabdiffusion": "tabdiffusion (DP)", "aim": "AIM", "mst": "MST", "dpctgan": "DP-CTGAN", "patectgan": "PATE-CTGAN"}


def _scores(data: Dataset, rows: pd.DataFrame, seed: int) -> dict:
    """Efficacy by the tuned CatBoost protocol, and the shape and pair-trend errors of `rows`."""
    import tabdiffusion as td

    result = td.evaluate(data.train, rows, target=TARGET, seed=seed, verbose=False, n_jobs=2, metrics="fidelity")
    return {"efficacy": protocol.catboost_score(rows, data, seed)["score"],
            "shape_error": float(result.scores["fidelity.column_shapes_error"]),
            "trend_error": float(result.scores.get("fidelity.column_pair_trends_error", np.nan))}


def _as_train(rows: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """A baseline's CSV rows with the train split's dtypes (numbers parsed, categories as text)."""
    out = pd.DataFrame(index=rows.index)
    for name in train.columns:
        if pd.api.types.is_numeric_dtype(train[name].dtype):
            out[name] = pd.to_numeric(rows[name], errors="coerce").astype("float64")
            if pd.api.types.is_integer_dtype(train[name].dtype):
                out[name] = out[name].round().fillna(train[name].mode().iloc[0]).astype(train[name].dtype)
        else:
            out[name] = rows[name].astype(str).astype(train[name].dtype)
    return out


def ours(data: Dataset, epsilon: float, steps: int | None, seed: int, **settings) -> tuple[pd.DataFrame, dict]:
    """tabdiffusion's private fit of the train split (`settings`: further Synthesizer arguments), sampled at the train
    size, and what it spent."""
    import tabdiffusion as td

    start = time.perf_counter()
    # A classification task's classes are public (info.json's n_classes, codes 0..n-1): declared, not read off rows.
    classes = {TARGET: list(range(data.n_classes))} if data.is_classification else None
    synth = td.Synthesizer(dp_epsilon=epsilon, seed=seed, steps=steps, verbose=False, **settings).fit(
        data.train, target=TARGET, task="classification" if data.is_classification else "regression",
        categories=classes)
    fitted = time.perf_counter() - start
    spent = synth.privacy_
    return synth.sample(len(data.train), seed=seed + 1), {"fit_seconds": fitted, "epsilon_spent": spent.epsilon,
                                                          "delta": spent.delta, "steps": spent.steps,
                                                          "noise_multiplier": spent.noise_multiplier,
                                                          "sample_rate": spent.sample_rate}


def baseline(method: str, data: Dataset, epsilon: float, seed: int, python: str, timeout: float) -> tuple[pd.DataFrame, dict]:
    """One smartnoise-synth fit in its own environment (dp_baselines.py)."""
    categorical = list(data.cat_columns) + ([TARGET] if data.is_classification else [])
    continuous = [c for c in data.train.columns if c not in categorical]
    with tempfile.TemporaryDirectory(prefix="dp-baseline-") as folder:
        train, out = Path(folder) / "train.csv", Path(folder) / "synthetic.csv"
        data.train.to_csv(train, index=False)
        done = subprocess.run([python, str(Path(__file__).with_name("dp_baselines.py")), "--method", method,
                               "--epsilon", str(epsilon), "--train", str(train), "--out", str(out), "--seed", str(seed),
                               "--categorical", ",".join(categorical), "--continuous", ",".join(continuous)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        return _as_train(pd.read_csv(out), data.train), info


def run_dataset(data: Dataset, epsilons: list[float], methods: list[str], steps: int, seed: int, python: str,
                timeout: float, log) -> dict:
    entry: dict = {"train_rows": len(data.train), "task": data.task,
                   "real": protocol.catboost_score(data.train, data, seed)["score"], "cells": {}}
    for epsilon in epsilons:
        cell: dict = {}
        for method in methods:
            try:
                rows, info = (ours(data, epsilon, steps, seed) if method == "tabdiffusion"
                              else baseline(method, data, epsilon, seed, python, timeout))
                cell[method] = {**info, **_scores(data, rows, seed)}
            except subprocess.TimeoutExpired:
                cell[method] = {"error": f"timed out after {timeout:g} s"}
            except (RuntimeError, ValueError) as error:
                cell[method] = {"error": str(error)[:200]}
            got = cell[method]
            log(f"{data.name} epsilon {epsilon:g} {method}: " + (got["error"] if "error" in got else
                ", ".join(f"{k} {v:.4f}" for k, v in got.items() if isinstance(v, float))))
        entry["cells"][f"{epsilon:g}"] = cell
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dp_utility", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="abalone,wilt,churn2,buddy,california,adult")
    parser.add_argument("--epsilons", default="1,3,10")
    parser.add_argument("--methods", default=",".join(("tabdiffusion",) + BASELINES))
    parser.add_argument("--steps", type=int, default=None,
                        help="tabdiffusion's DP-SGD steps (its noise is set for them; default: the package's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baselines-python", default="/work/venvs/snsynth/bin/python",
                        help="the Python of an environment with smartnoise-synth")
    parser.add_argument("--baseline-timeout", type=float, default=600.0)
    parser.add_argument("--rows", type=int, default=None, help="subsample each split to this many rows (smoke runs)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    command = "python -m benchmarks.dp_utility " + " ".join(argv if argv is not None else sys.argv[1:])
    epsilons, methods = [float(e) for e in args.epsilons.split(",")], args.methods.split(",")
    settings = {"epsilons": epsilons, "steps": args.steps, "seed": args.seed, "methods": methods}
    out = Path(args.out)
    before = json.loads(out.read_text()).get("datasets", {}) if out.exists() else {}
    settings["methods"] = list(dict.fromkeys(
        [m for entry in before.values() for cell in entry["cells"].values() for m in cell] + methods))

    def run(data: Dataset) -> dict:  # cells of earlier runs (other epsilons or methods) are kept
        entry = run_dataset(data, epsilons, methods, args.steps, args.seed, args.baselines_python,
                            args.baseline_timeout, print)
        cells = before.get(data.name, {}).get("cells", {})
        for epsilon, cell in entry["cells"].items():
            cells[epsilon] = {**cells.get(epsilon, {}), **cell}
        return {**entry, "cells": dict(sorted(cells.items(), key=lambda item: float(item[0])))}

    print(tabddpm_data.run_each(args.datasets, out, command, settings, args.rows, args.seed, run))


def _failure(error: str) -> str:
    """A failed cell's reason in a few words."""
    if error.startswith("Command '") or error.startswith("timed out"):
        return "timed out"
    return error.removeprefix("ValueError: ")[:70]


def _f(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def render(results: dict) -> list[str]:
    """Markdown for docs/benchmarks.md: efficacy, shape and trend error per table, epsilon and method; the targets."""
    machine, settings = results.get("machine", {}), results["settings"]
    methods = settings["methods"]
    lines = ["## Differential privacy: utility against epsilon", "",
             "Commands: " + "; ".join(f"`{c}`" for c in results["commands"])
             + f" on {machine.get('processor')} ({machine.get('cores')} cores); seed {settings['seed']}, one fit per "
             f"cell, tabdiffusion with {settings['steps'] or 'its default number of'} DP-SGD steps (delta = 1 / n^1.1; a "
             "classification task's classes declared as public levels, `categories=`), smartnoise-synth's "
             "methods with their defaults (10% of epsilon on continuous columns' bounds). Efficacy: the harness's tuned "
             "CatBoost trained on the rows, macro F1 or R2 on the real test split ('real': trained on the train split). "
             "Errors: evaluate's column-shape and pair-trend errors against the train split (lower is better).", "",
             "| table | epsilon | real | " + " | ".join(f"{NAMES.get(m, m)} efficacy / shape / trend" for m in methods) + " |",
             "|" + "---|" * (3 + len(methods))]
    beats_gan, beats_aim, aim_cells = [], [], 0
    for table, entry in results["datasets"].items():
        for epsilon, cell in entry["cells"].items():
            text = []
            for method in methods:
                got = cell.get(method, {})
                text.append(f"failed: {_failure(got['error'])}" if "error" in got else "n/a" if not got else
                            f"{_f(got['efficacy'])} / {_f(got['shape_error'])} / {_f(got['trend_error'])}")
            lines.append(f"| {table} | {epsilon} | {_f(entry['real'])} | " + " | ".join(text) + " |")
            if "tabdiffusion" not in cell:
                continue
            # A baseline that failed is no comparison; a tabdiffusion fit that failed loses.
            mine = cell["tabdiffusion"].get("efficacy", -np.inf)
            for gan in ("dpctgan", "patectgan"):
                if "efficacy" in cell.get(gan, {}):
                    beats_gan.append(mine > cell[gan]["efficacy"])
            if float(epsilon) == 10 and "efficacy" in cell.get("aim", {}):
                aim_cells += 1
                beats_aim.append(mine > cell["aim"]["efficacy"])
    lines += ["", f"- Above DP-CTGAN and PATE-CTGAN on efficacy in every cell: {sum(beats_gan)} of {len(beats_gan)} "
              f"comparisons ({'met' if beats_gan and all(beats_gan) else 'missed'}).",
              f"- Above AIM on efficacy at epsilon 10 on at least half the tables: {sum(beats_aim)} of {aim_cells} "
              f"tables where AIM finished ({'met' if aim_cells and 2 * sum(beats_aim) >= aim_cells else 'missed'}).",
              "- Cells where a baseline failed (a time-out, or no bounds found at small epsilon) are not counted; a "
              "failed tabdiffusion fit counts as a loss.", ""]
    return lines


if __name__ == "__main__":
    main()
