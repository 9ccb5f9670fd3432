"""Sampling at scale: rows/s and peak memory of the CLI's partitioned sampling (--workers 1 and 2) and of
tabdiffusion.spark.sample in local mode writing the same rows to Parquet.

    python -m benchmarks.scale_sampling                      # 10,000,000 rows
    python -m benchmarks.scale_sampling --rows 200000        # a quick check that everything runs

A small model is fitted on a generated mixed table of 20 columns with a known structure (make_table), then each
sampler runs as its own child process, writing `--rows` rows as files of `--rows-per-file` rows, timed from start to
exit (process start, model load and writing included). Peak memory is measured two ways: the largest single process
(getrusage of the child, which covers the worker processes it waited for) and the whole process tree's summed RSS,
polled from /proc every POLL_SECONDS (the workers and Spark's JVM and Python workers together). The results go to
benchmarks/results/scale/scale-sampling-<rows>.json with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.scale_fit import memory_status
from benchmarks.tabddpm import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scale"
POLL_SECONDS = 0.2


def make_table(n: int, seed: int) -> pd.DataFrame:
    """20 columns with a known structure: a latent segment (3 levels) drives six numeric columns (two of them a linear
    pair), three integers, four categoricals (one a function of the segment up to 10% noise) and a boolean; plus a
    datetime, a text key, a constant, a mostly-missing float, and two independent noise columns."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    base = np.array([0.0, 2.0, -1.5])[segment]
    x1 = base + rng.normal(size=n)
    sparse = rng.lognormal(3, 1, size=n)
    sparse[rng.random(n) < 0.7] = np.nan
    table = {
        "x1": x1, "x2": 2.0 * x1 + rng.normal(scale=0.3, size=n), "x3": np.exp(base / 2 + rng.normal(scale=0.5, size=n)),
        "x4": rng.gamma(2.0 + segment, 1.0), "x5": base * 3 + rng.standard_t(4, size=n), "x6": rng.uniform(-1, 1, size=n),
        "count": rng.poisson(3 + 2 * segment), "age": np.clip(rng.normal(40 + 5 * segment, 10, size=n), 18, 90).astype(int),
        "year": rng.integers(2015, 2025, size=n),
        "segment": np.array(["bronze", "silver", "gold"])[segment],
        "region": np.where(rng.random(n) < 0.9, np.array(["north", "south", "east"])[segment], "west"),
        "channel": rng.choice(["web", "app", "store", "phone"], size=n),
        "plan": rng.choice(["a", "b", "c", "d", "e", "f"], size=n, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05]),
        "active": rng.random(n) < 0.3 + 0.2 * segment,
        "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, size=n), unit="D"),
        "customer_id": [f"C{i:07d}" for i in rng.permutation(n)],
        "source": "benchmark", "sparse": sparse, "noise_a": rng.normal(size=n), "noise_b": rng.random(size=n),
    }
    return pd.DataFrame(table)


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc's parent ids."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(parents.get(current, []))
    return found


def _rss(pid: int) -> int:
    """A process's resident set in bytes (0 where it has ended)."""
    return memory_status(pid).get("VmRSS", 0) * 1024


def measure(command: list[str], env: dict[str, str], log: Path) -> dict:
    """Run `command` as a child process (its output to `log`): its wall seconds, exit code, largest single-process peak
    RSS (the child's getrusage from wait4, which covers the processes it waited for) and the peak of its process
    tree's summed RSS (polled)."""
    began = time.perf_counter()
    with open(log, "w") as output:
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        tree_peak = 0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                child.returncode = os.waitstatus_to_exitcode(status)
                break
            tree_peak = max(tree_peak, sum(_rss(p) for p in _descendants(child.pid)))
            time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - began
    result = {"seconds": seconds, "returncode": child.returncode, "peak_rss_largest_process_mib": usage.ru_maxrss / 1024,
              "peak_rss_process_tree_mib": tree_peak / 2**20}
    if child.returncode:
        result["output_tail"] = log.read_text(errors="replace")[-2000:]
    return result


def rows_in(folder: Path) -> int:
    """The rows of the Parquet files in `folder`, from their footers."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in folder.glob("*.parquet"))


def spark_child(model: str, out: str, rows: int, partitions: int, seed: int, cores: int) -> None:
    """Write tabdiffusion.spark.sample's rows to Parquet in a local Spark session with `cores` cores (a child run)."""
    from pyspark.sql import SparkSession

    from tabdiffusion import spark as td_spark

    session = (SparkSession.builder.master(f"local[{cores}]").appName("tabdiffusion-scale")
               .config("spark.ui.enabled", "false").config("spark.driver.memory", "2g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        td_spark.sample(session, model, rows, partitions, seed=seed).write.mode("overwrite").parquet(out)
    finally:
        session.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_sampling", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rows-per-file", type=int, default=None,
                        help="default: 1,000,000, or rows / 8 where that is smaller, so that two workers share files")
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=500, help="training steps of the small model")
    parser.add_argument("--preset", default="default",
                        help="the model's preset: 'flow' samples in one step, so that ten million rows take minutes, "
                        "not hours, on two cores (the partitioning, memory and writing measured are the same)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", default="1,2", help="comma-separated --workers values to measure")
    parser.add_argument("--no-spark", action="store_true", help="skip tabdiffusion.spark.sample")
    parser.add_argument("--scratch", default=None, help="folder for the model and outputs (default: a temporary one)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--spark-child", nargs=6, metavar=("MODEL", "OUT", "ROWS", "PARTITIONS", "SEED", "CORES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.spark_child:
        model, out, rows, partitions, seed, cores = args.spark_child
        spark_child(model, out, int(rows), int(partitions), int(seed), int(cores))
        return
    import tabdiffusion as td

    command = "python -m benchmarks.scale_sampling " + " ".join(argv if argv is not None else sys.argv[1:])
    rows_per_file = args.rows_per_file or min(1_000_000, -(-args.rows // 8))
    files = -(-args.rows // rows_per_file)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="scale-sampling-"))
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    began = time.perf_counter()
    synth = td.Synthesizer(preset=args.preset, seed=args.seed, steps=args.steps, verbose=False).fit(
        make_table(args.train_rows, args.seed))
    model = synth.save(scratch / "model.tdm")
    fit_seconds = time.perf_counter() - began
    print(f"fitted {args.steps} steps on {args.train_rows} rows in {fit_seconds:.1f}s")
    runs = {}

    def run(name: str, command_line: list[str], folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        result = measure(command_line, env, scratch / f"{name}.log")
        if result["returncode"] == 0:
            result["rows_per_second"] = args.rows / result["seconds"]
            result["rows_written"] = rows_in(folder)
        runs[name] = result
        print(f"{name}: {result.get('rows_per_second') or 0:,.0f} rows/s, peak RSS "
              f"{result['peak_rss_process_tree_mib']:,.0f} MiB (process tree), exit code {result['returncode']}")

    for workers in [int(w) for w in args.workers.split(",")]:
        out = scratch / f"cli-workers{workers}"
        run(f"cli_workers_{workers}", [sys.executable, "-m", "tabdiffusion", "sample", str(model), "--rows",
                                       str(args.rows), "--out", f"{out}/", "--rows-per-file", str(rows_per_file),
                                       "--seed", str(args.seed), "--workers", str(workers), "-q"], out)
    if not args.no_spark:
        cores = os.cpu_count() or 1
        out = scratch / "spark"
        run(f"spark_local_{cores}", [sys.executable, "-m", "benchmarks.scale_sampling", "--spark-child", str(model),
                                     str(out), str(args.rows), str(files), str(args.seed), str(cores)], out)
    results = {"command": command, "machine": machine(), "fit_seconds": fit_seconds,
               "settings": {"rows": args.rows, "rows_per_file": rows_per_file, "files": files, "seed": args.seed,
                            "train_rows": args.train_rows, "steps": args.steps, "preset": args.preset, "columns": 20},
               "runs": runs}
    target = Path(args.out) / f"scale-sampling-{args.rows}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    if args.scratch is None:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
