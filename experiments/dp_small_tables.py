"""Differentially private fits of small tables: DP-SGD steps, batch size and learning rate against utility.

    python -m experiments.dp_small_tables --datasets insurance,abalone --epsilons 10,3 --seeds 0,1 \\
        --variants 800/1024/3e-3,200/1024/3e-3,800/128/3e-3

Each variant is STEPS/BATCH/LR[/WIDTH] of a private fit (WIDTH: a denoiser of two layers that wide; `dp_epsilon`,
delta = 1 / n^1.1, a classification task's classes declared as in benchmarks/dp_utility.py), sampled at the train
size and scored like that benchmark: the harness's tuned CatBoost (R2 or macro F1 on the real test split) and
evaluate's column-shape and pair-trend errors. One JSON line per fit, with the noise multiplier and sampling rate
Opacus' accountant chose (docs/experiments.md, "Differentially private training").
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import tabdiffusion as td
from benchmarks import tabddpm_data
from benchmarks.dp_utility import _scores
from benchmarks.tabddpm_data import TARGET


def fit_and_score(name: str, epsilon: float, steps: int, batch_size: int, lr: float, width: int | None,
                  seed: int) -> dict:
    """One private fit of table `name` with these settings, and its scores."""
    data = tabddpm_data.load(name)
    classes = {TARGET: list(range(data.n_classes))} if data.is_classification else None
    start = time.perf_counter()
    synth = td.Synthesizer(dp_epsilon=epsilon, seed=seed, steps=steps, batch_size=batch_size, lr=lr,
                           d_layers=None if width is None else (width, width), verbose=False)
    synth.fit(data.train, target=TARGET, categories=classes,
              task="classification" if data.is_classification else "regression")
    seconds = time.perf_counter() - start
    spent = synth.privacy_
    scores = _scores(data, synth.sample(len(data.train), seed=seed + 1), seed)
    return {"table": name, "rows": len(data.train), "epsilon": epsilon, "steps": steps, "batch_size": batch_size,
            "lr": lr, "width": width, "seed": seed, "noise_multiplier": round(spent.noise_multiplier, 3),
            "sample_rate": round(spent.sample_rate, 3), "fit_seconds": round(seconds, 1),
            **{k: round(v, 4) for k, v in scores.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="insurance,abalone")
    parser.add_argument("--epsilons", default="10")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default="800/1024/3e-3", help="STEPS/BATCH/LR[/WIDTH], comma-separated")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name in args.datasets.split(","):
        for epsilon in (float(e) for e in args.epsilons.split(",")):
            for variant in args.variants.split(","):
                steps, batch, lr, *width = variant.split("/")
                for seed in (int(s) for s in args.seeds.split(",")):
                    print(json.dumps(fit_and_score(name, epsilon, int(steps), int(batch), float(lr),
                                                   int(width[0]) if width else None, seed)), flush=True)


if __name__ == "__main__":
    main()
