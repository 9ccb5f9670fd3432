"""Sampling throughput of a saved model: rows per second per sampler variant, median of whole-process runs.

    python -m experiments.sampling_speed --model adult.tdm --variants ancestral,ddim:50:1:bfloat16 --rows 100000

Each (variant, repeat) runs in a fresh Python process that loads the model, warms up on 1,000 rows, then times
`sample(rows)`; variants are interleaved across repeats so machine noise hits them alike. A variant is
SAMPLER[:STEPS[:ETA[:PRECISION]]] (experiments.sampler_sweep). Settings that the installed tabdiffusion does not
know are dropped, so the same command times an older checkout (PYTHONPATH=that checkout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from experiments.sampler_sweep import parse_variant

CHILD = """
import json, sys, time, dataclasses, torch
import tabdiffusion as td
path, overrides, rows, threads = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
synth = td.Synthesizer.load(path, device="cpu")
known = {f.name for f in dataclasses.fields(synth.config_)}
synth.config_ = dataclasses.replace(synth.config_, **{k: v for k, v in overrides.items() if k in known})
synth.sample(1000, seed=0)
start = time.perf_counter()
synth.sample(rows, seed=1)
print(json.dumps({"seconds": time.perf_counter() - start, "version": td.__version__}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--variants", default="ancestral,ddim:50:1:bfloat16")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    variants = args.variants.split(",")
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for variant in variants:
            done = subprocess.run([sys.executable, "-c", CHILD, args.model, json.dumps(parse_variant(variant)),
                                   str(args.rows), str(args.threads)], capture_output=True, text=True, check=True)
            seconds[variant].append(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    for variant, runs in seconds.items():
        median = statistics.median(runs)
        print(json.dumps({"variant": variant, "rows": args.rows, "threads": args.threads,
                          "median_seconds": round(median, 3), "rows_per_second": round(args.rows / median),
                          "runs_seconds": [round(s, 3) for s in runs]}), flush=True)


if __name__ == "__main__":
    main()
