"""A partitioned Parquet dataset of synthetic rows: files of a fixed row count, each seeded from the run's seed and its
index, written by parallel processes and resumable after an interruption.

Partition i holds rows i * rows_per_file up to (i + 1) * rows_per_file (the last one may be shorter) and draws them
with the numpy Generator of SeedSequence(seed, spawn_key=(i,)), the i-th child of SeedSequence(seed).spawn. So any one
partition can be regenerated alone (sample_partition), the same seed gives the same files whatever the number of
workers, and tabdiffusion.spark generates the same rows inside Spark executors. Generated integer keys continue from
the partition's first row, so they are unique across the dataset.

Each file is written chunk by chunk (tables.write_chunks: pyarrow's ParquetWriter) to a hidden temporary name in the
folder and renamed when complete, so a file named part-NNNNN.parquet is always whole, and memory holds a chunk, not a
file. A manifest (MANIFEST, a JSON file whose leading underscore pyarrow's dataset reader skips, as it skips the hidden
temporary files) records what the run is: the model file's SHA-256, the rows, rows per file, chunk rows, the seed and
the conditions. A run into a folder that holds anything else is refused; `resume=True` completes the run the manifest
describes and refuses one that does not match it.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import queue
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import check_positive_int
from .errors import ParameterError
from .hardware import thread_limit
from .synthesizer import SAMPLE_CHUNK_ROWS, Synthesizer
from .tables import atomic_write, join_chunks, write_chunks

DEFAULT_ROWS_PER_FILE = 1_000_000
MANIFEST = "_tabdiffusion.json"
FORMAT = "tabdiffusion partitioned sample"
# How often the parent process of a parallel run collects its workers' progress, in seconds.
PROGRESS_INTERVAL = 0.25


def partition_name(index: int) -> str:
    """The file name of partition `index`: part-00000.parquet, part-00001.parquet, ... (sorted = in row order)."""
    return f"part-{index:05d}.parquet"


def partition_count(rows: int, rows_per_file: int) -> int:
    """How many partitions hold `rows` rows at `rows_per_file` a file (the last one may be shorter)."""
    return -(-rows // rows_per_file)


def partition_rows(index: int, rows: int, rows_per_file: int) -> tuple[int, int]:
    """The first row of partition `index` in the dataset and its row count."""
    first = index * rows_per_file
    if not 0 <= first < rows:
        raise ParameterError(f"Partition {index} does not exist: {rows} rows at {rows_per_file} a file make "
                             f"{partition_count(rows, rows_per_file)} partitions, numbered from 0.")
    return first, min(rows_per_file, rows - first)


def partition_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of partition `index`: SeedSequence(seed).spawn(index + 1)[index], made directly, so that every
    partition draws an independent stream that depends on the run's seed and its index only."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def partition_chunks(synth: Synthesizer, index: int, rows: int, rows_per_file: int, seed: int,
                     chunk_rows: int | None = None,
                     conditions: Mapping[str, object] | None = None) -> Iterator[pd.DataFrame]:
    """The rows of partition `index` of a dataset of `rows` rows, as tables of at most `chunk_rows` rows (None:
    SAMPLE_CHUNK_ROWS), generated as they are asked for; `conditions` as for Synthesizer.sample."""
    first, count = partition_rows(index, rows, rows_per_file)
    return synth.sample_chunks(count, seed=partition_rng(seed, index), chunk_rows=chunk_rows, conditions=conditions,
                               first_row=first)


def sample_partition(synth: Synthesizer, index: int, rows: int, rows_per_file: int, seed: int,
                     chunk_rows: int | None = None, conditions: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Partition `index` regenerated alone, as one table: the rows of its file in a run with the same arguments."""
    return join_chunks(partition_chunks(synth, index, rows, rows_per_file, seed, chunk_rows, conditions))


def model_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a model file, which tells whether a resumed run samples the same model."""
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except FileNotFoundError:
        raise ParameterError(f"No model file {str(path)!r}. Pass the path of a file written by `tabdiffusion fit`.") from None


def _json_conditions(conditions: Mapping[str, object] | None) -> dict | None:
    """`conditions` as the manifest stores them (tuples as lists, other values as text), so that two runs compare."""
    return None if not conditions else json.loads(json.dumps(dict(conditions), default=str))


@dataclass(frozen=True)
class Plan:
    """What a partitioned run generates: the manifest's content."""

    model_sha256: str
    rows: int
    rows_per_file: int
    chunk_rows: int
    seed: int
    conditions: dict | None = None  # in their JSON form (_json_conditions): compared, never sampled from

    @property
    def files(self) -> int:
        """The number of partition files."""
        return partition_count(self.rows, self.rows_per_file)

    def to_json(self) -> str:
        """The manifest's text."""
        return json.dumps({"format": FORMAT, "version": 1, **asdict(self), "files": self.files}, indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> "Plan":
        """The plan a manifest records; a ParameterError naming the file where it is no manifest of this format."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError("not a manifest")
            return cls(data["model_sha256"], int(data["rows"]), int(data["rows_per_file"]), int(data["chunk_rows"]),
                       int(data["seed"]), data.get("conditions"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise ParameterError(f"{str(path)!r} is not a manifest of a tabdiffusion partitioned sample. Write to an "
                                 "empty folder.") from None


@dataclass(frozen=True)
class PartitionedRun:
    """What write_partitioned did: the plan it followed, the partitions it wrote and those it kept from before."""

    directory: Path
    plan: Plan
    written: tuple[int, ...]
    kept: tuple[int, ...]


def _is_temporary(name: str) -> bool:
    """Whether a file name is one of a partition file's temporary names (tables.atomic_write's)."""
    return name.startswith(".part-") and name.endswith(".tmp")


def _file_rows(path: Path) -> int | None:
    """The row count a Parquet file's footer records, None where it cannot be read."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # noqa: BLE001 - any unreadable file (pyarrow's errors, OSError) counts as incomplete
        return None


def _resolve(directory: Path, given: dict, resume: bool) -> tuple[Plan, bool]:
    """The run's plan and whether the folder holds it already: from the arguments for a fresh run (a fresh seed where
    none is given), from the manifest for `resume`, refused where the manifest disagrees with what was given."""
    if directory.exists() and not directory.is_dir():
        raise ParameterError(f"Cannot write a partitioned dataset to {str(directory)!r}: it is a file. Pass a folder.")
    manifest = directory / MANIFEST
    entries = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    if not manifest.exists():
        if entries:
            raise ParameterError(f"Folder {str(directory)!r} is not empty and holds no partitioned sample to resume "
                                 f"(e.g. {entries[0]!r}). Write to an empty or new folder.")
        seed = given["seed"] if given["seed"] is not None else int(np.random.default_rng().integers(2**63))
        return Plan(given["model_sha256"], given["rows"], given["rows_per_file"] or DEFAULT_ROWS_PER_FILE,
                    given["chunk_rows"] or SAMPLE_CHUNK_ROWS, seed, given["conditions"]), False
    if not resume:
        raise ParameterError(f"Folder {str(directory)!r} already holds a partitioned sample. Complete it with --resume "
                             "(resume=True), or write to an empty or new folder.")
    plan = Plan.read(manifest)
    wanted = {"model_sha256": "model file (SHA-256)", "rows": "rows", "rows_per_file": "rows per file",
              "chunk_rows": "chunk rows", "seed": "seed", "conditions": "conditions"}
    for field, label in wanted.items():
        value, recorded = given[field], getattr(plan, field)
        optional = field in ("rows_per_file", "chunk_rows", "seed")  # not given: the manifest's
        if (value is not None or not optional) and value != recorded:
            shown = (lambda v: v[:12]) if field == "model_sha256" else repr
            raise ParameterError(f"Cannot resume {str(directory)!r}: it holds a run with other {label} "
                                 f"({shown(recorded)} there, {shown(value)} now). Resume with the run's arguments, or "
                                 "write to an empty or new folder.")
    return plan, True


def _existing(directory: Path, plan: Plan) -> tuple[int, ...]:
    """The complete partition files of a resumed run (right name, right row count in the footer); deletes its leftover
    temporary files and any partition file that is not complete; refuses a folder that holds other files."""
    expected = {partition_name(i): i for i in range(plan.files)}
    kept = []
    for path in sorted(directory.iterdir()):
        if path.name == MANIFEST:
            continue
        if _is_temporary(path.name) and path.is_file():
            path.unlink()
        elif path.name in expected and path.is_file():
            index = expected[path.name]
            if _file_rows(path) == partition_rows(index, plan.rows, plan.rows_per_file)[1]:
                kept.append(index)
            else:
                path.unlink()
        else:
            raise ParameterError(f"Cannot resume {str(directory)!r}: {path.name!r} is no file of its run "
                                 f"({plan.files} files part-00000.parquet ...). Move it away, then resume.")
    return tuple(kept)


def _write_partition(synth: Synthesizer, directory: Path, plan: Plan, conditions: Mapping[str, object] | None,
                     index: int, report: Callable[[int], None]) -> None:
    """Write partition `index` chunk by chunk to a temporary file in `directory`, renamed when complete; `conditions`
    are the ones the plan records in their JSON form."""
    def chunks() -> Iterator[pd.DataFrame]:
        for chunk in partition_chunks(synth, index, plan.rows, plan.rows_per_file, plan.seed, plan.chunk_rows,
                                      conditions):
            yield chunk
            report(len(chunk))

    write_chunks(chunks(), directory / partition_name(index))


# A worker process's own state in a parallel run: the model it loaded once, its progress queue (set by _start_worker,
# in that process only; the parent never touches it).
_worker: dict[str, object] = {}


def _start_worker(model: str, device: str, threads: int, progress: multiprocessing.Queue) -> None:
    """Load the model once in a new worker process, on `threads` CPU threads."""
    synth = Synthesizer.load(model, device=device)
    synth.threads = threads
    _worker.update(synth=synth, progress=progress)


def _worker_partition(directory: str, plan: Plan, conditions: Mapping[str, object] | None, index: int) -> int:
    """Write one partition in a worker process (see _start_worker); returns its index."""
    progress = _worker["progress"]
    _write_partition(_worker["synth"], Path(directory), plan, conditions, index,
                     progress.put)  # type: ignore[union-attr,arg-type]
    return index


def _cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def write_partitioned(model: str | os.PathLike, directory: str | os.PathLike, rows: int, *,
                      rows_per_file: int | None = None, seed: int | None = None, chunk_rows: int | None = None,
                      conditions: Mapping[str, object] | None = None, workers: int = 1, threads: int | None = None,
                      device: str = "auto", resume: bool = False, progress: bool = False) -> PartitionedRun:
    """Write `rows` synthetic rows of the model file `model` to `directory` as a partitioned Parquet dataset
    (part-00000.parquet, ...; read it back with pandas.read_parquet(directory)) and its manifest.

    `rows_per_file` (default DEFAULT_ROWS_PER_FILE), `chunk_rows` (rows in memory at a time, default
    SAMPLE_CHUNK_ROWS) and `seed` (default: a fresh one, recorded in the manifest) fix the rows; `conditions` as for
    Synthesizer.sample. `workers` processes ('spawn') generate partitions in parallel, each loading the model once and
    using max(1, threads // workers) CPU threads (threads: default all cores). `resume=True` completes an interrupted
    run: it keeps the complete files, deletes temporary leftovers and writes the missing partitions; arguments left
    None take the manifest's values. `progress` shows a bar of rows written.
    """
    from tqdm.auto import tqdm

    rows = check_positive_int("rows", rows)
    workers = check_positive_int("workers", workers)
    for name, value in (("rows_per_file", rows_per_file), ("chunk_rows", chunk_rows), ("threads", threads)):
        if value is not None:
            check_positive_int(name, value)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ParameterError(f"seed must be a non-negative integer or None, got {seed!r}.")
    directory = Path(directory)
    given = {"model_sha256": model_sha256(model), "rows": rows, "rows_per_file": rows_per_file,
             "chunk_rows": chunk_rows, "seed": None if seed is None else int(seed),
             "conditions": _json_conditions(conditions)}
    plan, resumed = _resolve(directory, given, resume)
    synth = Synthesizer.load(model, device=device)
    if conditions:  # checked here, before any worker starts, rather than in each of them
        synth.sample_chunks(1, seed=0, conditions=conditions)
    if resumed:
        kept = _existing(directory, plan)
    else:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / MANIFEST, lambda temp: Path(temp).write_text(plan.to_json(), encoding="utf-8"))
        kept = ()
    missing = sorted(set(range(plan.files)) - set(kept))
    done = sum(partition_rows(i, plan.rows, plan.rows_per_file)[1] for i in kept)
    with tqdm(total=plan.rows, initial=done, unit="rows", unit_scale=True, desc="sample", disable=not progress,
              dynamic_ncols=True, mininterval=0.5) as bar:
        if workers == 1 or len(missing) <= 1:
            if threads is not None:  # rather than the threads the model file recorded at fit
                synth.threads = threads
            with thread_limit(threads):
                for index in missing:
                    _write_partition(synth, directory, plan, conditions, index, bar.update)
        else:
            del synth  # each worker loads its own
            _write_in_parallel(str(model), device, directory, plan, conditions, missing, min(workers, len(missing)),
                               max(1, (threads or _cores()) // workers), bar.update)
    return PartitionedRun(directory, plan, tuple(missing), kept)


def _write_in_parallel(model: str, device: str, directory: Path, plan: Plan, conditions: Mapping[str, object] | None,
                       indices: list[int], workers: int, threads: int, report: Callable[[int], None]) -> None:
    """Write the partitions `indices` in `workers` spawned processes; the first failure cancels the partitions not
    started and is raised here (files already complete stay, for a resume)."""
    context = multiprocessing.get_context("spawn")
    progress = context.Queue()

    def drain() -> None:
        while True:
            try:
                report(progress.get_nowait())
            except queue.Empty:
                return

    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                initargs=(model, device, threads, progress)) as pool:
        pending = {pool.submit(_worker_partition, str(directory), plan, conditions, index) for index in indices}
        try:
            while pending:
                finished, pending = concurrent.futures.wait(pending, timeout=PROGRESS_INTERVAL,
                                                            return_when=concurrent.futures.FIRST_EXCEPTION)
                drain()
                for future in finished:
                    future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    drain()
