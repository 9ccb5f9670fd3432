"""Anonymeter's risks over several evaluation seeds: how much a verdict depends on the attack's random draws.

    python -m experiments.attack_splits --dataset gesture --budget 300 --seeds 0,1,2,3,4
    python -m experiments.attack_splits --dataset gesture --steps 2100 --efficacy

One default fit of a benchmark table (seed 0, `--budget` seconds or a fixed number of `--steps`, the task's target),
sampled once at the train size (seed 1; with `--efficacy` also scored by the harness's tuned CatBoost), then
evaluate's privacy group once per evaluation seed: each seed draws another split of the columns into the linkability
attack's two halves, other target rows and other secrets. The same is done with the real test split in place of the
synthetic rows (the val split as the control), the risks of a generator that draws fresh rows from the population.
One JSON line per (rows, seed): each risk with its 95% interval and the attack's and the control's
success rates (docs/experiments.md, "Privacy attacks").
"""

from __future__ import annotations

import argparse
import json
import warnings

import pandas as pd

import tabdiffusion as td
from benchmarks import protocol, tabddpm_data
from benchmarks.tabddpm_data import TARGET

ATTACKS = ("singling_out", "linkability", "inference")


def risks(train: pd.DataFrame, rows: pd.DataFrame, control: pd.DataFrame, seed: int) -> dict:
    """The DCR share and each Anonymeter risk [risk, low, high, attack rate, control rate] of `rows`."""
    scores = td.evaluate(train, rows, control, target=TARGET, seed=seed, metrics="privacy", verbose=False,
                         n_jobs=2).scores
    return {"dcr_share": round(scores["privacy.dcr_share"], 4),
            **{a: [round(scores[f"privacy.{a}_{k}"], 3) for k in ("risk", "low", "high", "attack_rate", "control_rate")]
               for a in ATTACKS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="gesture")
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--steps", type=int, default=None, help="train this many steps instead (no time budget)")
    parser.add_argument("--efficacy", action="store_true", help="also score the rows by the tuned CatBoost")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = tabddpm_data.load(args.dataset)
    task = "classification" if data.is_classification else "regression"
    budget = {"steps": args.steps} if args.steps else {"time_budget": args.budget}
    synth = td.Synthesizer(seed=0, verbose=False, **budget).fit(data.train, target=TARGET, task=task)
    rows = synth.sample(len(data.train), seed=1)
    fitted = {"fit_steps": synth.history_.steps, "stopped_by": synth.history_.stopped_by}
    if args.efficacy:
        fitted["efficacy"] = round(protocol.catboost_score(rows, data, 0)["score"], 4)
    print(json.dumps(fitted), flush=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        ours = risks(data.train, rows, data.test, seed)
        print(json.dumps({"rows": "tabdiffusion", "seed": seed, **ours}), flush=True)
        print(json.dumps({"rows": "real test split", "seed": seed, **risks(data.train, data.test, data.val, seed)}),
              flush=True)


if __name__ == "__main__":
    main()
