"""Memorisation against training steps on a slice of the raw adult CSV: DCR share, membership AUC, near-copies.

    python -m experiments.steps_privacy --rows 2000 --steps 700,1400,auto

The raw adult CSV (../shared/datasets/raw, with missing values) is shuffled with a fixed seed; its first `--rows`
rows are the training table and the next `--rows` the holdout. Each step count is one default fit (seed 0; `auto`:
the default's auto_steps), sampled once at the training table's size (seed 1) and scored by tabdiffusion.evaluate
(privacy, detection and fidelity, seed 1). Also `loo_ratio`: the synthetic rows' median distance to the closest
training row over the training rows' median distance to their closest other training row (evaluate's embedding),
a memorisation signal that needs no holdout (about 1 for rows drawn like real ones), and each memorisation check of
the fit as [step, proximity, diversity]. One JSON line per step count (docs/experiments.md, "Steps on the small tables"
and "The memorisation stop").
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

import tabdiffusion as td
from benchmarks.tabddpm_data import SHARED
from tabdiffusion.evaluation._data import prepare
from tabdiffusion.evaluation.embedding import fit_embedder
from tabdiffusion.neighbours import nearest

KEYS = ("privacy.dcr_share", "privacy.mia_auc", "privacy.close_share", "detection.gbm_auc",
        "fidelity.column_shapes", "fidelity.column_pair_trends")


def loo_ratio(train: pd.DataFrame, synthetic: pd.DataFrame, target: str) -> float:
    """Median synthetic-to-training nearest distance over the training rows' leave-one-out nearest distance."""
    prep = prepare(train, synthetic, None, target)
    embedder = fit_embedder(prep, 100)
    real, fake = embedder.transform(prep.real), embedder.transform(prep.synthetic)
    return float(np.median(nearest(fake, real, 1)[0][:, 0]) / np.median(nearest(real, real, 2)[0][:, 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--steps", default="700,1400,auto")
    parser.add_argument("--min-proximity", type=float, default=None,
                        help="the memorisation stop's threshold (default: the preset's; 0: off)")
    args = parser.parse_args()
    table = pd.read_csv(SHARED / "datasets" / "raw" / "adult_train.csv").sample(frac=1, random_state=0)
    train, holdout = table.iloc[: args.rows], table.iloc[args.rows : 2 * args.rows]
    for steps in args.steps.split(","):
        start = time.perf_counter()
        synth = td.Synthesizer(seed=0, verbose=False, steps=None if steps == "auto" else int(steps),
                               min_proximity=args.min_proximity)
        synth.fit(train, target="income")
        fit_seconds = time.perf_counter() - start
        synthetic = synth.sample(len(train), seed=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = td.evaluate(real=train, synthetic=synthetic, holdout=holdout,
                                 target="income", metrics=("privacy", "detection", "fidelity"), seed=1, verbose=False)
        history = synth.history_
        print(json.dumps({"rows": args.rows, "steps": history.steps, "stopped_by": history.stopped_by,
                          "kept_step": history.kept_step, "fit_seconds": round(fit_seconds, 1),
                          **{k: round(result.scores[k], 4) for k in KEYS},
                          "loo_ratio": round(loo_ratio(train, synthetic, "income"), 3),
                          "privacy_verdict": result.verdicts["privacy"]["level"],
                          "checks": [[c["step"], round(c["proximity"], 3), round(c["diversity"], 3)] for c in history.checks]}),
              flush=True)


if __name__ == "__main__":
    main()
