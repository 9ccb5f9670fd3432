"""What SMOTE's efficacy owes to closeness: SMOTE's rows moved away from the training rows by Gaussian noise.

    python -m experiments.closeness --dataset gesture --noise 0,0.1,0.2,0.3,0.5

SMOTE (the harness's, with the paper's tuned parameters) draws a train-size set; each numeric column is mapped to a
standard normal by a quantile transform fitted on the train split, noise of standard deviation `s` is added there,
and the rows are mapped back. For each `s`, one line: the DCR share against the train split with the test split as
holdout (tabdiffusion.evaluate with the harness's 5,000-row cap; 0.5: no closer to the train rows than fresh rows
are) and the tuned CatBoost's test score (the paper's protocol, --catboost-seeds seeds). The noise that brings
the DCR share to a privacy target's line shows what SMOTE's score is at that closeness.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.preprocessing import QuantileTransformer

import tabdiffusion as td
from benchmarks import tabddpm_data
from benchmarks.methods import SmoteGenerator
from benchmarks.protocol import catboost_score
from benchmarks.tabddpm_data import TARGET
from tabdiffusion.evaluation import Limits

ROW_CAP = 5_000  # the harness's evaluate row cap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="gesture")
    parser.add_argument("--noise", default="0,0.1,0.2,0.3,0.5", help="standard deviations in normal-quantile units")
    parser.add_argument("--catboost-seeds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = tabddpm_data.load(args.dataset)
    smote = SmoteGenerator(data)
    smote.fit(data.train)
    rows = smote.sample(len(data.train), args.seed)
    numeric = [c for c in data.features if c not in data.cat_columns]
    quantiles = QuantileTransformer(n_quantiles=min(1000, len(data.train)), output_distribution="normal",
                                    random_state=0).fit(data.train[numeric].to_numpy(float))
    base = quantiles.transform(rows[numeric].to_numpy(float))
    rng = np.random.default_rng(args.seed)
    limits = Limits(max_rows_neighbors=ROW_CAP, max_rows_detection=ROW_CAP)
    for s in (float(v) for v in args.noise.split(",")):
        moved = rows.copy()
        if s:
            moved[numeric] = quantiles.inverse_transform(base + rng.normal(0.0, s, base.shape))
        privacy = td.evaluate(data.train, moved, holdout=data.test, target=TARGET, seed=args.seed, metrics="privacy",
                              limits=limits, n_jobs=2, verbose=False).scores
        scores = [catboost_score(moved, data, seed)["score"] for seed in range(args.catboost_seeds)]
        share = round(float(privacy["privacy.dcr_share"]), 4)
        print(json.dumps({"dataset": args.dataset, "noise": s, "dcr_share": share,
                          "score": round(float(np.mean(scores)), 4)}), flush=True)


if __name__ == "__main__":
    main()
