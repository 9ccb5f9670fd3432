"""Sampling steps vs quality and time: fit once (or load a model), sample with several samplers, score each.

    python -m experiments.sampler_sweep --dataset churn2 --variants ancestral,ddim:50,ddim:20,ddim:10,ddim:20:0:bfloat16
    python -m experiments.sampler_sweep --dataset churn2 --fit "num_timesteps=20,d_layers=(256,256,256)" \
        --variants ddim:20,ddim:10 --rows 0 --save-sets /tmp/sets/churn2-T20w256

A variant is SAMPLER[:STEPS[:ETA[:PRECISION[:raw]]]] (precision float32 or bfloat16; raw: without the fitted
model's marginal calibration, to compare both on one model, e.g. ddim:50:1:bfloat16:raw,ddim:50:1:bfloat16). Scores come from
tabdiffusion.evaluate (synthetic train-size set vs the real train split, holdout = real test split); rows/s is
measured on a separate draw of --rows rows. `--fit` passes Synthesizer keywords to a fresh fit; `--save-sets`
writes each variant's train-size set as Parquet for `python -m experiments.scaling score` (the folder's name is the
variant's in that command's output).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import tabdiffusion as td
from experiments.ablation import parse_variant as parse_keywords
from benchmarks.tabddpm_data import TARGET, load


def parse_variant(text: str) -> dict:
    """'ddim:20:0.5:bfloat16' -> sampler, sampling_steps, eta and sampling_precision ('...:raw' is read by main)."""
    parts = text.removesuffix(":raw").split(":")
    return {"sampler": parts[0], "sampling_steps": int(parts[1]) if len(parts) > 1 else None,
            "eta": float(parts[2]) if len(parts) > 2 else 1.0,
            "sampling_precision": parts[3] if len(parts) > 3 else "float32"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="churn2")
    parser.add_argument("--model", type=Path, help="A model file to reuse; fitted with the default preset if absent.")
    parser.add_argument("--variants", default="ancestral,ddim:100,ddim:50,ddim:30,ddim:20,ddim:10,ddim:20:0")
    parser.add_argument("--metrics", default="fidelity,detection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=100_000, help="Rows drawn to time the sampler (0: skip).")
    parser.add_argument("--fit", default="", help="Synthesizer keywords for the fit, e.g. 'num_timesteps=20'.")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--save-sets", type=Path, help="Folder for each variant's synthetic set (Parquet).")
    args = parser.parse_args()
    _, fit_keywords = parse_keywords(":" + args.fit)
    data = load(args.dataset)
    task = "classification" if data.is_classification else "regression"
    fit_seconds = None
    if args.model and args.model.exists():
        synth = td.Synthesizer.load(args.model)
    else:
        start = time.perf_counter()
        synth = td.Synthesizer(seed=args.seed, verbose=False, device=args.device, **fit_keywords).fit(
            data.train, target=TARGET, task=task)
        fit_seconds = round(time.perf_counter() - start, 1)
        print(json.dumps({"fit": args.fit, "fit_seconds": fit_seconds, "steps": synth.history_.steps}), flush=True)
        if args.model:
            synth.save(args.model)
    calibration = getattr(synth, "calibration_", None)
    for variant in args.variants.split(","):
        synth.config_ = replace(synth.config_, **parse_variant(variant))
        synth.calibration_ = None if variant.endswith(":raw") else calibration
        timing = {}
        if args.rows:
            start = time.perf_counter()
            synth.sample(args.rows, seed=args.seed + 2)
            seconds = time.perf_counter() - start
            timing = {"rows": args.rows, "sample_seconds": round(seconds, 2), "rows_per_second": round(args.rows / seconds)}
        fake = synth.sample(len(data.train), seed=args.seed + 1)
        if args.save_sets:
            folder = args.save_sets / args.dataset / variant.replace(":", "_").replace(".", "p")
            folder.mkdir(parents=True, exist_ok=True)
            fake.to_parquet(folder / "seed0-train.parquet")
            steps = synth.history_.steps if hasattr(synth, "history_") else None
            (folder / "fit.json").write_text(json.dumps({
                "dataset": args.dataset, "variant": folder.name, "fit": args.fit, "steps": steps,
                "fit_seconds": fit_seconds, "device": str(synth.device_)}))
        scores = td.evaluate(data.train, fake, data.test, target=TARGET, task=task, seed=args.seed, verbose=False,
                             metrics=args.metrics.split(",")).scores
        print(json.dumps({"dataset": args.dataset, "fit": args.fit, "variant": variant, **timing,
                          **{k: round(v, 4) for k, v in scores.items()
                             if k.endswith(("_error", "_auc", "ratio_mean")) or k.startswith("efficacy.catboost.")}}),
              flush=True)


if __name__ == "__main__":
    main()
