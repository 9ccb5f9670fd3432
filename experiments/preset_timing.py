"""Fit and sample wall times of a preset on TabDDPM datasets, each in its own process.

    python -m experiments.preset_timing --datasets adult,churn2,king --preset tabddpm --steps 300

The tabddpm preset uses the paper's tuned per-dataset config (d_layers, lr, num_timesteps, batch size); only the
step count is reduced (the paper trains 30,000 steps) and reported next to the per-step time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def run_one(name: str, preset: str, steps: int, seed: int) -> dict:
    """Fit and sample one dataset in this process; returns wall times and a NaN check."""
    import torch

    import tabdiffusion as td
    from benchmarks.tabddpm_data import TARGET, paper_results
    from benchmarks.wide_table import load_any as load

    data = load(name)
    kwargs = {}
    if preset == "tabddpm":
        config = paper_results()[name]["tabddpm_config"]
        kwargs = dict(d_layers=tuple(config["d_layers"]), lr=config["lr"], num_timesteps=config["num_timesteps"],
                      batch_size=config["batch_size"])
    task = "classification" if data.is_classification else "regression"
    synth = td.Synthesizer(preset=preset, seed=seed, steps=steps, verbose=False, **kwargs)
    start = time.perf_counter()
    synth.fit(data.train, target=TARGET, task=task)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fake = synth.sample(len(data.train), seed=seed)
    sample_seconds = time.perf_counter() - start
    numeric = fake.select_dtypes("number")
    return {
        "dataset": name, "preset": preset, "rows": len(data.train), "columns": data.train.shape[1],
        "steps": synth.history_.steps, "fit_seconds": round(fit_seconds, 2),
        "seconds_per_step": round(fit_seconds / synth.history_.steps, 4),
        "sample_rows": len(fake), "sample_seconds": round(sample_seconds, 2),
        "num_timesteps": synth.config_.num_timesteps, "d_layers": list(synth.config_.d_layers),
        "final_loss": round(float(np.mean(synth.history_.loss[-20:])), 4),
        "nan_in_loss": bool(not np.isfinite(synth.history_.loss).all()),
        "nan_in_sample": bool(numeric.isna().to_numpy().any() and not data.train.isna().to_numpy().any()),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="adult,churn2,king")
    parser.add_argument("--preset", default="tabddpm")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.preset, args.steps, args.seed)))
        return
    for name in args.datasets.split(","):
        command = [sys.executable, "-m", "experiments.preset_timing", "--one", name, "--preset", args.preset,
                   "--steps", str(args.steps), "--seed", str(args.seed)]
        start = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        result["process_seconds"] = round(time.perf_counter() - start, 2)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["children_cpu_seconds_total"] = round(usage.ru_utime + usage.ru_stime, 1)
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
