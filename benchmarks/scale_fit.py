"""Peak memory and time of a streamed fit as the table grows: python -m benchmarks.scale_fit --rows 1000000.

Generates a mixed 20-column table with a known structure as Parquet, written batch by batch (never whole in memory):
a latent normal z and a group of 8 levels drive ten rounded numeric columns (two with missing values), three count
columns, four categorical columns (the group, a noisy sign of z, 50 Zipf-distributed levels, and a level that only
six rows hold, which a streamed fit keeps from its exact counts), a boolean, a date and a binary label. It then fits
`Synthesizer(seed=0, steps=--steps)` on the file with streaming=True in a child process and records the child's peak
resident memory (VmHWM, and the peaks of its anonymous and file-backed parts polled from /proc), the times of pass
one (statistics and sample), pass two (encoding to memory-mapped files) and seconds per training step, with the
command and the machine, in benchmarks/results/scale/scale_fit-<rows>.json. Peak memory should follow
--max-memory-rows, not --rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "scale"
WRITE_ROWS = 100_000  # rows generated and written at a time
GROUPS = 8
ZIPF_LEVELS = 50
RARE_ROWS = (11, 22, 33, 44, 55, 66)  # the rows that hold cat_rare's rare level (kept under value protection: >= 5)


def generate_batch(start: int, n: int, seed: int) -> "pyarrow.Table":  # noqa: F821
    """Rows start .. start + n - 1 of the benchmark table (each batch seeded by its position, so any size repeats)."""
    import pyarrow as pa

    rng = np.random.default_rng([seed, start])
    z = rng.normal(size=n)
    group = rng.choice(GROUPS, n, p=np.arange(GROUPS, 0, -1) / np.arange(GROUPS, 0, -1).sum())
    effect = np.linspace(-1.5, 1.5, GROUPS)[group]
    columns = {}
    for k in range(10):
        values = np.round((0.2 + 0.1 * k) * z + (0.5 if k % 2 else -0.3) * effect + rng.normal(scale=0.5, size=n), 2)
        if k in (3, 7):  # missing values, more often in one group
            values = np.where(rng.random(n) < np.where(group == 0, 0.2, 0.03), np.nan, values)
        columns[f"num{k}"] = pa.array(values, pa.float64())
    for k in range(3):
        columns[f"count{k}"] = pa.array(rng.poisson(np.exp(0.5 * z + 0.3 * k)), pa.int64())
    columns["cat_group"] = pa.array(np.array([f"g{g}" for g in range(GROUPS)])[group])
    sign = np.where(z + rng.normal(scale=0.3, size=n) > 0.3, "high", np.where(z < -0.3, "low", "mid"))
    columns["cat_sign"] = pa.array(sign)
    zipf = np.minimum(rng.zipf(1.6, n), ZIPF_LEVELS) - 1
    columns["cat_zipf"] = pa.array(np.char.add("z", zipf.astype(str)))
    rare = np.full(n, "common", dtype=object)
    rare[rng.random(n) < 0.4] = "other"
    for row in RARE_ROWS:
        if start <= row < start + n:
            rare[row - start] = "rare"
    columns["cat_rare"] = pa.array(rare.astype(str))
    columns["flag"] = pa.array(z + rng.normal(scale=0.5, size=n) > 0.5)
    days = np.clip(np.round(365 + 120 * z), 0, 3000).astype("int64")
    columns["date"] = pa.array((np.datetime64("2020-01-01") + days.astype("timedelta64[D]")).astype("datetime64[D]"))
    logit = 1.2 * z + effect
    columns["label"] = pa.array(np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no"))
    return pa.table(columns)


def write_table(path: Path, rows: int, seed: int) -> float:
    """Write the benchmark table of `rows` rows to `path` in WRITE_ROWS batches; the seconds it took."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    writer = None
    try:
        for start in range(0, rows, WRITE_ROWS):
            part = generate_batch(start, min(WRITE_ROWS, rows - start), seed)
            writer = writer or pq.ParquetWriter(path, part.schema)
            writer.write_table(part)
    finally:
        if writer is not None:
            writer.close()
    return time.perf_counter() - started


def memory_status(pid: int | str) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status that describe memory (VmHWM, VmRSS, RssAnon, RssFile)."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


def child(args: argparse.Namespace) -> None:
    """The fit itself, in this (child) process; writes its timings and its own peak memory to --report."""
    import tabdiffusion as td

    started = time.perf_counter()
    syn = td.Synthesizer(seed=0, steps=args.steps, verbose=False, threads=args.threads, device=args.device)
    syn.fit(args.data, target="label", streaming=True, max_memory_rows=args.max_memory_rows, work_dir=args.work_dir)
    fitted = time.perf_counter() - started
    rows = syn.sample(1000, seed=0)
    report = {
        "fit_seconds": fitted, **syn.streamed_,
        "training_steps": syn.history_.steps, "training_seconds": syn.history_.seconds,
        "seconds_per_step": syn.history_.seconds / max(syn.history_.steps, 1),
        "batch_size": syn.config_.batch_size,
        "rare_level_kept": any("rare" in c.levels_ for c in syn.encoder_.categorical_ if c.name == "cat_rare"),
        "sampled_columns": list(rows.columns),
        "memory_kib": memory_status("self"),
    }
    Path(args.report).write_text(json.dumps(report))


def run(args: argparse.Namespace) -> dict:
    """Generate the table, fit it in a child process while polling its memory, and return the results."""
    from .tabddpm import machine

    folder = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="scale-fit-"))
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"scale-{args.rows}.parquet"
    generated = None
    if not data.exists():
        generated = write_table(data, args.rows, args.seed)
    report = folder / f"report-{os.getpid()}.json"
    command = [sys.executable, "-m", "benchmarks.scale_fit", "--child", "--data", str(data), "--report", str(report),
               "--steps", str(args.steps), "--max-memory-rows", str(args.max_memory_rows), "--device", args.device]
    command += ["--threads", str(args.threads)] if args.threads else []
    command += ["--work-dir", args.work_dir] if args.work_dir else []
    peaks = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
    process = subprocess.Popen(command, cwd=ROOT.parent)

    def poll() -> None:
        while process.poll() is None:
            for key, value in memory_status(process.pid).items():
                if key in peaks:
                    peaks[key] = max(peaks[key], value)
            time.sleep(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    code = process.wait()
    watcher.join()
    if code != 0:
        raise SystemExit(f"the fit failed (exit code {code}); see its output above")
    fit = json.loads(report.read_text())
    report.unlink()
    result = {
        "command": "python -m benchmarks.scale_fit " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"rows": args.rows, "steps": args.steps, "max_memory_rows": args.max_memory_rows,
                     "threads": args.threads, "device": args.device, "seed": args.seed},
        "table": {"rows": args.rows, "columns": 20, "parquet_bytes": data.stat().st_size,
                  "generate_seconds": generated},
        "fit": fit,
        "peak_memory_mib": {
            "child_ru_maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "child_vmhwm": fit["memory_kib"].get("VmHWM", 0) / 1024,
            "polled_rss": peaks["VmRSS"] / 1024, "polled_anonymous": peaks["RssAnon"] / 1024,
            "polled_file_backed": peaks["RssFile"] / 1024,
        },
    }
    if not args.data_dir:
        data.unlink()
        folder.rmdir()
    return result


def main(argv: list[str] | None = None) -> None:
    """Parse the command line; run the benchmark (or, with --child, the fit it measures)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="table rows: 100000, 1000000 or 10000000")
    parser.add_argument("--steps", type=int, default=200, help="training steps of the fixed-step fit")
    parser.add_argument("--max-memory-rows", type=int, default=200_000, help="the streamed fit's sample size")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the fit (default: all cores)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated table")
    parser.add_argument("--data-dir", default=None,
                        help="keep the generated Parquet here (reused by later runs); default: a temporary folder")
    parser.add_argument("--work-dir", default=None, help="where the fit writes its memory-mapped codes")
    parser.add_argument("--out", default=None, help="results file (default: results/scale/scale_fit-<rows>.json)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    result = run(args)
    out = Path(args.out) if args.out else RESULTS / f"scale_fit-{args.rows}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"peak_memory_mib": result["peak_memory_mib"],
                      **{k: result["fit"][k] for k in ("pass_one_seconds", "pass_two_seconds", "seconds_per_step")}},
                     indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
