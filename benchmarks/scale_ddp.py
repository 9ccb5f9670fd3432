"""Training throughput of a distributed fit (torchrun, DistributedDataParallel) against one process, at the same
global batch and step count, on a generated table.

    python -m benchmarks.scale_ddp                                   # 1 and 2 gloo processes on this machine's CPU
    python -m benchmarks.scale_ddp --rows 20000 --steps 400 --procs 1,2,4 --threads 4
    python -m benchmarks.scale_ddp --device cuda --procs 1,2          # one GPU per process, NCCL

Each world size fits the same table with the same seed and settings (no memorisation checks, no calibration: only
training is timed) in a fresh `torchrun --standalone --nproc_per_node=N` launch (a plain process for N=1). Rank 0
times the training steps with fit's callback, leaving out the first `--warmup` steps (PyTorch's one-time set-up and
DDP's first bucket rebuild): steps/s and rows/s (steps/s times the global batch). `--threads` CPU threads are shared
out among the processes (threads // N each, at least 1), so every world size uses the same cores; or every process
gets `--threads-per-process`. On a machine busy with other work, a process of several threads can be slowed far more
than one of a single thread (its threads wait for each other), so compare world sizes on an idle machine. The results, with
the command and the machine, go to benchmarks/results/scale/ddp.json (--out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "scale"


def make_table(rows: int, numeric: int, categorical: int, seed: int) -> pd.DataFrame:
    """A table of correlated numeric columns (a shared factor plus noise) and categories that follow the first
    numeric column, so that the denoiser has something to learn."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=rows)
    columns = {f"x{i}": (factor * rng.uniform(0.5, 2) + rng.normal(scale=0.5, size=rows)).round(4) for i in range(numeric)}
    for j in range(categorical):
        levels = np.array([f"c{j}_{k}" for k in range(5)])
        shift = rng.integers(0, 5, size=rows) * (rng.random(rows) < 0.3)
        columns[f"cat{j}"] = levels[(np.digitize(factor, [-1, -0.3, 0.3, 1]) + shift) % 5]
    return pd.DataFrame(columns)


def worker(args: argparse.Namespace) -> None:
    """One rank's fit (or the only process's): time the training steps and, on rank 0, write them to args.result."""
    import tabdiffusion as td
    from tabdiffusion.distributed import is_main_process

    seconds: list[float] = []
    synth = td.Synthesizer(seed=0, steps=args.steps, batch_size=args.batch_size, min_proximity=0, calibrate=False,
                           device=args.device, threads=args.worker_threads, verbose=False)
    synth.fit(args.table, callback=lambda step: seconds.append(step.seconds))
    if not is_main_process():
        return
    timed = len(seconds) - 1 - args.warmup
    elapsed = seconds[-1] - seconds[args.warmup]
    global_batch = args.batch_size - args.batch_size % int(os.environ.get("WORLD_SIZE", "1"))
    Path(args.result).write_text(json.dumps({
        "world_size": int(os.environ.get("WORLD_SIZE", "1")), "distributed": synth.distributed_,
        "threads_per_process": args.worker_threads, "device": str(synth.device_), "global_batch": global_batch,
        "steps": synth.history_.steps, "timed_steps": timed, "timed_seconds": round(elapsed, 3),
        "steps_per_second": round(timed / elapsed, 3), "rows_per_second": round(timed * global_batch / elapsed, 1),
        "fit_seconds": round(synth.history_.seconds, 3),
        "final_loss": round(float(np.mean(synth.history_.loss[-max(1, args.steps // 10):])), 4),
    }))


def run(procs: int, table: Path, result: Path, args: argparse.Namespace) -> dict:
    """Fit with `procs` processes (torchrun for more than one) and return rank 0's timings."""
    threads = args.threads_per_process or max(1, args.threads // procs)
    worker_args = ["--worker", "--table", str(table), "--result", str(result), "--steps", str(args.steps),
                   "--batch-size", str(args.batch_size), "--warmup", str(args.warmup), "--device", args.device,
                   "--worker-threads", str(threads)]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
                if procs > 1 else [sys.executable])
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    started = time.perf_counter()
    subprocess.run([*launcher, "-m", "benchmarks.scale_ddp", *worker_args], env=env, check=True,
                   cwd=Path(__file__).resolve().parents[1])
    timings = json.loads(result.read_text())
    timings["launch_seconds"] = round(time.perf_counter() - started, 1)
    return timings


def main(argv: list[str] | None = None) -> Path | None:
    """Parse the arguments; run the world sizes and write the results file (or, with --worker, be one rank)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the generated table")
    parser.add_argument("--numeric", type=int, default=8, help="numeric columns of the generated table")
    parser.add_argument("--categorical", type=int, default=4, help="categorical columns of the generated table")
    parser.add_argument("--steps", type=int, default=300, help="training steps of every fit")
    parser.add_argument("--batch-size", type=int, default=1024, help="the global batch (split across processes)")
    parser.add_argument("--warmup", type=int, default=20, help="first steps left out of the timing")
    parser.add_argument("--procs", default="1,2", help="world sizes to compare, comma-separated")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CPU threads shared out among the processes of each fit (default: all cores)")
    parser.add_argument("--threads-per-process", type=int,
                        help="CPU threads of every process instead (e.g. 1: the same per-process work at every size)")
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    parser.add_argument("--out", default=str(RESULTS / "ddp.json"), help="results file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return None
    if args.warmup + 2 > args.steps:
        raise SystemExit(f"--steps {args.steps} leaves nothing to time after --warmup {args.warmup}")
    procs = [int(p) for p in args.procs.split(",") if p.strip()]
    from tabdiffusion.tables import atomic_write

    from .tabddpm import machine

    given = list(sys.argv[1:] if argv is None else argv)
    results: dict = {
        "benchmark": "scale_ddp", "command": "python -m benchmarks.scale_ddp " + shlex.join(given),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine(),
        "settings": {name: getattr(args, name) for name in ("rows", "numeric", "categorical", "steps", "batch_size",
                                                             "warmup", "threads", "threads_per_process", "device")},
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "table.csv"
        make_table(args.rows, args.numeric, args.categorical, seed=0).to_csv(table, index=False)
        for n in procs:
            timings = run(n, table, Path(folder) / f"result-{n}.json", args)
            print(f"{n} process(es): {timings['steps_per_second']:.2f} steps/s, {timings['rows_per_second']:.0f} rows/s, "
                  f"final loss {timings['final_loss']}", flush=True)
            results["runs"].append(timings)
    baseline = next((r for r in results["runs"] if r["world_size"] == 1), None)
    for timings in results["runs"]:
        timings["speedup"] = None if baseline is None else round(timings["steps_per_second"] / baseline["steps_per_second"], 3)
    text = json.dumps(results, indent=1, allow_nan=False) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda temp: Path(temp).write_text(text))
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
