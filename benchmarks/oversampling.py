"""Oversampling: DiffusionOversampler against SMOTE-family samplers and class weights on imbalanced benchmark tables.

    python -m benchmarks.oversampling --datasets adult,buddy,cardio,churn2,default,diabetes,gesture,wilt \
        --ratios 0.01,0.05,0.2 --seeds 0,1,2 --budget 30

For each table, ratio and seed: the train split (stratified down to at most --max-rows rows) keeps `ratio` of its
smallest class's rows (at least MIN_KEPT), chosen with the seed; the other classes stay whole. Each sampler grows
that class to the majority's count (imbalanced-learn's 'minority' strategy): RandomOverSampler, SMOTENC (SMOTE
where every feature is numeric), ADASYN (numeric tables only), SDV's CTGAN (fitted to the whole imbalanced set
within --budget seconds, its epochs stopping at the first past the budget, the class drawn by its conditional
sampling; SDV needs its own environment: run `--samplers CTGAN` there, which adds the column to an existing results
file) and DiffusionOversampler (fitted to the whole imbalanced set within --budget seconds). Beside them: the
imbalanced set as it is, and class weights instead of resampling. Three classifiers learn each set: CatBoost
(--catboost-iterations, native categorical features), logistic regression (one-hot + scaling) and a random forest
(one-hot). Scored on the untouched real test split: the shrunk class's F1 and average precision (PR-AUC), and the
balanced accuracy over all classes. Results go to benchmarks/results/oversampling/oversampling.json;
`python -m benchmarks.report` renders them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import tabddpm_data
from .tabddpm_data import TARGET, Dataset

RESULTS = Path(__file__).resolve().parent / "results" / "oversampling" / "oversampling.json"
MIN_KEPT = 3  # rows of the shrunk class kept at least (SMOTE then interpolates between 2 neighbours)
SAMPLERS = ("none", "class weights", "RandomOverSampler", "SMOTENC", "ADASYN", "CTGAN", "DiffusionOversampler")
CLASSIFIERS = ("CatBoost", "logistic regression", "random forest")
TABLES = "adult,buddy,cardio,churn2,default,diabetes,gesture,wilt"
# the samplers whose rare rows' DCR share is measured
DCR_SAMPLERS = ("RandomOverSampler", "SMOTENC", "CTGAN", "DiffusionOversampler")


def imbalanced_train(data: Dataset, ratio: float, seed: int,
                     max_rows: int) -> tuple[pd.DataFrame, object, pd.DataFrame]:
    """The train split capped at `max_rows` (stratified), its smallest class cut to `ratio` of its rows; the class,
    and the rows of it that were cut (the held-out rows a DCR share compares with)."""
    rng = np.random.default_rng(seed)
    train = data.train
    if len(train) > max_rows:
        keep = np.concatenate([rng.choice(np.flatnonzero(train[TARGET].to_numpy() == c),
                                          max(1, round(max_rows * (train[TARGET] == c).mean())), replace=False)
                               for c in sorted(train[TARGET].unique())])
        train = train.iloc[np.sort(keep)]
    counts = train[TARGET].value_counts()
    rare = counts.idxmin()
    rows = np.flatnonzero(train[TARGET].to_numpy() == rare)
    kept = max(MIN_KEPT, round(ratio * len(rows)))
    dropped = rng.choice(rows, len(rows) - kept, replace=False)
    return train.drop(index=train.index[dropped]).reset_index(drop=True), rare, train.iloc[dropped]


def ctgan_resample(X: pd.DataFrame, y: pd.Series, categorical: list[str], seed: int,
                   budget: float) -> tuple[pd.DataFrame, pd.Series, dict]:
    """X, y with the smallest class grown to the largest's count by SDV's CTGAN, fitted to all rows within `budget`
    seconds and drawing the class through `sample_from_conditions` (its conditional generator; SDV rejects the
    rows that miss the class)."""
    from sdv.sampling import Condition

    from .methods import SdvGenerator

    counts = y.value_counts()
    rare, need = counts.idxmin(), int(counts.max() - counts.min())
    rare = rare.item() if hasattr(rare, "item") else rare
    shape = Dataset("oversampling", "multiclass", X.assign(**{TARGET: y}), X[:0], X[:0], categorical, {})
    generator = SdvGenerator(shape, "ctgan", budget, seed)
    info = generator.fit(shape.train)
    try:
        rows = generator.synth.sample_from_conditions([Condition({TARGET: rare}, num_rows=need)])
    except Exception as error:  # noqa: BLE001  SDV raises several types when rejection finds no rows of the class
        raise ValueError(f"CTGAN drew no rows of class {rare!r}: {error}") from None
    rows = rows[SdvGenerator.TABLE] if isinstance(rows, dict) else rows  # SDV 2.x answers {table: rows}
    rows = rows.astype({name: X[name].dtype for name in X.columns})
    return (pd.concat([X, rows[X.columns]], ignore_index=True),
            pd.concat([y, rows[TARGET].astype(y.dtype)], ignore_index=True), {"epochs": info["epochs"]})


def resample(name: str, X: pd.DataFrame, y: pd.Series, categorical: list[str], seed: int, budget: float,
             model: dict | None = None) -> tuple[pd.DataFrame, pd.Series, dict]:
    """X, y grown by sampler `name` ('none' and 'class weights' return them as they are), and what the generative
    samplers' fits reached (CTGAN's epochs, DiffusionOversampler's steps); `model` holds DiffusionOversampler's
    Synthesizer keywords beyond the budget (its own defaults where absent)."""
    from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, RandomOverSampler

    import tabdiffusion as td

    neighbours = max(1, min(5, int(y.value_counts().min()) - 1))
    if name in ("none", "class weights"):
        return X, y, {}
    if name == "CTGAN":
        return ctgan_resample(X, y, categorical, seed, budget)
    if name == "RandomOverSampler":
        sampler = RandomOverSampler(sampling_strategy="minority", random_state=seed)
    elif name == "SMOTENC":
        sampler = (SMOTENC(categorical, sampling_strategy="minority", k_neighbors=neighbours, random_state=seed)
                   if categorical else SMOTE(sampling_strategy="minority", k_neighbors=neighbours, random_state=seed))
    elif name == "ADASYN":
        if categorical:
            raise ValueError("ADASYN needs numeric features only")
        sampler = ADASYN(sampling_strategy="minority", n_neighbors=neighbours, random_state=seed)
    else:
        sampler = td.DiffusionOversampler(sampling_strategy="minority", random_state=seed, time_budget=budget,
                                          threads=2, **(model or {}))
        X_res, y_res = sampler.fit_resample(X, y)
        return X_res, y_res, {"steps": sampler.synthesizer_.history_.steps}
    return (*sampler.fit_resample(X, y), {})


def classifier(name: str, categorical: list[str], numeric: list[str], weighted: bool, seed: int, iterations: int):
    """An unfitted classifier; `weighted` asks for balanced class weights."""
    from catboost import CatBoostClassifier
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if name == "CatBoost":
        return CatBoostClassifier(iterations=iterations, cat_features=categorical, random_seed=seed, verbose=0,
                                  thread_count=2, auto_class_weights="Balanced" if weighted else None)
    weight = "balanced" if weighted else None
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if name == "logistic regression":
        columns = ColumnTransformer([("cat", onehot, categorical), ("num", StandardScaler(), numeric)])
        return make_pipeline(columns, LogisticRegression(max_iter=2000, class_weight=weight))
    columns = ColumnTransformer([("cat", onehot, categorical), ("num", "passthrough", numeric)])
    return make_pipeline(columns, RandomForestClassifier(n_estimators=200, n_jobs=2, random_state=seed,
                                                         class_weight=weight))


def scores(model, X_test: pd.DataFrame, y_test: pd.Series, rare: object) -> dict:
    """The shrunk class's F1 and average precision, and the balanced accuracy over all classes."""
    from sklearn.metrics import average_precision_score, balanced_accuracy_score, f1_score

    predicted = np.asarray(model.predict(X_test)).ravel().astype(y_test.dtype)
    column = list(np.asarray(model.classes_).astype(y_test.dtype)).index(rare)
    probability = model.predict_proba(X_test)[:, column]
    return {"f1": float(f1_score(y_test == rare, predicted == rare)),
            "pr_auc": float(average_precision_score(y_test == rare, probability)),
            "balanced_accuracy": float(balanced_accuracy_score(y_test, predicted))}


def dcr_share(kept: pd.DataFrame, generated: pd.DataFrame, held_out: pd.DataFrame, seed: int) -> float | None:
    """The share of generated rows of the rare class closer to a kept row of it than to a held-out one (as many held
    out as kept; 0.5: no closer to the rows the sampler saw, 1: copies), by tabdiffusion.evaluate's privacy metrics."""
    import tabdiffusion as td

    if len(held_out) < len(kept) or len(generated) == 0:
        return None
    holdout = held_out.sample(len(kept), random_state=seed)
    result = td.evaluate(kept, generated, holdout=holdout, metrics="privacy", seed=seed, verbose=False, n_jobs=2)
    return float(result.scores["privacy.dcr_share"])


def run_dataset(data: Dataset, ratios: list[float], seeds: list[int], budget: float, max_rows: int,
                iterations: int, samplers: list[str], log, model: dict | None = None,
                previous: dict | None = None) -> dict:
    """Every (ratio, seed) cell of one table; a cell of `previous` (the table's entry in an earlier results file) on
    the same rows keeps the scores of the samplers not run now, so one sampler can be rerun alone."""
    categorical = list(data.cat_columns)
    numeric = [c for c in data.features if c not in categorical]
    X_test, y_test = data.test[data.features], data.test[TARGET]
    entry: dict = {"classes": int(data.train[TARGET].nunique()), "cells": {}}
    for ratio in ratios:
        for seed in seeds:
            train, rare, held_out = imbalanced_train(data, ratio, seed, max_rows)
            X, y = train[data.features], train[TARGET]
            kept = int((y == rare).sum())
            cell: dict = {"rare_class": rare.item() if hasattr(rare, "item") else rare, "rare_rows": kept,
                          "train_rows": len(train), "samplers": {}}
            earlier = (previous or {}).get("cells", {}).get(f"{ratio:g}/{seed}", {})
            if (earlier.get("rare_rows"), earlier.get("train_rows")) == (kept, len(train)):
                cell["samplers"] = {name: got for name, got in earlier["samplers"].items() if name not in samplers}
            for name in samplers:
                began = time.perf_counter()
                try:
                    X_res, y_res, reached = resample(name, X, y, categorical, seed, budget, model)
                except ValueError as error:
                    cell["samplers"][name] = {"error": str(error)[:200]}
                    continue
                got: dict = {"seconds": time.perf_counter() - began, "rows": len(X_res), **reached}
                if name in DCR_SAMPLERS:
                    got["dcr_share"] = dcr_share(X[y == rare], X_res.iloc[len(X):], held_out[data.features], seed)
                for model_name in CLASSIFIERS:
                    fitted = classifier(model_name, categorical, numeric, name == "class weights", seed, iterations)
                    got[model_name] = scores(fitted.fit(X_res, y_res), X_test, y_test, rare)
                cell["samplers"][name] = got
            cell["samplers"] = {name: cell["samplers"][name] for name in SAMPLERS if name in cell["samplers"]}
            entry["cells"][f"{ratio:g}/{seed}"] = cell
            log(f"{data.name} ratio {ratio:g} seed {seed} ({kept} rare rows): " + ", ".join(
                f"{s} {v['CatBoost']['pr_auc']:.3f}" for s, v in cell["samplers"].items() if "error" not in v))
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.oversampling", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=TABLES)
    parser.add_argument("--ratios", default="0.01,0.05,0.2")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="CTGAN's and DiffusionOversampler's fit budget in seconds")
    parser.add_argument("--max-rows", type=int, default=5_000, help="train rows kept at most (stratified)")
    parser.add_argument("--catboost-iterations", type=int, default=1000)
    parser.add_argument("--samplers", default=None,
                        help="the samplers to run (default: all, CTGAN where SDV is installed); in an existing --out "
                             "file, the others' scores on the same rows stay")
    parser.add_argument("--guidance", type=float, default=None,
                        help="DiffusionOversampler's guidance (default: its own); 0 also turns label dropout off")
    parser.add_argument("--value-protection", action=argparse.BooleanOptionalAction, default=True,
                        help="DiffusionOversampler's value protection")
    parser.add_argument("--rows", type=int, default=None, help="subsample each split to this many rows (smoke runs)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    command = "python -m benchmarks.oversampling " + " ".join(argv if argv is not None else sys.argv[1:])
    ratios, seeds = [float(r) for r in args.ratios.split(",")], [int(s) for s in args.seeds.split(",")]
    samplers = args.samplers.split(",") if args.samplers else [
        s for s in SAMPLERS if s != "CTGAN" or importlib.util.find_spec("sdv") is not None]
    settings = {"budget": args.budget, "max_rows": args.max_rows, "catboost_iterations": args.catboost_iterations,
                "ratios": ratios, "seeds": seeds, "min_kept": MIN_KEPT, "value_protection": args.value_protection}
    model = {"value_protection": args.value_protection}
    if args.guidance is not None:
        model.update(guidance=args.guidance, label_dropout=0.1 if args.guidance else 0.0)
        settings["guidance"] = args.guidance
    out = Path(args.out)
    before = json.loads(out.read_text()) if out.exists() else {"datasets": {}, "settings": {}}
    earlier = before["datasets"]
    if "DiffusionOversampler" not in samplers and earlier:  # its cells are kept, so are the settings they had
        for key in ("value_protection", "guidance"):
            settings.pop(key, None)
            if key in before["settings"]:
                settings[key] = before["settings"][key]
    print(tabddpm_data.run_each(args.datasets, out, command, settings, args.rows, seeds[0],
                                lambda data: run_dataset(data, ratios, seeds, args.budget, args.max_rows,
                                                         args.catboost_iterations, samplers, print,
                                                         model, earlier.get(data.name))))


def _stats(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def summary(results: dict) -> dict:
    """Per (table, ratio, classifier): each sampler's mean and spread (std over seeds) of every score."""
    out: dict = {}
    for table, entry in results["datasets"].items():
        by_ratio: dict = {}
        for key, cell in entry["cells"].items():
            by_ratio.setdefault(key.split("/")[0], []).append(cell)
        for ratio, cells in by_ratio.items():
            for model in CLASSIFIERS:
                row = {}
                for sampler in SAMPLERS:
                    got = [c["samplers"][sampler][model] for c in cells
                           if "error" not in c["samplers"].get(sampler, {"error": 1})]
                    if got:
                        row[sampler] = {k: _stats([g[k] for g in got]) for k in ("f1", "pr_auc", "balanced_accuracy")}
                out[(table, ratio, model)] = (row, cells[0]["rare_rows"], len(cells))
    return out


def _f(pair: tuple[float, float] | None) -> str:
    return "n/a" if pair is None else f"{pair[0]:.3f} ± {pair[1]:.3f}"


def render(results: dict) -> list[str]:
    """Markdown for docs/benchmarks.md: minority PR-AUC per cell, the other scores, and the targets' verdicts."""
    machine, settings = results.get("machine", {}), results["settings"]
    lines = ["## Oversampling", "", "Commands: " + "; ".join(f"`{c}`" for c in results["commands"])
             + f" on {machine.get('processor')} ({machine.get('cores')} cores). Train splits capped at "
             f"{settings['max_rows']:,} rows (stratified); the smallest class keeps the ratio's share of its rows "
             f"(at least {settings['min_kept']}); seeds {settings['seeds']}; CTGAN (SDV, its defaults) and "
             f"DiffusionOversampler fit budget {settings['budget']:g} s each; DiffusionOversampler "
             f"value protection {'on' if settings.get('value_protection', True) else 'off'}, guidance "
             f"{settings.get('guidance', 1.0):g}; "
             f"CatBoost {settings['catboost_iterations']} iterations. Scores on the real test split, mean ± std over "
             "seeds: the shrunk class's average precision (PR-AUC), its F1 and the balanced accuracy. Best resampler's "
             "PR-AUC in bold.",
             "", "| table | ratio (rows) | classifier | " + " | ".join(SAMPLERS) + " |",
             "|" + "---|" * (3 + len(SAMPLERS))]
    cells = summary(results)
    best, close, one_percent, no_resampling = [], [], [], []
    resamplers = [s for s in SAMPLERS if s not in ("none", "class weights")]
    for (table, ratio, model), (row, kept, _) in cells.items():
        pr = {s: row[s]["pr_auc"] for s in row}
        top = max((pr[s][0] for s in resamplers if s in pr), default=None)
        text = ["n/a" if s not in pr else f"**{_f(pr[s])}**" if s in resamplers and pr[s][0] == top else _f(pr[s])
                for s in SAMPLERS]
        lines.append(f"| {table} | {ratio} ({kept}) | {model} | " + " | ".join(text) + " |")
        plain = max(pr[s][0] for s in ("none", "class weights") if s in pr)
        no_resampling.append(top is not None and plain >= top)
        if "DiffusionOversampler" in pr and "SMOTENC" in pr:
            ours, smote = pr["DiffusionOversampler"], pr["SMOTENC"]
            is_best = ours[0] == top
            best.append(is_best)
            if not is_best:
                close.append(ours[0] >= smote[0] - max(ours[1], smote[1]))
            if float(ratio) == 0.01 and model != "CatBoost":
                one_percent.append(ours[0] > smote[0])
    lines += ["", "F1 and balanced accuracy of the shrunk class (mean over seeds), same cells:", "",
              "| table | ratio | classifier | " + " | ".join(f"{s} F1 / bal. acc." for s in SAMPLERS) + " |",
              "|" + "---|" * (3 + len(SAMPLERS))]
    for (table, ratio, model), (row, _, _) in cells.items():
        lines.append(f"| {table} | {ratio} | {model} | " + " | ".join(
            f"{row[s]['f1'][0]:.3f} / {row[s]['balanced_accuracy'][0]:.3f}" if s in row else "n/a"
            for s in SAMPLERS) + " |")
    lines += ["", "DCR share of the generated rare rows within the class: the share closer to a kept rare row than to "
              "one of as many rare rows cut from the train split (0.5: no closer to the rows the sampler saw; "
              "1: copies), mean over seeds:", "", "| table | ratio (rows) | " + " | ".join(DCR_SAMPLERS) + " |",
              "|" + "---|" * (2 + len(DCR_SAMPLERS))]
    for table, entry in results["datasets"].items():
        by_ratio: dict = {}
        for key, cell in entry["cells"].items():
            by_ratio.setdefault(key.split("/")[0], []).append(cell)
        for ratio, group in by_ratio.items():
            shares = [[c["samplers"].get(s, {}).get("dcr_share") for c in group] for s in DCR_SAMPLERS]
            lines.append(f"| {table} | {ratio} ({group[0]['rare_rows']}) | " + " | ".join(
                f"{np.mean([v for v in values if v is not None]):.3f}" if any(v is not None for v in values) else "n/a"
                for values in shares) + " |")
    n = len(best)
    lines += ["", "### Targets", "",
              f"- Best minority PR-AUC among the resamplers on at least two thirds of the (table, ratio, classifier) "
              f"cells: {'met' if n and sum(best) >= 2 * n / 3 else 'missed'} ({sum(best)} of {n}).",
              f"- On the other cells, never below SMOTENC by more than the seed spread: "
              f"{'met' if all(close) else 'missed'} ({sum(close)} of {len(close)}).",
              f"- At the 1% ratio, above SMOTENC on every table for logistic regression and random forest: "
              f"{'met' if one_percent and all(one_percent) else 'missed'} ({sum(one_percent)} of {len(one_percent)}).",
              "", "No resampling or class weights match or beat the best resampler's PR-AUC on "
              f"{sum(no_resampling)} of {len(no_resampling)} cells: balancing the classes often does not help a "
              "ranking metric, above all for CatBoost.", ""]
    return lines


if __name__ == "__main__":
    main()
