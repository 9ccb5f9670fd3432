"""Imputation: tabdiffusion's `impute` against scikit-learn's imputers on cells hidden from benchmark tables.

    python -m benchmarks.imputation --datasets abalone,churn2,insurance,adult --budget 300

Each imputer learns the complete train split; on (at most TEST_ROWS of) the test split, a share HIDDEN of the
feature cells is hidden, completely at random (MCAR) or, in numeric columns, with a probability that grows with the
value's rank (MNAR: larger values more likely hidden; categorical cells at random). Scored on the hidden cells
against their true values: RMSE in each numeric column's train standard deviations, accuracy on categorical cells,
and the shape error of the imputed values against the true ones (KS for numeric, total variation for categorical;
mean over columns). tabdiffusion draws DRAWS completions: the first is scored as one imputation, their mean (numeric)
or most frequent level as a point imputation; the coverage is the share of hidden cells whose true
value lies within the draws' range (numeric) or among the drawn levels (categorical). Results go to
benchmarks/results/conditional/imputation.json; `python -m benchmarks.report` renders them.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from . import tabddpm_data
from .tabddpm_data import TARGET, Dataset

RESULTS = Path(__file__).resolve().parent / "results" / "conditional" / "imputation.json"
HIDDEN = 0.2
TEST_ROWS = 2_000
DRAWS = 5


def hide(test: pd.DataFrame, columns: list[str], numeric: list[str], pattern: str, rng: np.random.Generator) -> np.ndarray:
    """(n, len(columns)) bool: the cells to hide, HIDDEN of them on average."""
    mask = np.zeros((len(test), len(columns)), bool)
    for j, name in enumerate(columns):
        if pattern == "mnar" and name in numeric:
            rank = test[name].rank(pct=True).to_numpy()
            mask[:, j] = rng.random(len(test)) < 2 * HIDDEN * rank  # mean HIDDEN, larger values hidden more often
        else:
            mask[:, j] = rng.random(len(test)) < HIDDEN
    return mask


def _sklearn_imputers(seed: int) -> dict:
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
    from sklearn.linear_model import BayesianRidge

    return {
        "SimpleImputer": lambda: SimpleImputer(strategy="mean"),
        "KNNImputer": lambda: KNNImputer(n_neighbors=5),
        "IterativeImputer (BayesianRidge)": lambda: IterativeImputer(BayesianRidge(), max_iter=10, random_state=seed),
        "IterativeImputer (ExtraTrees)": lambda: IterativeImputer(
            ExtraTreesRegressor(n_estimators=50, min_samples_leaf=2, n_jobs=2, random_state=seed), max_iter=5,
            random_state=seed),
    }


def _sklearn_impute(make, train: pd.DataFrame, holed: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """An sklearn imputer on numeric columns and ordinal-coded categoricals (rounded back to a level; the
    SimpleImputer takes the most frequent level for categoricals)."""
    from sklearn.impute import SimpleImputer

    levels = {c: sorted(train[c].astype(str).unique()) for c in categorical}

    def encode(df: pd.DataFrame) -> pd.DataFrame:
        out = df[numeric].astype(float).copy()
        for c in categorical:
            index = {v: i for i, v in enumerate(levels[c])}
            out[c] = df[c].map(lambda v: np.nan if pd.isna(v) else index.get(str(v), np.nan)).astype(float)
        return out

    x_train, x_holed = encode(train), encode(holed)
    imputer = make()
    filled = pd.DataFrame(imputer.fit(x_train).transform(x_holed), columns=x_train.columns, index=holed.index)
    if isinstance(imputer, SimpleImputer) and categorical:
        mode = SimpleImputer(strategy="most_frequent").fit(x_train[categorical])
        filled[categorical] = mode.transform(x_holed[categorical])
    out = holed.copy()
    for c in numeric:
        out[c] = filled[c]
    for c in categorical:
        codes = np.clip(np.round(filled[c].to_numpy()), 0, len(levels[c]) - 1).astype(int)
        out[c] = np.where(holed[c].isna(), np.array(levels[c], dtype=object)[codes], holed[c].astype(object))
    return out


def score(truth: pd.DataFrame, imputed: pd.DataFrame, mask: np.ndarray, columns: list[str], numeric: list[str],
          scale: dict[str, float]) -> dict:
    """RMSE (numeric, in train standard deviations), accuracy (categorical) and the shape error over hidden cells."""
    errors, hits, shapes = [], [], []
    for j, name in enumerate(columns):
        hidden = mask[:, j]
        if not hidden.any():
            continue
        true, got = truth[name].to_numpy()[hidden], imputed[name].to_numpy()[hidden]
        if name in numeric:
            true, got = true.astype(float), got.astype(float)
            errors.append(((got - true) / scale[name]) ** 2)
            shapes.append(ks_2samp(true, got).statistic)
        else:
            true, got = true.astype(str), got.astype(str)
            hits.append(true == got)
            levels = np.union1d(true, got)
            p = pd.Series(true).value_counts(normalize=True).reindex(levels, fill_value=0)
            q = pd.Series(got).value_counts(normalize=True).reindex(levels, fill_value=0)
            shapes.append(0.5 * float(np.abs(p - q).sum()))
    return {
        "rmse": float(np.sqrt(np.concatenate(errors).mean())) if errors else None,
        "accuracy": float(np.concatenate(hits).mean()) if hits else None,
        "shape_error": float(np.mean(shapes)) if shapes else None,
    }


def coverage(truth: pd.DataFrame, draws: list[pd.DataFrame], mask: np.ndarray, columns: list[str], numeric: list[str]) -> float:
    """Share of hidden cells whose true value lies in the draws' range (numeric) or among the drawn levels."""
    covered = []
    for j, name in enumerate(columns):
        hidden = mask[:, j]
        if not hidden.any():
            continue
        true = truth[name].to_numpy()[hidden]
        values = np.stack([d[name].to_numpy()[hidden] for d in draws])
        if name in numeric:
            values = values.astype(float)
            covered.append((values.min(0) <= true.astype(float)) & (true.astype(float) <= values.max(0)))
        else:
            covered.append((values.astype(str) == true.astype(str)[None, :]).any(0))
    return float(np.concatenate(covered).mean())


def run_dataset(data: Dataset, budget: float, seed: int, log) -> dict:
    import tabdiffusion as td

    rng = np.random.default_rng(seed)
    test = data.test.sample(min(TEST_ROWS, len(data.test)), random_state=seed).reset_index(drop=True)
    columns = data.features
    categorical = list(data.cat_columns)
    numeric = [c for c in columns if c not in categorical]
    scale = {c: float(data.train[c].std()) or 1.0 for c in numeric}
    entry: dict = {"test_rows": len(test), "patterns": {}}
    start = time.perf_counter()
    synth = td.Synthesizer(seed=seed, time_budget=budget, verbose=False).fit(data.train, target=TARGET)
    entry["fit_seconds"] = time.perf_counter() - start
    imputers = _sklearn_imputers(seed)
    for pattern in ("mcar", "mnar"):
        mask = hide(test, columns, numeric, pattern, rng)
        holed = test.copy()
        for j, name in enumerate(columns):
            holed[name] = holed[name].astype(object).where(~mask[:, j], None) if name in categorical else holed[name].where(~mask[:, j])
        row: dict = {"hidden_share": float(mask.mean()), "methods": {}}
        began = time.perf_counter()
        draws = synth.impute(holed, draws=DRAWS, seed=seed)
        seconds = time.perf_counter() - began
        row["methods"]["tabdiffusion"] = {**score(test, draws[0], mask, columns, numeric, scale), "seconds": seconds / DRAWS,
                                          "coverage": coverage(test, draws, mask, columns, numeric)}
        row["methods"]["tabdiffusion (mean of draws)"] = score(test, _mean_draw(draws, numeric), mask, columns, numeric, scale)
        for name, make in imputers.items():
            began = time.perf_counter()
            imputed = _sklearn_impute(make, data.train[columns], holed[columns], numeric, categorical)
            row["methods"][name] = {**score(test, imputed, mask, columns, numeric, scale), "seconds": time.perf_counter() - began}
        entry["patterns"][pattern] = row
        log(f"{data.name} {pattern}: " + ", ".join(f"{m} rmse {v['rmse'] if v['rmse'] is None else round(v['rmse'], 3)}"
                                                  for m, v in row["methods"].items()))
    return entry


def _mean_draw(draws: list[pd.DataFrame], numeric: list[str]) -> pd.DataFrame:
    """A point imputation from the draws: their mean for numeric cells, their most frequent level for the others."""
    out = draws[0].copy()
    for name in out.columns:
        if name in numeric:
            out[name] = np.mean([d[name].astype(float).to_numpy() for d in draws], axis=0)
        else:
            stacked = pd.DataFrame({i: d[name].astype(object).to_numpy() for i, d in enumerate(draws)})
            out[name] = stacked.mode(axis=1)[0].to_numpy()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imputation", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="abalone,churn2,insurance,adult")
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=None, help="subsample each split to this many rows (smoke runs)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    command = "python -m benchmarks.imputation " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = {"budget": args.budget, "seed": args.seed, "hidden": HIDDEN, "test_rows": TEST_ROWS, "draws": DRAWS}
    print(tabddpm_data.run_each(args.datasets, Path(args.out), command, settings, args.rows, args.seed,
                                lambda data: run_dataset(data, args.budget, args.seed, print)))


def _f(value: object, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render(results: dict) -> list[str]:
    """Markdown for docs/benchmarks.md: one table per (dataset, pattern) and the targets' verdicts."""
    machine = results.get("machine", {})
    settings = results["settings"]
    lines = ["## Imputation", "", "Commands: " + "; ".join(f"`{c}`" for c in results["commands"])
             + f" on {machine.get('processor')} "
             f"({machine.get('cores')} cores); fit budget {settings['budget']:g} s. {settings['hidden']:.0%} of the "
             f"feature cells of at most {settings['test_rows']} test rows hidden, MCAR or MNAR (numeric cells hidden "
             "more often the larger their value). RMSE in train standard deviations (numeric cells), accuracy "
             "(categorical cells), shape error of the imputed against the true hidden values (KS / total variation, "
             f"mean over columns); tabdiffusion's seconds are per draw. Coverage: share of hidden cells inside the range (or among the levels) of "
             f"{settings['draws']} draws.", ""]
    beats, best_shape = [], []
    for name, entry in results["datasets"].items():
        for pattern, row in entry["patterns"].items():
            lines += [f"### {name}, {pattern.upper()} ({row['hidden_share']:.1%} hidden)", "",
                      "| imputer | RMSE | accuracy | shape error | seconds | coverage |", "|---|---|---|---|---|---|"]
            for method, got in row["methods"].items():
                lines.append(f"| {method} | {_f(got['rmse'])} | {_f(got['accuracy'])} | {_f(got['shape_error'])} | "
                             f"{_f(got.get('seconds'), 1)} | {_f(got.get('coverage'))} |")
            point, trees = row["methods"]["tabdiffusion (mean of draws)"], row["methods"]["IterativeImputer (ExtraTrees)"]
            better_rmse = point["rmse"] is None or point["rmse"] < trees["rmse"]
            better_acc = point["accuracy"] is None or point["accuracy"] > trees["accuracy"]
            beats.append(better_rmse and better_acc)
            others = [got["shape_error"] for method, got in row["methods"].items() if not method.startswith("tabdiffusion")]
            best_shape.append(row["methods"]["tabdiffusion"]["shape_error"] <= min(others))
            lines.append("")
    lines += ["### Targets", "",
              "RMSE and accuracy are judged on the point imputation from the draws (their mean, or their most frequent "
              "level): one draw is a sample from the conditional distribution, whose error includes that "
              "distribution's spread. The shape error is judged on one draw.", "",
              f"- Better RMSE and accuracy than IterativeImputer (ExtraTrees) on at least half the cells: "
              f"{'met' if sum(beats) >= len(beats) / 2 else 'missed'} ({sum(beats)} of {len(beats)}).",
              f"- Best shape error on every cell: {'met' if all(best_shape) else 'missed'} "
              f"({sum(best_shape)} of {len(best_shape)}).", ""]
    return lines


if __name__ == "__main__":
    main()
