"""Memorisation on a tiny table: DCR share and fidelity of the default preset on Penguins vs training steps.

    python -m benchmarks.small_table_privacy --steps 300,1000,3000 --seeds 0,1

The demo's 80/20 split (275 training rows, 69 held out); DCR share above 0.5 means synthetic rows sit closer to
training rows than to unseen ones.
"""

from __future__ import annotations

import argparse
import json
import time

import tabdiffusion as td
from tabdiffusion.demo import demo_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="300,1000,3000")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    train, holdout = demo_split(seed=0)
    train, holdout = train.reset_index(drop=True), holdout.reset_index(drop=True)
    for steps in map(int, args.steps.split(",")):
        for seed in map(int, args.seeds.split(",")):
            start = time.perf_counter()
            synth = td.Synthesizer(seed=seed, steps=steps, verbose=False).fit(train, target="species")
            fit_seconds = time.perf_counter() - start
            fake = synth.sample(len(train), seed=seed)
            s = td.evaluate(train, fake, holdout, target="species", seed=0, verbose=False,
                            metrics=["fidelity", "detection", "privacy", "efficacy"]).scores
            print(json.dumps({"steps": steps, "seed": seed, "fit_s": round(fit_seconds, 1),
                              "dcr_share": round(s["privacy.dcr_share"], 3), "mia_auc": round(s["privacy.mia_auc"], 3),
                              "shape_error": round(s["fidelity.column_shapes_error"], 4),
                              "gbm_auc": round(s["detection.gbm_auc"], 3), "efficacy_ratio": round(s["efficacy.ratio_mean"], 3)}),
                  flush=True)


if __name__ == "__main__":
    main()
