"""Score tabdiffusion samples of one TabDDPM split next to real data, and write the HTML report.

    python -m experiments.evaluate_example --dataset churn2 --out /tmp/churn2_report

The reference row evaluates the real val split as if it were synthetic: what a perfect generator would score.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import tabdiffusion as td
from benchmarks.tabddpm_data import TARGET, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="churn2")
    parser.add_argument("--out", type=Path, default=Path("benchmark-output"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-budget", type=float, default=None)
    args = parser.parse_args()
    data = load(args.dataset)
    task = "classification" if data.is_classification else "regression"
    start = time.perf_counter()
    synth = td.Synthesizer(seed=args.seed, time_budget=args.time_budget, verbose=False).fit(data.train, target=TARGET, task=task)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fake = synth.sample(len(data.train), seed=args.seed + 1)
    sample_seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"dataset": args.dataset, "fit_seconds": round(fit_seconds, 1), "sample_seconds": round(sample_seconds, 2),
               "steps": synth.history_.steps}
    for label, synthetic in (("tabdiffusion", fake), ("real_val_split", data.val)):
        report = td.evaluate(data.train, synthetic, data.test, target=TARGET, task=task, seed=args.seed, verbose=False)
        report.to_html(args.out / f"{args.dataset}_{label}.html")
        results[label] = report.scores
    (args.out / f"{args.dataset}_scores.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
