"""A memorisation signal during a fit: the diffusion loss of held-out real rows (the val split) against that of
training rows (as many of each), under the same fixed noise, every few steps.

    python -m experiments.heldout_loss --dataset diabetes --steps 3000 --every 250 --out /tmp/heldout.jsonl

When the model starts to memorise, its loss on training rows keeps falling while the held-out loss stalls or rises:
the gap is the candidate signal for a stopping rule. Each probe scores up to --rows rows of each split with the EMA
model (the one that samples), --repeats times with the same timesteps and noise each probe, so that successive
probes differ only by the model. The probe is `Synthesizer.fit`'s per-step callback, which hands it the EMA model,
the process and the fitted encoder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import tabdiffusion as td
from benchmarks.tabddpm_data import TARGET, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = load(args.dataset)
    task = "classification" if data.is_classification else "regression"
    rng = np.random.default_rng(args.seed)
    rows = min(args.rows, len(data.train), len(data.val))  # equal sizes: both splits see the same t and noise draws
    splits = {name: frame.iloc[rng.permutation(len(frame))[:rows]]
              for name, frame in (("train", data.train), ("val", data.val))}

    tensors: dict = {}
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def probe(step: td.TrainingStep) -> None:
        if step.step % args.every and step.step != step.steps:
            return
        device = next(step.model.parameters()).device
        if not tensors:  # the splits through the fit's own encoder, once
            for name, frame in splits.items():
                # Fresh dequantisation noise for both splits, so neither sees the exact inputs of training.
                encoded = step.encoder.encode(frame, dequantize=np.random.default_rng(1))
                tensors[name] = (torch.from_numpy(encoded.x_num).to(device), torch.from_numpy(encoded.x_cat).to(device),
                                 None if encoded.y is None else torch.from_numpy(encoded.y).to(device))
        record = {"dataset": args.dataset, "step": step.step}
        with torch.no_grad():
            for name, (xn, xc, yy) in tensors.items():
                generator = torch.Generator(device).manual_seed(12345)
                losses = [step.process.loss(step.model, xn, xc, yy, generator) for _ in range(args.repeats)]
                record[f"{name}_num"] = float(np.mean([float(n) for n, _ in losses]))
                record[f"{name}_cat"] = float(np.mean([float(c) for _, c in losses]))
        record["gap"] = (record["val_num"] + record["val_cat"]) - (record["train_num"] + record["train_cat"])
        with args.out.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    td.Synthesizer(seed=args.seed, steps=args.steps, device=args.device, verbose=False).fit(
        data.train, target=TARGET, task=task, callback=probe)

if __name__ == "__main__":
    main()
