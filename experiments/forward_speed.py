"""Rows per second of one denoiser forward pass of a saved model, per precision (float32, bfloat16, int8).

    python -m experiments.forward_speed --model adult.tdm --precisions float32,bfloat16,int8 --rows 16384

The pass is the sampler's: every row at one timestep (`--timestep`), labels drawn uniformly, no gradients, the
model in eval mode (FiLM's grouped path). bfloat16 runs under autocast, as `sampling_precision="bfloat16"` does;
int8 replaces every nn.Linear with torch.ao's dynamically quantised one (int8 weights, activations quantised per
call), which the package does not use (docs/experiments.md, "int8 weights for sampling"). Rounds alternate the
precisions so machine noise hits them alike; the median of `--calls` calls per round is printed, one JSON line per
round and precision, plus the int8 output's relative error against float32.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import warnings

import torch

import tabdiffusion as td


def _int8(model: torch.nn.Module) -> torch.nn.Module:
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--precisions", default="float32,bfloat16,int8")
    parser.add_argument("--rows", type=int, default=16_384)
    parser.add_argument("--timestep", type=int, default=50)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = td.Synthesizer.load(args.model, device="cpu").model_.eval()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.rows, model.head.out_features, generator=generator)
    t = torch.full((args.rows,), args.timestep, dtype=torch.long)
    n_classes = model.label_embedding.num_embeddings if model.label_embedding is not None else 0
    y = torch.randint(0, n_classes, (args.rows,), generator=generator) if n_classes else None
    quantised = _int8(model)
    variants = {
        "float32": (model, False), "bfloat16": (model, True), "int8": (quantised, False),
    }
    chosen = args.precisions.split(",")
    with torch.no_grad():
        reference, approximate = model(x, t, y), quantised(x, t, y)
        print(json.dumps({"int8_relative_error": round(float((approximate - reference).norm() / reference.norm()), 5)}))
        for round_ in range(args.rounds):
            for name in chosen:
                net, autocast = variants[name]
                seconds = []
                for call in range(args.calls + 2):  # two warm-up calls
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                        start = time.perf_counter()
                        net(x, t, y)
                        if call >= 2:
                            seconds.append(time.perf_counter() - start)
                median = statistics.median(seconds)
                print(json.dumps({"round": round_, "precision": name, "rows": args.rows,
                                  "median_seconds": round(median, 5), "rows_per_second": round(args.rows / median)}),
                      flush=True)


if __name__ == "__main__":
    main()
