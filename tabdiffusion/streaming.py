"""Fitting on tables larger than memory: Parquet files, folders of Parquet files and CSV files read in record batches.

A path larger than STREAMING_BYTES on disk (or any path, with `fit(path, streaming=True)`) is never read whole:
- pass one reads every batch once for the table's exact statistics (transforms/stats.py: row count, missing counts,
  every categorical value's count, numeric ranges, the extremes the protected range reads, decimals) and keeps a
  seeded reservoir sample of at most `max_memory_rows` rows (the one knob that bounds peak memory), from which the
  schema is inferred and the quantile transform fitted (TableEncoder.fit(sample, stats));
- pass two encodes every batch and writes the model arrays once to memory-mapped .npy files in a temporary work
  directory (`work_dir`, default the system's temporary folder), removed when the fit ends, also after an error;
- training gathers each shuffled mini-batch from those files (memmap_loss), so training.train is the same loop.
What else the fit reads of the rows (the memorisation checks, which value pairs occur, the calibration's targets)
reads the sample's rows and codes. Derived and computed columns (exact identities) are looked for only where the
sample holds the whole table. A sample as large as the table gives the encoder an in-memory fit gives.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from numpy.lib.format import open_memmap

from .errors import ParameterError, SchemaError
from .schema import ID_MIN_ROWS, LABEL_KINDS, TableSchema, _infer_kind, infer_schema
from .tables import TABLE_SUFFIXES, check_table
from .training import BatchLoss
from .transforms.stats import TableStats, dtype_kind
from .transforms.table import Encoded, TableEncoder

STREAMING_BYTES = 512 * 2**20  # fit(path) streams a file or folder larger than this on disk (streaming=None)
MAX_MEMORY_ROWS = 200_000  # default size of the reservoir sample, and the cap on distinct values counted per column
BATCH_ROWS = 65_536  # rows per record batch read
CSV_BLOCK_BYTES = 32 * 2**20  # a CSV's column types are inferred from its first block of this many bytes
RELEASE_STEPS = 1  # training drops the memory-mapped pages it read from its resident memory every this many batches
_CODE_HEAD_ROWS = 1000  # CSV rows read as text to find digit codes with leading zeros


def table_bytes(path: Path) -> int:
    """A file's size, or the total size of the files in a folder (recursively)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def wants_streaming(data: object, streaming: bool | None) -> bool:
    """Whether fit reads `data` in a stream: always with streaming=True, never for a DataFrame or with False, and
    otherwise for a folder or a file larger than STREAMING_BYTES."""
    if streaming not in (None, True, False):
        raise ParameterError(f"streaming must be True, False or None (by size), got {streaming!r}.")
    if isinstance(data, pd.DataFrame) or streaming is False or not isinstance(data, (str, os.PathLike)):
        return False
    path = Path(data)
    return bool(streaming) or (path.exists() and table_bytes(path) > STREAMING_BYTES)


def _check_rows(max_memory_rows: int | None) -> int:
    """The reservoir's size: MAX_MEMORY_ROWS for None, else a positive integer (ParameterError otherwise)."""
    if max_memory_rows is None:
        return MAX_MEMORY_ROWS
    if isinstance(max_memory_rows, bool) or not isinstance(max_memory_rows, (int, np.integer)) or max_memory_rows < 2:
        raise ParameterError(f"max_memory_rows must be an integer of at least 2, got {max_memory_rows!r}.")
    return int(max_memory_rows)


def _leading_zero_codes(path: Path) -> list[str]:
    """CSV columns whose first rows are digit codes of one width with a leading zero ("01234"): read as text, as
    tables.read_table reads them, since as numbers they would lose their zeros."""
    head = pd.read_csv(path, dtype=str, nrows=_CODE_HEAD_ROWS)
    found = []
    for name in head.columns:
        values = head[name].dropna()
        if len(values) and values.str.fullmatch(r"\d+").all():
            widths = values.str.len()
            if widths.nunique() == 1 and widths.iloc[0] > 1 and values.str.startswith("0").any():
                found.append(str(name))
    return found


class TableSource:
    """A Parquet file, a folder of Parquet files (every .parquet or .pq file below it, in name order, but hidden ones
    and those under "_" or "." folders) or a CSV file, read as pandas record batches of BATCH_ROWS rows.

    Batches are converted as tables.read_table converts a whole table (Parquet dates as datetimes, CSV codes with
    leading zeros as text); `dtypes` then gives each column the dtype the whole table would have (an integer column
    with missing values in some batch is float, category dictionaries are united), as `conform` applies.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import pyarrow.dataset as ds

        self.path = Path(path)
        if not self.path.exists():
            raise ParameterError(f"No such file or folder: {str(self.path)!r}. Pass a CSV or Parquet file, or a folder "
                                 "of Parquet files.")
        suffix = self.path.suffix.lower()
        if self.path.is_file() and suffix not in TABLE_SUFFIXES:
            raise ParameterError(f"Cannot read {str(self.path)!r}: the file name must end in .csv or .parquet.")
        self.is_csv = self.path.is_file() and suffix == ".csv"
        self.dtypes: dict[str, object] = {}
        if not self.is_csv:
            files = [self.path] if self.path.is_file() else sorted(
                p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in (".parquet", ".pq")
                and not any(part.startswith((".", "_")) for part in p.relative_to(self.path).parts))
            if not files:
                raise ParameterError(f"The folder {str(self.path)!r} holds no .parquet files. Pass a folder of Parquet "
                                     "files, or a CSV or Parquet file.")
            try:
                self._dataset = ds.dataset([str(f) for f in files], format="parquet")
            except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
                raise self._error(error) from None
        else:
            self._text = _leading_zero_codes(self.path)

    def _error(self, error: Exception) -> ParameterError:
        """A one-line error for a file pyarrow cannot read."""
        kind = "CSV" if self.is_csv else "Parquet"
        return ParameterError(f"Cannot read {str(self.path)!r} as {kind} ({type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0][:300] if str(error).strip() else ''}). Check the "
                              "file, or read it with pandas and pass the DataFrame.")

    def _arrow_batches(self) -> Iterator:
        """pyarrow record batches of the whole table, in file order."""
        if self.is_csv:
            import pyarrow as pa
            import pyarrow.csv as csv

            reader = csv.open_csv(
                self.path, read_options=csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                convert_options=csv.ConvertOptions(strings_can_be_null=True,
                                                   column_types={name: pa.string() for name in self._text}))
            yield from reader
        else:
            # One row group at a time: the dataset's scanner reads several ahead, which holds more of a large table.
            for fragment in self._dataset.get_fragments():
                for group in fragment.split_by_row_group():
                    yield from group.to_batches(schema=self._dataset.schema, batch_size=BATCH_ROWS,
                                                batch_readahead=0, fragment_readahead=0)

    def batches(self) -> Iterator[pd.DataFrame]:
        """The table as DataFrames of at most BATCH_ROWS rows, converted as read_table converts a whole table."""
        import pyarrow as pa

        try:
            for batch in self._arrow_batches():
                for start in range(0, batch.num_rows, BATCH_ROWS):
                    part = batch.slice(start, BATCH_ROWS)
                    for i, f in enumerate(part.schema):  # datetime64 at midnight, in read_table's units
                        if pa.types.is_date(f.type) or (self.is_csv and pa.types.is_timestamp(f.type)):
                            unit = "us" if self.is_csv else "s"  # pandas' CSV parser; tables._dates_as_datetimes
                            part = part.set_column(i, f.name, part.column(i).cast(
                                pa.timestamp(unit, tz=getattr(f.type, "tz", None))))
                    frame = part.to_pandas()
                    if len(frame):
                        yield frame.reset_index(drop=True)
        except UnicodeDecodeError as error:
            raise ParameterError(f"Cannot read {str(self.path)!r}: it is not UTF-8 text ({error.reason}). Save it as "
                                 "UTF-8.") from None
        except (OSError, ValueError, pa.ArrowException) as error:
            raise self._error(error) from None

    def note_dtypes(self, batch: pd.DataFrame, seen: dict[str, dict[str, pd.Series]]) -> None:
        """Remember one row of each dtype a column takes in the batches (`seen`), from which `unite_dtypes` works out
        the whole table's dtype."""
        for name in batch.columns:
            kinds = seen.setdefault(name, {})
            dtype = str(batch[name].dtype)
            if dtype not in kinds or isinstance(batch[name].dtype, pd.CategoricalDtype):
                kinds[dtype + (repr(list(batch[name].cat.categories)) if dtype == "category" else "")] = batch[name].iloc[:1]

    def unite_dtypes(self, seen: dict[str, dict[str, pd.Series]]) -> None:
        """Each column's dtype in the whole table, as pandas puts its batches together (an integer column that has
        missing values somewhere is float); category columns get the union of their batches' categories."""
        for name, kinds in seen.items():
            parts = list(kinds.values())
            if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
                categories = list(dict.fromkeys(c for p in parts for c in p.cat.categories))
                self.dtypes[name] = pd.CategoricalDtype(categories, ordered=parts[0].dtype.ordered)
            else:
                self.dtypes[name] = pd.concat([p.astype(object) if isinstance(p.dtype, pd.CategoricalDtype) else p
                                               for p in parts], ignore_index=True).dtype

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with the whole table's dtypes (unite_dtypes)."""
        changed = {name: frame[name].astype(dtype) for name, dtype in self.dtypes.items()
                   if name in frame.columns and frame[name].dtype != dtype}
        return frame.assign(**changed) if changed else frame

    def empty(self) -> pd.DataFrame:
        """The table's columns without rows (none for a CSV file that has no rows)."""
        return pd.DataFrame() if self.is_csv else self._dataset.schema.empty_table().to_pandas()

    def read_all(self) -> pd.DataFrame:
        """The whole table in memory, as the streamed batches put together."""
        seen: dict[str, dict[str, pd.Series]] = {}
        parts = []
        for batch in self.batches():
            self.note_dtypes(batch, seen)
            parts.append(batch)
        if not parts:
            raise SchemaError(f"The table {str(self.path)!r} has no rows. Pass a table with at least one row.")
        self.unite_dtypes(seen)
        return pd.concat([self.conform(p) for p in parts], ignore_index=True)


class Reservoir:
    """A uniform sample of at most `size` rows of a stream of batches, seeded: each row gets a random key and the
    rows with the `size` smallest keys are kept, in the order they came (so a table of at most `size` rows is kept
    whole and in order)."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng = size, rng
        self.rows, self.keys, self.parts = np.empty(0, np.int64), np.empty(0), []
        self.seen = 0

    def add(self, batch: pd.DataFrame) -> None:
        """Offer one batch's rows to the sample."""
        keys = self.rng.random(len(batch))
        rows = np.arange(self.seen, self.seen + len(batch))
        self.seen += len(batch)
        if len(self.keys) >= self.size:  # only rows that beat the largest kept key can enter
            entering = keys < self.keys.max()
            keys, rows, batch = keys[entering], rows[entering], batch[entering]
        if not len(keys):
            return
        self.parts.append(batch.reset_index(drop=True))
        self.keys, self.rows = np.concatenate([self.keys, keys]), np.concatenate([self.rows, rows])
        if len(self.keys) > 2 * self.size:  # compact now and then: memory stays within twice the sample
            self._compact()

    def _compact(self) -> None:
        """Keep the `size` rows with the smallest keys, as one table."""
        frame = pd.concat(self.parts, ignore_index=True) if len(self.parts) > 1 else self.parts[0]
        if len(self.keys) > self.size:
            keep = np.sort(np.argpartition(self.keys, self.size - 1)[:self.size])
            frame, self.keys, self.rows = frame.iloc[keep].reset_index(drop=True), self.keys[keep], self.rows[keep]
        self.parts = [frame]

    def sample(self) -> pd.DataFrame:
        """The kept rows in table order."""
        self._compact()
        order = np.argsort(self.rows, kind="stable")
        return self.parts[0].iloc[order].reset_index(drop=True)


def _stream_kind(stats: TableStats) -> Callable[[pd.Series], str]:
    """infer_schema's kind_of for a sample with the table's `stats`: the sample's kind, except that a column constant
    in the sample but not in the table gets the kind its dtype gives, and an integer column whose sample values are
    distinct and whose range, without missing values, spans exactly the table's rows is a surrogate key (1..n), as
    in the table it would be."""
    def kind_of(series: pd.Series) -> str:
        kind, name = _infer_kind(series), str(series.name)
        summary = stats.numeric(name)
        if (kind == "integer" and summary is not None and summary.ints is not None and not stats.missing(name)
                and stats.rows >= ID_MIN_ROWS and series.is_unique
                and summary.ints.high - summary.ints.low + 1 == stats.rows):
            return "id"
        if kind != "constant" or stats.distinct(name) <= 1:
            return kind
        return dtype_kind(series.dtype)
    return kind_of


@dataclass
class StreamedTable:
    """What a streamed fit trains on: the schema, task and fitted encoder, the table's row count, the sample's rows
    and codes (for what reads rows besides training), the memory-mapped codes of every row, and the time each pass
    took (seconds)."""

    schema: TableSchema
    task: str | None
    encoder: TableEncoder
    rows: int
    sample: pd.DataFrame
    encoded: Encoded
    arrays: Encoded
    seconds: dict[str, float] = field(default_factory=dict)

    def loss(self, process: object, device: torch.device) -> BatchLoss:
        """The BatchLoss of `process` on every row, gathered from the memory-mapped arrays (memmap_loss)."""
        return memmap_loss(process, self.arrays, device)


def _release(array: np.ndarray) -> None:
    """Drop a memory-mapped array's pages from this process's resident memory (they stay in the file and the OS's
    page cache), so that reading or writing the whole table does not grow the process."""
    handle = getattr(array, "_mmap", None)
    if isinstance(handle, mmap.mmap) and hasattr(handle, "madvise"):
        handle.madvise(mmap.MADV_DONTNEED)


def memmap_loss(process: object, arrays: Encoded, device: torch.device) -> BatchLoss:
    """The BatchLoss of a process on encoded rows held in memory-mapped arrays, as training.table_loss on tensors:
    each batch's rows are gathered in sorted order (sequential reads) and moved to `device`."""
    calls = 0

    def gather(array: np.ndarray, index: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array[index])).to(device)

    def loss(model: torch.nn.Module, rows: torch.Tensor, generator: torch.Generator, low_precision: bool = False,
             per_row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal calls
        calls += 1
        if calls % RELEASE_STEPS == 0:
            for array in (arrays.x_num, arrays.x_cat, arrays.y):
                if array is not None:
                    _release(array)
        index = np.sort(rows.cpu().numpy())
        y = None if arrays.y is None else gather(arrays.y, index)
        return process.loss(model, gather(arrays.x_num, index), gather(arrays.x_cat, index), y, generator,
                            low_precision, **({"per_row": True} if per_row else {}))

    return loss


class TableStream:
    """A table read in record batches for a fit, with the work directory for its memory-mapped codes; use it as a
    context manager (the work directory is removed on exit, also after an error)."""

    def __init__(self, path: str | os.PathLike, max_memory_rows: int | None, work_dir: str | os.PathLike | None) -> None:
        self.max_rows = _check_rows(max_memory_rows)
        if work_dir is not None and not Path(work_dir).is_dir():
            raise ParameterError(f"work_dir={str(work_dir)!r} is not an existing folder. Pass a folder with room for "
                                 "the encoded table, or None for the system's temporary folder.")
        self.work_dir = work_dir
        self.source = TableSource(path)
        self.work: Path | None = None

    def __enter__(self) -> "TableStream":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def head(self) -> pd.DataFrame:
        """The first batch (for the checks that need only the columns), or an empty table (check_table refuses it)."""
        first = next(iter(self.source.batches()), None)
        return self.source.empty() if first is None else first

    def fit(self, target: str | None, task: str | None, column_types: Mapping[str, str] | None,
            max_categories: int | None, protect_rows: int, seed: int, rng: np.random.Generator, derive: bool,
            compute: bool, dequantize: bool) -> StreamedTable:
        """Both passes: statistics and sample, schema and encoder, then every row's codes in memory-mapped files."""
        started = time.perf_counter()
        declared = {name for name, kind in (column_types or {}).items() if kind in LABEL_KINDS}
        stats = TableStats(declared | ({target} if target is not None else set()), self.max_rows, protect_rows)
        reservoir = Reservoir(self.max_rows, np.random.default_rng([seed, 3]))
        seen: dict[str, dict[str, pd.Series]] = {}
        for batch in self.source.batches():
            check_table(batch, target)
            self.source.note_dtypes(batch, seen)
            stats.add(batch)
            reservoir.add(batch)
        if not stats.rows:
            raise SchemaError(f"The table {str(self.source.path)!r} has no rows. Pass a table with at least one row.")
        self.source.unite_dtypes(seen)
        sample = self.source.conform(reservoir.sample())
        whole = len(sample) == stats.rows
        schema = infer_schema(sample, column_types, kind_of=_stream_kind(stats))
        for spec in schema.columns:
            summary = stats.numeric(spec.name)
            if spec.kind == "integer" and summary is not None and summary.ints is not None and \
                    max(abs(summary.ints.low), abs(summary.ints.high)) > 2**53:
                raise SchemaError(f"Column {spec.name!r} holds integers beyond 2**53, which a streamed fit cannot model "
                                  "exactly. Fit it in memory (streaming=False), or declare it an id or categorical "
                                  "with column_types=.")
        encoder = TableEncoder(schema, target, task, max_categories, seed=seed, derive=derive and whole,
                               compute=compute and whole, protect_rows=protect_rows).fit(sample, stats)
        first = time.perf_counter()
        arrays = self._encode_all(encoder, stats.rows, rng if dequantize else None)
        second = time.perf_counter()
        encoded = encoder.encode(sample, dequantize=rng if dequantize else None)
        return StreamedTable(schema, encoder.task, encoder, stats.rows, sample, encoded, arrays,
                             {"pass_one": first - started, "pass_two": second - first})

    def _encode_all(self, encoder: TableEncoder, rows: int, dequantize: np.random.Generator | None) -> Encoded:
        """Pass two: every batch encoded and written to memory-mapped .npy files in a fresh work directory."""
        self.work = Path(tempfile.mkdtemp(prefix="tabdiffusion-fit-", dir=self.work_dir))
        probe = encoder.encode(self.source.conform(self.head().iloc[:1]))

        def array(name: str, part: np.ndarray | None) -> np.ndarray | None:
            if part is None:
                return None
            shape = (rows, *part.shape[1:])
            if 0 in shape:
                return np.zeros(shape, part.dtype)
            return open_memmap(self.work / f"{name}.npy", mode="w+", dtype=part.dtype, shape=shape)

        out = Encoded(array("x_num", probe.x_num), array("x_cat", probe.x_cat), array("y", probe.y))
        start = 0
        for batch in self.source.batches():
            codes = encoder.encode(self.source.conform(batch), dequantize=dequantize)
            stop = start + len(batch)
            if stop > rows:
                break
            for target, part in zip((out.x_num, out.x_cat, out.y), (codes.x_num, codes.x_cat, codes.y)):
                if target is not None and target.size:
                    target[start:stop] = part
                    target.flush()
                    _release(target)
            start = stop
        if start != rows:
            raise ParameterError(f"{str(self.source.path)!r} changed during the fit ({rows} rows, then {start} or more). "
                                 "Fit a table that does not change while it is read.")
        return out


@contextlib.contextmanager
def fit_input(data: object, streaming: bool | None, max_memory_rows: int | None,
              work_dir: str | os.PathLike | None) -> Iterator[object]:
    """What fit reads: a TableStream (whose work directory is removed on exit) where `data` is streamed
    (wants_streaming), a folder of Parquet files read whole where it is small, else `data` itself."""
    if not wants_streaming(data, streaming):
        if max_memory_rows is not None:
            _check_rows(max_memory_rows)
        if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
            yield TableSource(data).read_all()
        else:
            yield data
        return
    with TableStream(data, max_memory_rows, work_dir) as stream:
        yield stream
