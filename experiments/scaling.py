"""What more training and capacity buy: fit variants for many steps on any device, then score their synthetic sets
with the paper's tuned CatBoost.

    python -m experiments.scaling generate --dataset california --out /tmp/scaling \\
        --variants "default30k:steps=30000" "tabddpm:preset='tabddpm'"
    python -m experiments.scaling score /tmp/scaling

`generate` fits each variant (NAME:KEY=VALUE,... with Synthesizer keywords; preset='tabddpm' takes the paper's tuned
configuration for the dataset unless a keyword overrides it) on the train split without a time budget, and writes
train-size synthetic sets for each sampling seed (and with --paper-size one set of the paper's num_samples rows) as
Parquet, numeric columns in float32, beside a JSON record of the fit. It needs no CatBoost, so it can run on a GPU
machine. `score` trains the tuned CatBoost (benchmarks.protocol) on every set and prints one line per variant and
size: mean val and test scores over sampling seeds x CatBoost seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import tabdiffusion as td
from experiments.ablation import parse_variant
from benchmarks.methods import paper_config
from benchmarks.tabddpm_data import TARGET, load, paper_results


def generate(dataset: str, variants: list[str], out: Path, sampling_seeds: list[int], paper_size: bool,
             device: str, seed: int) -> None:
    """Fit every variant on the train split and write its synthetic sets under out/dataset/variant/."""
    data = load(dataset)
    task = "classification" if data.is_classification else "regression"
    num_samples = paper_results().get(dataset, {}).get("tabddpm_config", {}).get("num_samples")
    for variant in variants:
        name, overrides = parse_variant(variant)
        if overrides.get("preset") == "tabddpm":
            overrides = {**paper_config(dataset), **overrides}
        folder = out / dataset / name
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        synth = td.Synthesizer(seed=seed, device=device, verbose=False, **overrides).fit(data.train, target=TARGET,
                                                                                         task=task)
        fit_seconds = time.perf_counter() - start
        sizes = [(f"seed{s}-train", s, len(data.train)) for s in sampling_seeds]
        if paper_size and num_samples:
            sizes.append((f"seed{sampling_seeds[0]}-paper", sampling_seeds[0], int(num_samples)))
        sample_seconds = {}
        for label, sampling_seed, rows in sizes:
            start = time.perf_counter()
            fake = synth.sample(rows, seed=sampling_seed)
            sample_seconds[label] = round(time.perf_counter() - start, 2)
            floats = fake.select_dtypes("float64").columns
            fake.astype({c: np.float32 for c in floats}).to_parquet(folder / f"{label}.parquet")
        record = {"dataset": dataset, "variant": name, "overrides": {k: repr(v) for k, v in overrides.items()},
                  "fit_seconds": round(fit_seconds, 1), "steps": synth.history_.steps,
                  "final_loss": float(np.mean(synth.history_.loss[-100:])), "d_t": synth.config_.d_t,
                  "device": str(synth.device_), "torch": torch.__version__, "sample_seconds": sample_seconds,
                  "gpu": torch.cuda.get_device_name() if synth.device_.type == "cuda" else None}
        (folder / "fit.json").write_text(json.dumps(record, indent=1))
        print(json.dumps(record), flush=True)


def score(out: Path, catboost_seeds: int) -> None:
    """Tuned-CatBoost val and test scores of every set under `out`, one line per (dataset, variant, size)."""
    from benchmarks.protocol import catboost_score

    for fit_file in sorted(out.glob("*/*/fit.json")):
        record = json.loads(fit_file.read_text())
        data = load(record["dataset"])
        for size in ("train", "paper"):
            runs = []
            for path in sorted(fit_file.parent.glob(f"seed*-{size}.parquet")):
                fake = pd.read_parquet(path)
                seeds = range(catboost_seeds) if size == "train" else range(1)
                runs += [catboost_score(fake, data, seed=s) for s in seeds]
            if not runs:
                continue
            tests, vals = [r["score"] for r in runs], [r["val_score"] for r in runs]
            print(json.dumps({"dataset": record["dataset"], "variant": record["variant"], "size": size,
                              "rows": runs[0]["train_rows"], "test": round(statistics.mean(tests), 4),
                              "test_std": round(statistics.pstdev(tests), 4), "val": round(statistics.mean(vals), 4),
                              "n": len(runs), "steps": record["steps"], "fit_seconds": record["fit_seconds"],
                              "device": record["device"]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="fit variants and write their synthetic sets")
    gen.add_argument("--dataset", required=True)
    gen.add_argument("--variants", nargs="+", required=True)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--sampling-seeds", default="0,1")
    gen.add_argument("--paper-size", action="store_true", help="also one set of the paper's num_samples rows")
    gen.add_argument("--device", default="auto")
    gen.add_argument("--seed", type=int, default=0)
    sc = commands.add_parser("score", help="score the written sets with the paper's tuned CatBoost")
    sc.add_argument("out", type=Path)
    sc.add_argument("--catboost-seeds", type=int, default=3)
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.dataset, args.variants, args.out, [int(s) for s in args.sampling_seeds.split(",")],
                 args.paper_size, args.device, args.seed)
    else:
        score(args.out, args.catboost_seeds)


if __name__ == "__main__":
    main()
