"""Class-conditional fidelity: rows generated for one class against that class's real rows, on every classification table.

    python -m benchmarks.class_fidelity --budget 120

For each table: one fit of the default (the class as its target) within --budget seconds, and one fit with label
dropout 0.1 sampled with classifier-free guidance --guidance (the oversampler's settings). For each class c, as many
rows as the train split has of c (at most MAX_ROWS) are generated with `conditions={target: c}` and scored by
`tabdiffusion.evaluate` against the real train rows of c, with the real test rows of c as the holdout: column-shape
error, detection AUC (gradient boosting) and DCR share (the share of generated rows closer to a train row of c than
to a test row of c; 0.5 is no copying). Beside them, the noise floor: the real test rows of c scored against the
train rows of c in the same way. Results go to benchmarks/results/oversampling/class_fidelity.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import tabddpm_data
from .tabddpm_data import TARGET, Dataset

RESULTS = Path(__file__).resolve().parent / "results" / "oversampling" / "class_fidelity.json"
TABLES = "adult,buddy,cardio,churn2,default,diabetes,gesture,wilt"
MAX_ROWS = 5_000
SCORES = {"shape_error": "fidelity.column_shapes_error", "detection_auc": "detection.gbm_auc", "dcr_share": "privacy.dcr_share"}


def _scores(real, generated, holdout, seed: int) -> dict:
    import tabdiffusion as td

    groups = ("fidelity", "detection") + (("privacy",) if holdout is not None else ())
    result = td.evaluate(real, generated, holdout=holdout, metrics=groups, seed=seed, verbose=False, n_jobs=2)
    return {name: float(result.scores[key]) if key in result.scores else None for name, key in SCORES.items()}


def run_dataset(data: Dataset, budget: float, guidance: float, seed: int, log) -> dict:
    import tabdiffusion as td

    features = data.features
    variants = {"default": {}, f"label dropout 0.1, guidance {guidance:g}": {"label_dropout": 0.1, "guidance": guidance}}
    entry: dict = {"classes": {}, "fits": {}}
    for c in sorted(data.train[TARGET].unique()):
        real, test = data.train[data.train[TARGET] == c], data.test[data.test[TARGET] == c]
        entry["classes"][str(c)] = {"train_rows": len(real), "test_rows": len(test),
                                    "real test rows": _scores(real[features], test[features], None, seed) if len(test) >= 10 else None}
    for name, extra in variants.items():
        start = time.perf_counter()
        synth = td.Synthesizer(seed=seed, time_budget=budget, verbose=False, **extra).fit(data.train, target=TARGET)
        entry["fits"][name] = {"seconds": time.perf_counter() - start, "steps": synth.history_.steps}
        for c in sorted(data.train[TARGET].unique()):
            real, test = data.train[data.train[TARGET] == c], data.test[data.test[TARGET] == c]
            rows = synth.sample(min(len(real), MAX_ROWS), seed=seed + 1, conditions={TARGET: c})
            entry["classes"][str(c)][name] = _scores(real[features], rows[features], test[features], seed)
        log(f"{data.name} {name}: " + "; ".join(
            f"class {c} shape {v[name]['shape_error']:.3f} auc {v[name]['detection_auc']:.3f} dcr {v[name]['dcr_share']:.3f}"
            for c, v in entry["classes"].items()))
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.class_fidelity", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=TABLES)
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--guidance", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=None, help="subsample each split to this many rows (smoke runs)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    command = "python -m benchmarks.class_fidelity " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = {"budget": args.budget, "guidance": args.guidance, "seed": args.seed, "max_rows": MAX_ROWS}
    print(tabddpm_data.run_each(args.datasets, Path(args.out), command, settings, args.rows, args.seed,
                                lambda data: run_dataset(data, args.budget, args.guidance, args.seed, print)))


def _f(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def render(results: dict) -> list[str]:
    """Markdown for docs/benchmarks.md: per table and class, each variant's scores beside the real rows' floor."""
    machine, settings = results.get("machine", {}), results["settings"]
    lines = ["## Class-conditional fidelity", "", "Commands: " + "; ".join(f"`{c}`" for c in results["commands"])
             + f" on {machine.get('processor')} ({machine.get('cores')} cores); fit budget {settings['budget']:g} s, "
             f"seed {settings['seed']}. Rows generated for one class against the train rows of that class: shape error, "
             "detection AUC (0.5: indistinguishable) and DCR share (0.5: no closer to train than to test rows); "
             "'real test rows' is the noise floor (the class's test rows scored the same way).", "",
             "| table | class (train rows) | variant | shape error | detection AUC | DCR share |", "|---|---|---|---|---|---|"]
    for table, entry in results["datasets"].items():
        for c, info in entry["classes"].items():
            for variant in ["real test rows", *entry["fits"]]:
                got = info.get(variant)
                if got is None:
                    continue
                lines.append(f"| {table} | {c} ({info['train_rows']}) | {variant} | {_f(got['shape_error'])} | "
                             f"{_f(got['detection_auc'])} | {_f(got['dcr_share'])} |")
    return lines + [""]


if __name__ == "__main__":
    main()
