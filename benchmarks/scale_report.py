"""The scale section of docs/benchmarks.md, from benchmarks/results/scale/*.json (scale_fit, scale_sampling, scale_ddp).

Targets: a streamed fit of 10,000,000 rows x 20 columns under 4 GiB peak RSS, sampling 10,000,000 rows to Parquet under
1 GiB, and encode, step and sample times that grow linearly or better with the rows.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "scale"
FIT_TARGET_MIB = 4 * 1024
SAMPLE_TARGET_MIB = 1024
SCRATCH_OPTIONS = ("--data-dir", "--scratch")


def _load(pattern: str) -> list[dict]:
    """The results files matching `pattern`, in file-name order."""
    return [json.loads(path.read_text()) for path in sorted(RESULTS.glob(pattern))]


def _command(results: dict) -> str:
    """The run's command without its scratch-folder options (--data-dir, --scratch), which name a local temporary
    folder and change no number."""
    words, kept = shlex.split(results["command"]), []
    for word in words:
        if kept and kept[-1] in SCRATCH_OPTIONS:
            kept.pop()
            continue
        kept.append(word)
    return shlex.join(kept)


def _machine(results: dict) -> str:
    machine = results.get("machine", {})
    return f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('memory_gib', '?')} GiB"


def _fit_lines(runs: list[dict]) -> list[str]:
    """One row per table size: the passes' seconds, seconds per step, peak memory, and the per-row growth."""
    runs = sorted(runs, key=lambda r: r["settings"]["rows"])
    lines = ["### Fit on a table larger than memory (streamed)", "",
             "A generated 20-column mixed table written as Parquet, fitted in a child process with `streaming=True` "
             "for a fixed number of steps; pass one reads exact statistics and a sample, pass two writes every row's "
             "codes to memory-mapped files; peak memory is the child's VmHWM (all resident pages, file-backed ones "
             "included) and, beside it, the polled anonymous (heap) part.", "",
             "| rows | Parquet MiB | pass one s | pass two s | s per step | peak RSS MiB (anonymous) | under 4 GiB | "
             "pass one + two, µs per row |", "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        fit, peak, rows = run["fit"], run["peak_memory_mib"], run["settings"]["rows"]
        per_row = (fit["pass_one_seconds"] + fit["pass_two_seconds"]) / rows * 1e6
        lines.append(f"| {rows:,} | {run['table']['parquet_bytes'] / 2**20:,.0f} | {fit['pass_one_seconds']:.1f} | "
                     f"{fit['pass_two_seconds']:.1f} | {fit['seconds_per_step']:.3f} | {peak['child_vmhwm']:,.0f} "
                     f"({peak['polled_anonymous']:,.0f}) | {'yes' if peak['child_vmhwm'] < FIT_TARGET_MIB else '**no**'} | "
                     f"{per_row:.2f} |")
    lines += ["", "Commands: " + "; ".join(f"`{_command(run)}`" for run in runs) + f". Machine: {_machine(runs[-1])}.",
              ""]
    return lines


def _sampling_lines(results: dict) -> list[str]:
    """One row per sampler: rows/s and peak memory of the largest process and of the whole process tree."""
    settings = results["settings"]
    lines = ["### Partitioned sampling and Spark", "",
             f"{settings['rows']:,} rows written as {settings['files']} Parquet files by a model of preset "
             f"`{settings.get('preset', 'default')}` ({settings['steps']} steps on {settings['train_rows']:,} rows of the "
             "same 20-column table); each run is a child process timed from start to exit (start-up, model load and "
             "writing included).", "",
             "| run | rows/s | peak RSS MiB, largest process | peak RSS MiB, process tree | largest under 1 GiB |",
             "|---|---|---|---|---|"]
    for name, run in results["runs"].items():
        if run.get("returncode"):
            lines.append(f"| {name} | failed (exit {run['returncode']}) | | | |")
            continue
        largest = run["peak_rss_largest_process_mib"]
        lines.append(f"| {name} | {run['rows_per_second']:,.0f} | {largest:,.0f} | {run['peak_rss_process_tree_mib']:,.0f} | "
                     f"{'yes' if largest < SAMPLE_TARGET_MIB else '**no**'} |")
    lines += ["", f"Command: `{_command(results)}`. Machine: {_machine(results)}.", ""]
    return lines


def _sampling_growth(samplings: list[dict]) -> list[str]:
    """One process's partitioned sampling (--workers 1) as the rows grow (`samplings` ordered by rows, as render
    orders them): rows/s and peak memory."""
    lines = ["### Partitioned sampling as the rows grow (one process)", "",
             "| rows | files | rows/s | peak RSS MiB, largest process |", "|---|---|---|---|"]
    for results in samplings:
        run = results["runs"].get("cli_workers_1")
        if run and not run.get("returncode"):
            lines.append(f"| {results['settings']['rows']:,} | {results['settings']['files']} | "
                         f"{run['rows_per_second']:,.0f} | {run['peak_rss_largest_process_mib']:,.0f} |")
    lines += ["", "Commands: " + "; ".join(f"`{_command(r)}`" for r in samplings) + ".", ""]
    return lines


def _ddp_lines(results: dict) -> list[str]:
    """Training throughput of N gloo processes against one, at the same global batch."""
    lines = ["### Distributed training on the CPU (gloo)", "",
             "The same fit (global batch split across the processes) under torchrun with 1 and 2 processes on this "
             "machine's cores; steps after the warm-up are timed.", "",
             "| processes | threads each | steps/s | rows/s | speedup | final loss |", "|---|---|---|---|---|---|"]
    for run in results["runs"]:
        lines.append(f"| {run['world_size']} | {run.get('threads_per_process') or '–'} | {run['steps_per_second']:.2f} | "
                     f"{run['rows_per_second']:,.0f} | {run['speedup']:.2f} | {run.get('final_loss', '–')} |")
    lines += ["", f"Command: `{_command(results)}`. Machine: {_machine(results)}.", ""]
    return lines


def render() -> list[str]:
    """The scale section, or nothing where no scale benchmark has been run."""
    fits, ddp = _load("scale_fit-*.json"), _load("ddp.json")
    samplings = sorted(_load("scale-sampling-*.json"), key=lambda r: r["settings"]["rows"])
    if not (fits or samplings or ddp):
        return []
    lines = ["## Scale", "", "Generated from benchmarks/results/scale/ (`python -m benchmarks.scale_fit`, "
             "`python -m benchmarks.scale_sampling`, `python -m benchmarks.scale_ddp`; the commands below leave out the "
             "scratch-folder options --data-dir and --scratch).", ""]
    if fits:
        lines += _fit_lines(fits)
    if len(samplings) > 1:
        lines += _sampling_growth(samplings)
    for results in samplings[-1:]:  # the largest run, with every sampler
        lines += _sampling_lines(results)
    for results in ddp:
        lines += _ddp_lines(results)
    return lines
