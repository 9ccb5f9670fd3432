"""Conditional generation: rows generated under a condition, scored against the real train rows that satisfy it.

    python -m benchmarks.conditional --datasets abalone,churn2,insurance,buddy,adult,king --budget 300

For each table, five conditions: (a) each of the two most frequent levels of one categorical column, (b) its rarest
level with at least MIN_ROWS train rows, (c) a numeric range holding about a tenth of the rows, (d) two columns at
once. Each method generates as many rows as the train split has under the condition (at most MAX_ROWS) and is
scored against those train rows with tabdiffusion's evaluate: column-shape and pair-trend errors and the GBM
detection AUC, over the columns the condition does not fix. tabdiffusion's scores are the mean over DRAWS draws,
with the spread of its detection AUC (the score's noise at that many rows); its cost is timed per row on COST_ROWS
rows against unconditional sampling. Beside them: the real test rows under the condition, at most as many as the
generated rows, since the errors shrink with the rows scored (the noise floor); tabdiffusion's unconditional rows
filtered by the condition, drawn for as long as one conditional draw took (the rejection baseline); SDV's
sample_from_conditions (GaussianCopula, CTGAN; exact values only) where SDV is installed.
Results go to benchmarks/results/conditional/conditional.json; `python -m benchmarks.report` renders them.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import tabddpm_data
from .tabddpm_data import TARGET, Dataset

RESULTS = Path(__file__).resolve().parent / "results" / "conditional" / "conditional.json"
MIN_ROWS = 30  # the rare condition's level has at least this many train rows
MAX_ROWS = 5_000  # rows generated and scored per condition
DRAWS = 3  # tabdiffusion's conditional draws scored per condition (their mean, and the detection AUC's spread)
COST_ROWS = 10_000  # default rows drawn to time conditional against unconditional sampling per row
COST_REPEATS = 3  # timings of each, alternated; their medians are compared
RANGE_SHARE = 0.10  # the numeric range holds about this share of the train rows
EXACT_METHODS = ("gaussiancopula", "ctgan")  # SDV, exact-value conditions only


@dataclass(frozen=True)
class Condition:
    """A named condition: what tabdiffusion is asked, which columns it fixes, and the rows that satisfy it."""

    label: str
    kind: str  # common | rare | range | pair
    values: dict
    fixed: tuple[str, ...]

    def holds(self, df: pd.DataFrame) -> np.ndarray:
        ok = np.ones(len(df), bool)
        for name, value in self.values.items():
            column = df[name]
            if isinstance(value, tuple):
                ok &= (column >= value[0]).to_numpy() & (column <= value[1]).to_numpy()
            else:
                ok &= (column.astype(str) == str(value)).to_numpy()
        return ok

    @property
    def exact(self) -> bool:
        return not any(isinstance(v, tuple) for v in self.values.values())


def _categoricals(data: Dataset) -> list[str]:
    return list(data.cat_columns) + ([TARGET] if data.is_classification else [])


def choose_conditions(data: Dataset) -> list[Condition]:
    """The five conditions of the module docstring for one table (fewer where the table has no such column)."""
    train, conditions = data.train, []
    candidates = [c for c in _categoricals(data) if (train[c].value_counts() >= MIN_ROWS).sum() >= 3]
    if candidates:
        column = max(candidates, key=lambda c: (train[c].value_counts() >= MIN_ROWS).sum())
        counts = train[column].value_counts()
        for rank, level in enumerate(counts.index[:2]):
            conditions.append(Condition(f"{column} = {level} (top {rank + 1})", "common", {column: _value(level)}, (column,)))
        rare = counts[counts >= MIN_ROWS].index[-1]
        conditions.append(Condition(f"{column} = {rare} (rarest with >= {MIN_ROWS} rows)", "rare", {column: _value(rare)}, (column,)))
    numeric = [c for c in data.features if c.startswith("num_") and train[c].nunique() > 50]
    if numeric:
        column = numeric[0]
        low, high = np.quantile(train[column], [0.5 - RANGE_SHARE / 2, 0.5 + RANGE_SHARE / 2])
        conditions.append(Condition(f"{column} in [{low:.4g}, {high:.4g}]", "range", {column: (float(low), float(high))}, ()))
    pair = _pair(data, conditions)
    if pair is not None:
        conditions.append(pair)
    return conditions


def _value(level: object) -> object:
    """A level as a plain Python value (numpy scalars unwrapped)."""
    return level.item() if isinstance(level, np.generic) else level


def _pair(data: Dataset, conditions: list[Condition]) -> Condition | None:
    """Two categorical columns at their most frequent joint levels, or the top level and the numeric range."""
    train = data.train
    columns = _categoricals(data)
    if len(columns) >= 2:
        a, b = columns[0], columns[1]
        joint = train.groupby([a, b]).size().sort_values(ascending=False)
        (la, lb), rows = joint.index[0], int(joint.iloc[0])
        if rows >= MIN_ROWS:
            return Condition(f"{a} = {la} and {b} = {lb}", "pair", {a: _value(la), b: _value(lb)}, (a, b))
    common = next((c for c in conditions if c.kind == "common"), None)
    ranged = next((c for c in conditions if c.kind == "range"), None)
    if common and ranged and (common.holds(train) & ranged.holds(train)).sum() >= MIN_ROWS:
        return Condition(f"{common.label.split(' (')[0]} and {ranged.label}", "pair", {**common.values, **ranged.values},
                         common.fixed)
    return None


def score(real: pd.DataFrame, generated: pd.DataFrame, condition: Condition, seed: int = 0) -> dict:
    """Shape and pair-trend errors and the GBM detection AUC of `generated` against `real`, over the columns the
    condition does not fix."""
    import tabdiffusion as td
    from tabdiffusion.evaluation import Limits

    if len(generated) < 10 or len(real) < 10:
        return {"rows": int(len(generated)), "note": "too few rows to score"}
    keep = [c for c in real.columns if c not in condition.fixed]
    result = td.evaluate(real[keep].reset_index(drop=True), generated[keep].reset_index(drop=True),
                         metrics=("fidelity", "detection"), seed=seed, verbose=False, limits=Limits())
    scores = result.scores
    return {
        "rows": int(len(generated)),
        "shape_error": 1 - scores["fidelity.column_shapes"],
        "trend_error": 1 - scores["fidelity.column_pair_trends"] if "fidelity.column_pair_trends" in scores else None,
        "detection_auc": scores.get("detection.gbm_auc"),
    }


def noise_floor(real: pd.DataFrame, test: pd.DataFrame, n: int, condition: Condition, seed: int) -> dict:
    """score() of the real test rows under the condition, at most `n` of them (a seeded sample): the errors shrink
    with the rows scored, so the floor is measured at the generated rows' count, not above it."""
    rows = test.sample(n, random_state=seed) if len(test) > n else test
    return score(real, rows, condition, seed)


def _mean_score(real: pd.DataFrame, draws: list[pd.DataFrame], condition: Condition, seed: int) -> dict:
    """score() of each draw, averaged, with the detection AUC's standard deviation over the draws (its noise at this
    many rows)."""
    scores = [score(real, draw, condition, seed) for draw in draws]
    if "note" in scores[0]:
        return scores[0]
    out = {k: (None if scores[0][k] is None else float(np.mean([s[k] for s in scores])))
           for k in ("shape_error", "trend_error", "detection_auc")}
    return {"rows": scores[0]["rows"], **out, "draws": len(draws),
            "detection_auc_sd": float(np.std([s["detection_auc"] for s in scores], ddof=1)) if len(draws) > 1 else None}


def _cost(synth, condition: Condition, seed: int, rows: int) -> dict:
    """Seconds per row of conditional and of unconditional sampling, each the median of COST_REPEATS alternated
    draws of `rows` rows: at the few rows a condition scores, fixed costs would swamp the per-row cost."""
    conditional, unconditional = [], []
    for repeat in range(COST_REPEATS):
        began = time.perf_counter()
        synth.sample(rows, conditions=condition.values, seed=seed + repeat)
        conditional.append((time.perf_counter() - began) / rows)
        began = time.perf_counter()
        synth.sample(rows, seed=seed + repeat)
        unconditional.append((time.perf_counter() - began) / rows)
    return {"seconds_per_row": float(np.median(conditional)), "unconditional_seconds_per_row": float(np.median(unconditional))}


def _rejection(synth, condition: Condition, n: int, seconds: float, seed: int) -> pd.DataFrame:
    """Unconditional rows filtered by the condition, drawn in batches for `seconds` (at least one batch)."""
    kept, rng, start = [], np.random.default_rng(seed), time.perf_counter()
    while True:
        batch = synth.sample(max(n, 1000), seed=int(rng.integers(2**31)))
        kept.append(batch[condition.holds(batch)])
        if sum(map(len, kept)) >= n or time.perf_counter() - start >= seconds:
            break
    return pd.concat(kept, ignore_index=True).head(n)


def _sdv(data: Dataset, method: str, budget: float, seed: int):
    from .methods import make

    generator = make(method, data, budget=budget, seed=seed)
    generator.fit(data.train)
    return generator


def _sdv_conditional(generator, condition: Condition, n: int) -> pd.DataFrame:
    from sdv.sampling import Condition as SdvCondition

    out = generator.synth.sample_from_conditions([SdvCondition(num_rows=n, column_values=condition.values)],
                                                 max_tries_per_batch=100)
    table = out[generator.TABLE] if isinstance(out, dict) else out
    return table.reset_index(drop=True)


def run_dataset(data: Dataset, budget: float, methods: list[str], seed: int, log: Callable[[str], None],
                cost_rows: int = COST_ROWS) -> dict:
    """Every condition of one table, for every method."""
    import tabdiffusion as td

    entry: dict = {"train_rows": len(data.train), "conditions": {}}
    start = time.perf_counter()
    synth = td.Synthesizer(seed=seed, time_budget=budget, verbose=False).fit(data.train, target=TARGET)
    entry["fit_seconds"] = time.perf_counter() - start
    entry["steps"] = synth.history_.steps
    baselines = {}
    for method in methods:
        if method in EXACT_METHODS:
            try:
                baselines[method] = _sdv(data, method, budget, seed)
            except ImportError as error:
                entry.setdefault("skipped", {})[method] = str(error)
    for condition in choose_conditions(data):
        real, test = data.train[condition.holds(data.train)], data.test[condition.holds(data.test)]
        n = min(len(real), MAX_ROWS)
        row: dict = {"kind": condition.kind, "values": {k: list(v) if isinstance(v, tuple) else v for k, v in condition.values.items()},
                     "train_rows": int(len(real)), "test_rows": int(len(test)), "methods": {}}
        row["methods"]["real test rows"] = noise_floor(real, test, n, condition, seed)
        began = time.perf_counter()
        draws = [synth.sample(n, conditions=condition.values, seed=seed + 1 + 10 * draw) for draw in range(DRAWS)]
        seconds = (time.perf_counter() - began) / DRAWS
        result = _mean_score(real, draws, condition, seed)
        result.update(seconds=seconds, holds=float(min(condition.holds(d).mean() for d in draws)),
                      **_cost(synth, condition, seed + 2, cost_rows))
        row["methods"]["tabdiffusion"] = result
        rejected = _rejection(synth, condition, n, seconds, seed + 3)
        row["methods"]["rejection"] = {**score(real, rejected, condition, seed), "seconds": seconds}
        for method, generator in baselines.items():
            if not condition.exact:
                row["methods"][method] = {"note": "ranges are not supported by sample_from_conditions"}
                continue
            began = time.perf_counter()
            try:  # as many draws as tabdiffusion's, so that both carry their draw-to-draw spread
                drawn = [_sdv_conditional(generator, condition, n) for _ in range(DRAWS)]
            except Exception as error:  # SDV gives up on conditions its rejection sampler cannot meet
                row["methods"][method] = {"note": f"{type(error).__name__}: {str(error)[:200]}"}
                continue
            row["methods"][method] = {**_mean_score(real, drawn, condition, seed),
                                      "seconds": (time.perf_counter() - began) / DRAWS,
                                      "holds": float(min(condition.holds(d).mean() for d in drawn)) if all(map(len, drawn)) else None}
        entry["conditions"][condition.label] = row
        log(f"{data.name}: {condition.label}: " + ", ".join(
            f"{m} {v.get('detection_auc', float('nan')) or float('nan'):.3f}" for m, v in row["methods"].items()))
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conditional", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="abalone,churn2,insurance,buddy,adult,king")
    parser.add_argument("--methods", default="tabdiffusion,gaussiancopula,ctgan")
    parser.add_argument("--budget", type=float, default=300.0, help="fit budget in seconds per generator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=None, help="subsample each split to this many rows (smoke runs)")
    parser.add_argument("--cost-rows", type=int, default=COST_ROWS, help="rows drawn to time sampling per row")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    command = "python -m benchmarks.conditional " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = {"budget": args.budget, "seed": args.seed, "min_rows": MIN_ROWS, "max_rows": MAX_ROWS, "draws": DRAWS,
                "cost_rows": args.cost_rows}
    print(tabddpm_data.run_each(args.datasets, Path(args.out), command, settings, args.rows, args.seed,
                                lambda data: run_dataset(data, args.budget, args.methods.split(","), args.seed, print,
                                                                    args.cost_rows)))


def _f(value: object, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def render(results: dict) -> list[str]:
    """Markdown for docs/benchmarks.md: one table per dataset and the targets' verdicts."""
    machine = results.get("machine", {})
    lines = ["## Conditional generation", "", "Commands: " + "; ".join(f"`{c}`" for c in results["commands"])
             + f" on {machine.get('processor')} "
             f"({machine.get('cores')} cores); fit budget {results['settings']['budget']:g} s per generator. Each cell: "
             "column-shape error / pair-trend error / GBM detection AUC of the rows generated under the condition, "
             "against the train rows that satisfy it (columns the condition fixes left out). 'Real test rows' is the "
             "noise floor: the test split's rows under the condition (at most as many as the generated rows), scored "
             "the same way. Rejection: tabdiffusion's unconditional rows filtered by the condition, drawn for as long "
             f"as one conditional draw took. tabdiffusion's cells are the mean over {DRAWS} draws (± the detection "
             "AUC's standard deviation over them), and so are SDV's where a ± is shown. SDV's "
             "sample_from_conditions takes exact values only." + "".join(f" {note}" for note in results.get("notes", [])), ""]
    methods = ["tabdiffusion", "real test rows", "rejection", "gaussiancopula", "ctgan"]
    verdicts: dict[str, list] = {"holds": [], "common": [], "rare": [], "cost": []}
    misses: list[str] = []
    for name, entry in results["datasets"].items():
        lines += [f"### {name}", "", f"Fit {entry['fit_seconds']:.0f} s ({entry['steps']} steps).", "",
                  "| condition | train / test rows | " + " | ".join(methods) + " | holds | cost per row vs unconditional |",
                  "|---" * (len(methods) + 4) + "|"]
        for label, row in entry["conditions"].items():
            cells = []
            for method in methods:
                got = row["methods"].get(method)
                if got is None:
                    cells.append("not run")
                elif "note" in got:
                    cells.append(got["note"][:60])
                else:
                    spread = f" ± {got['detection_auc_sd']:.3f}" if got.get("detection_auc_sd") is not None else ""
                    cells.append(f"{_f(got.get('shape_error'))} / {_f(got.get('trend_error'))} / {_f(got.get('detection_auc'))}"
                                 + spread
                                 + (f" ({got['rows']} rows)" if got.get("rows", 0) < min(row["train_rows"], MAX_ROWS) else ""))
            ours = row["methods"]["tabdiffusion"]
            ratio = (ours["seconds_per_row"] / ours["unconditional_seconds_per_row"]
                     if ours.get("unconditional_seconds_per_row") else None)
            lines.append(f"| {label} | {row['train_rows']} / {row['test_rows']} | " + " | ".join(cells)
                         + f" | {ours.get('holds', 0):.0%} | {_f(ratio, 2)}x |")
            verdicts["holds"].append(ours.get("holds", 0.0))
            if ratio is not None:
                verdicts["cost"].append(ratio)
            floor = row["methods"].get("real test rows", {})
            if row["kind"] == "common" and floor.get("shape_error") is not None:
                within = _within_floor(ours, floor)
                verdicts["common"].append(within)
                if not within:
                    rejected = row["methods"].get("rejection", {})
                    misses.append(f"{name}, {label}: tabdiffusion {_f(ours['shape_error'])} / {_f(ours['trend_error'])}, "
                                  f"floor {_f(floor['shape_error'])} / {_f(floor.get('trend_error'))}; its unconditional "
                                  f"rows filtered (rejection) {_f(rejected.get('shape_error'))} / "
                                  f"{_f(rejected.get('trend_error'))}"
                                  + (" also miss it" if "shape_error" in rejected and not _within_floor(rejected, floor)
                                     else ""))
            if row["kind"] == "rare":
                rivals = {m: row["methods"][m].get("detection_auc") for m in ("rejection", "gaussiancopula", "ctgan")
                          if m in row["methods"] and row["methods"][m].get("detection_auc") is not None}
                verdicts["rare"].append(all(ours["detection_auc"] < r for r in rivals.values()) and bool(rivals))
                if not verdicts["rare"][-1] and rivals:
                    best = min(rivals, key=rivals.get)
                    sd = ours.get("detection_auc_sd")
                    misses.append(f"{name}, {label} ({row['train_rows']} train rows): tabdiffusion "
                                  f"{_f(ours['detection_auc'])}" + (f" ± {sd:.3f} over {ours['draws']} draws" if sd else "")
                                  + f" against {best} {_f(rivals[best])}"
                                  + (f" ± {row['methods'][best]['detection_auc_sd']:.3f}"
                                     if row["methods"][best].get("detection_auc_sd") else "")
                                  + "; the real test rows (noise floor) "
                                  + f"{_f(floor.get('detection_auc'))} ({floor.get('rows')} rows)")
        lines.append("")

    def met(ok: bool) -> str:
        return "met" if ok else "missed"

    lines += ["### Targets", "",
              f"- Conditions hold in every row: {met(all(h == 1.0 for h in verdicts['holds']))} "
              f"(lowest share {_f(min(verdicts['holds'], default=None), 4)}).",
              f"- Common conditions within 1.5x of the noise floor (shape and trend errors): "
              f"{met(all(verdicts['common']))} ({sum(verdicts['common'])} of {len(verdicts['common'])}).",
              f"- Rare conditions: lower detection AUC than the rejection baseline and SDV on every table: "
              f"{met(all(verdicts['rare']))} ({sum(verdicts['rare'])} of {len(verdicts['rare'])}).",
              f"- Conditioning costs at most 2x unconditional sampling per row: {met(max(verdicts['cost'], default=9) <= 2)} "
              f"(highest {_f(max(verdicts['cost'], default=None), 2)}x; each the median of {COST_REPEATS} draws of "
              f"{results['settings'].get('cost_rows', COST_ROWS):,} rows).", ""]
    if misses:
        lines += ["Where a target is missed (shape / trend errors; detection AUC, tabdiffusion's the mean of its draws):",
                  "", *[f"- {miss}." for miss in misses], ""]
    return lines


def _within_floor(scores: dict, floor: dict) -> bool:
    """Whether shape and trend errors are within 1.5x of the noise floor's."""
    return scores["shape_error"] <= 1.5 * floor["shape_error"] and (
        floor.get("trend_error") is None or scores["trend_error"] <= 1.5 * floor["trend_error"])


if __name__ == "__main__":
    main()
