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
import warnings

from benchmarks import tabddpm_data
from benchmarks.dp_utility import _scores, ours
from benchmarks.tabddpm_data import Dataset


def fit_and_score(data: Dataset, epsilon: float, steps: int, batch_size: int, lr: float, width: int | None,
                  seed: int) -> dict:
    """One private fit of `data` with these settings (benchmarks.dp_utility.ours), and its scores."""
    rows, spent = ours(data, epsilon, steps, seed, batch_size=batch_size, lr=lr,
                       d_layers=None if width is None else (width, width))
    return {"table": data.name, "rows": len(data.train), "epsilon": epsilon, "steps": steps,
            "batch_size": batch_size, "lr": lr, "width": width, "seed": seed,
            "noise_multiplier": round(spent["noise_multiplier"], 3), "sample_rate": round(spent["sample_rate"], 3),
            "fit_seconds": round(spent["fit_seconds"], 1),
            **{k: round(v, 4) for k, v in _scores(data, rows, seed).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="insurance,abalone")
    parser.add_argument("--epsilons", default="10")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default="800/1024/3e-3", help="STEPS/BATCH/LR[/WIDTH], comma-separated")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name in args.datasets.split(","):
        data = tabddpm_data.load(name)
        for epsilon in (float(e) for e in args.epsilons.split(",")):
            for variant in args.variants.split(","):
                steps, batch, lr, *width = variant.split("/")
                for seed in (int(s) for s in args.seeds.split(",")):
                    print(json.dumps(fit_and_score(data, epsilon, int(steps), int(batch), float(lr),
                                                   int(width[0]) if width else None, seed)), flush=True)


if __name__ == "__main__":
    main()
