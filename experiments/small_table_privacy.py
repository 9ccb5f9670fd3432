"""Memorisation on small tables: DCR share, detection and efficacy of setting variants over several fit seeds.

    python -m experiments.small_table_privacy --dataset diabetes --seeds 0,1,2,3 --variants "base:" "s350:steps=350"

Each variant is fitted once per seed and sampled twice (the train split's size, sampling seeds 0 and 1); each set is
scored by tabdiffusion.evaluate against the train split (holdout = the test split; `--dataset penguins`: the demo's
80/20 split) and, for a benchmark dataset, by the paper's tuned CatBoost (3 seeds; test and val score). One JSON
line per variant with means over all sets: a small table's DCR share moves by a few points from fit to fit, so one
fit says little.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import tabdiffusion as td
from experiments.ablation import parse_variant, tables
from benchmarks.protocol import catboost_score
from benchmarks.wide_table import load_any as load

SAMPLE_SEEDS = (0, 1)
CATBOOST_SEEDS = (0, 1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="diabetes")
    parser.add_argument("--seeds", default="0,1,2,3", help="fit seeds")
    parser.add_argument("--variants", nargs="+", default=["base:"])
    args = parser.parse_args()
    train, holdout, target, task = tables(args.dataset)
    data = None if args.dataset == "penguins" else load(args.dataset)
    for variant in args.variants:
        name, overrides = parse_variant(variant)
        scores: dict[str, list[float]] = {"dcr_share": [], "mia_auc": [], "gbm_auc": [], "test": [], "val": []}
        fit_seconds, steps, test_per_fit = [], [], []
        for seed in map(int, args.seeds.split(",")):
            start = time.perf_counter()
            synth = td.Synthesizer(seed=seed, verbose=False, **overrides).fit(train, target=target, task=task)
            fit_seconds.append(time.perf_counter() - start)
            steps.append(synth.history_.steps)
            this_fit: list[float] = []
            for sample_seed in SAMPLE_SEEDS:
                fake = synth.sample(len(train), seed=sample_seed)
                s = td.evaluate(train, fake, holdout, target=target, task=task, seed=0, verbose=False,
                                metrics=["privacy", "detection"]).scores
                scores["dcr_share"].append(s["privacy.dcr_share"])
                scores["mia_auc"].append(s["privacy.mia_auc"])
                scores["gbm_auc"].append(s["detection.gbm_auc"])
                for catboost_seed in CATBOOST_SEEDS if data is not None else ():
                    scored = catboost_score(fake, data, seed=catboost_seed)
                    scores["test"].append(scored["score"])
                    this_fit.append(scored["score"])
                    scores["val"].append(scored["val_score"])
            if this_fit:  # this fit's mean over its 2 sets x 3 CatBoost seeds
                test_per_fit.append(round(float(np.mean(this_fit)), 4))
        print(json.dumps({"dataset": args.dataset, "variant": name, "overrides": overrides, "steps": steps,
                          "fit_seconds": round(float(np.median(fit_seconds)), 1), "sets": len(scores["dcr_share"]),
                          **{k: round(float(np.mean(v)), 4) for k, v in scores.items() if v},
                          "dcr_share_max": round(max(scores["dcr_share"]), 4),
                          **({"test_per_fit": test_per_fit} if test_per_fit else {})}), flush=True)


if __name__ == "__main__":
    main()
