"""Reading and writing tables (CSV, Parquet) with clear errors, atomic writes, and the demo table."""

from __future__ import annotations

import datetime
import os
import re
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ._memory import available_memory
from .errors import ParameterError, SchemaError

# sample(n) holds every chunk and the table pd.concat builds from them at its end: twice the table's bytes.
SAMPLE_MEMORY_FACTOR = 2.0

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([+-]\d{2}:?\d{2}|Z)?$")


def _parse_iso_dates(df: pd.DataFrame) -> pd.DataFrame:
    """CSV has no date type: text columns whose every value is an ISO 8601 date or time become datetimes.

    Values with different UTC offsets (a zone's summer and winter time, "+01:00" and "+02:00") name no single time
    zone, so such a column is read as UTC: the same instants, written back with "+00:00".
    """
    converted = {}
    for name in df.columns:
        series = df[name]
        if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
            continue
        matches = series.dropna().map(lambda v: _ISO_DATE.match(v) if isinstance(v, str) else None)
        if len(matches) and matches.map(bool).all():
            with warnings.catch_warnings():  # pandas 2 warns about mixed offsets (and returns objects); 3 raises
                warnings.simplefilter("ignore", FutureWarning)
                try:
                    parsed = pd.to_datetime(series, format="ISO8601")
                except (ValueError, TypeError):
                    parsed = series
                if not pd.api.types.is_datetime64_any_dtype(parsed.dtype) and matches.map(
                    lambda m: bool(m.group(4))
                ).all():  # every value carries an offset, but not the same one
                    try:
                        parsed = pd.to_datetime(series, format="ISO8601", utc=True)
                    except (ValueError, TypeError):
                        pass
            if pd.api.types.is_datetime64_any_dtype(parsed.dtype):
                converted[name] = parsed
    return df.assign(**converted) if converted else df


def _codes_as_text(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Columns read as numbers whose every value is a string of digits of one width, at least one with a leading zero
    (zip codes, account codes: "01234"), read again as text, since as numbers they would lose their zeros."""
    numeric = [i for i, dtype in enumerate(df.dtypes) if pd.api.types.is_numeric_dtype(dtype)
               and not pd.api.types.is_bool_dtype(dtype)]
    if not numeric or not isinstance(df.index, pd.RangeIndex):  # positions match the file's columns only then
        return df

    def codes(values: pd.Series, need_zero: bool) -> bool:
        values = values.dropna()
        if not len(values) or not values.str.fullmatch(r"\d+").all():
            return False
        widths = values.str.len()
        return widths.nunique() == 1 and widths.iloc[0] > 1 and (not need_zero or values.str.startswith("0").any())

    # Only columns whose first rows already look like codes of one width are read in full a second time.
    head = pd.read_csv(path, usecols=numeric, dtype=str, nrows=1000)
    candidates = [i for i, name in zip(numeric, head.columns) if codes(head[name], need_zero=False)]
    if not candidates:
        return df
    text = pd.read_csv(path, usecols=candidates, dtype=str)
    df = df.copy()
    for i, name in zip(candidates, text.columns):
        if codes(text[name], need_zero=True):
            df.isetitem(i, text[name])
    return df


def _dates_as_datetimes(df: pd.DataFrame) -> pd.DataFrame:
    """Columns of dates (Parquet's date32/date64, read as datetime.date objects) as datetime64 columns at midnight."""
    converted = {}
    for i, dtype in enumerate(df.dtypes):
        if dtype != object:
            continue
        values = df.iloc[:, i].dropna()
        if len(values) and all(isinstance(v, datetime.date) and not isinstance(v, datetime.datetime) for v in values):
            converted[i] = pd.to_datetime(df.iloc[:, i])
    if converted:
        df = df.copy()
        for i, column in converted.items():
            df.isetitem(i, column)
    return df


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A DataFrame from a .csv or .parquet file.

    CSV: ISO 8601 text columns are read as datetimes, and codes with leading zeros ("01234": digits of one width)
    as text. Parquet: date columns are read as datetimes.
    """
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"No such file: {str(path)!r}. Pass a DataFrame or the path of a CSV or Parquet file.")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ParameterError(f"Cannot read {str(path)!r}: the file name must end in .csv or .parquet.")
    try:
        if suffix == ".csv":
            return _parse_iso_dates(_codes_as_text(pd.read_csv(path), path))
        return _dates_as_datetimes(pd.read_parquet(path))
    except UnicodeDecodeError as error:
        raise ParameterError(
            f"Cannot read {str(path)!r}: it is not UTF-8 text ({error.reason} at byte {error.start}). Save it as UTF-8, "
            "or read it with pd.read_csv(path, encoding=...) and pass the DataFrame."
        ) from None
    except pd.errors.EmptyDataError:
        raise ParameterError(f"Cannot read {str(path)!r}: the file is empty (no header row). Pass a table with columns.") from None
    except (pd.errors.ParserError, OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise ParameterError(
            f"Cannot read {str(path)!r} as {kind} ({type(error).__name__}: {str(error).strip()[:300]}). Check the file, or "
            "read it with pandas and pass the DataFrame."
        ) from None


def as_dataframe(data: pd.DataFrame | str | os.PathLike, argument: str = "data") -> pd.DataFrame:
    """A DataFrame given a DataFrame or the path of a table file."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_table(data)
    raise ParameterError(
        f"{argument} must be a pandas DataFrame or a path to a .csv/.parquet file, not {type(data).__name__}."
    )


def check_table(df: pd.DataFrame, target: str | None) -> None:
    """Reject tables that cannot be fitted, naming the problem and the fix."""
    if df.shape[1] == 0:
        raise SchemaError("The table has no columns. Pass a table with at least one column.")
    if len(df) == 0:
        raise SchemaError(f"The table has no rows (columns: {list(df.columns)}). Pass a table with at least one row.")
    if isinstance(df.columns, pd.MultiIndex):
        raise SchemaError("The table has multi-level column names. Flatten them first, e.g. "
                          "df.columns = ['_'.join(map(str, c)) for c in df.columns].")
    unnamed = [c for c in df.columns if not isinstance(c, str)]
    if unnamed:
        raise SchemaError(
            f"Column names must be text; {unnamed[:5]} are {type(unnamed[0]).__name__}. The synthetic table, model files "
            "and column_types= name columns by text, so rename them first, e.g. df.columns = df.columns.astype(str)."
        )
    names = list(df.columns)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SchemaError(f"Column names must be unique; repeated: {duplicates}. Rename them before fitting.")
    if target is not None and target not in names:
        raise SchemaError(f"target={target!r} is not a column of the table. Columns are: {names}.")
    for name in df.columns:
        series = df[name]
        if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
            infinite = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
            if infinite.any():
                raise SchemaError(
                    f"Column {name!r} has {int(infinite.sum())} infinite values (e.g. {series[infinite].iloc[0]}). "
                    "Replace them with NaN (missing) or finite numbers."
                )


def check_fit_input(df: pd.DataFrame, target: str | None, task: object, column_types: object) -> None:
    """Reject what fit cannot use, naming the problem and the fix: an unknown task, a task without a target, a table
    that cannot be fitted (check_table) and column_types that is no map of column names to kinds."""
    if task not in (None, "classification", "regression"):
        raise ParameterError(f"task={task!r}; use 'classification', 'regression' or None (inferred).")
    if task is not None and target is None:
        raise ParameterError("task= needs target=: name the column the task refers to.")
    check_table(df, target)
    if column_types is not None and not (isinstance(column_types, Mapping) and all(
            isinstance(kind, str) for kind in column_types.values())):
        raise ParameterError(f"column_types must map column names to kinds, e.g. {{'zip': 'categorical'}}; got "
                             f"{column_types!r}.")


def check_writable(path: str | os.PathLike) -> Path:
    """Fail now, with the path and the fix, if `path` cannot be written (a folder, below a file, or in a folder without
    write access), rather than after a fit or sample has done its work. Creates nothing: missing folders are made when
    the file is written."""
    path = Path(path)
    if path.is_dir():
        raise ParameterError(f"Cannot write {str(path)!r}: it is a folder. Pass a file name, e.g. {str(path / 'out')!r} plus its suffix.")
    existing = next((p for p in path.parents if p.exists()), Path("."))  # where the missing folders would be made
    if not existing.is_dir():
        raise ParameterError(f"Cannot write {str(path)!r}: {str(existing)!r} is a file, not a folder. Choose another path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ParameterError(f"Cannot write {str(path)!r}: no permission to write in {str(existing)!r}. Choose a folder you can write to.")
    return path


def _umask() -> int:
    """The process's umask, read from /proc on Linux; elsewhere set and put back at once."""
    try:
        with open("/proc/self/status", encoding="utf-8", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call write(temp_path) and move the result onto `path` in one rename, so readers never see half a file.

    Missing folders are made for it, and removed again if the write fails. The file gets the permissions open()
    would give it: those of the file it replaces, or else 0o666 less the umask (a temporary file alone is 0o600).
    """
    path = check_writable(path)
    missing = [p for p in path.parents if not p.exists()]  # deepest first
    temp = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as error:
            raise ParameterError(f"Cannot write {str(path)!r} ({error.strerror or error}). Choose a folder you can write to.") from None
        os.close(fd)
        write(temp)
        mode = stat.S_IMODE(os.stat(path).st_mode) if path.is_file() else 0o666 & ~_umask()
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if temp is not None and os.path.exists(temp):
            os.remove(temp)
        for folder in missing:
            try:
                folder.rmdir()
            except OSError:  # not empty (another writer), or gone
                break
        raise
    return path


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame to .csv or .parquet (chosen by suffix), atomically."""
    return write_chunks([df], path)[0]


# Parquet: chunks whose columns include one with no value yet (arrow's null type) are held back, up to this many
# bytes, until a later chunk shows the column's type; after that the column is written as text.
HOLD_BACK_BYTES = 64 * 2**20


def _as_text(series: pd.Series) -> pd.Series:
    """Each value as str(value); missing values stay missing."""
    return series.map(str).astype(object).mask(series.isna(), None)


def _arrow_table(chunk: pd.DataFrame, schema=None):
    """An arrow table of `chunk` (with `schema`'s types where given). An object column whose values arrow cannot put
    in one type (True, "yes" and 3 together) is written as text: str() of each value, missing values stay null."""
    import pyarrow as pa

    failures = (pa.ArrowInvalid, pa.ArrowTypeError)
    try:
        return pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
    except failures:
        pass
    chunk = chunk.copy()
    for i in range(chunk.shape[1]):
        series = chunk.iloc[:, i]
        if series.dtype != object:
            continue
        kind = None if schema is None else schema.field(i).type
        try:
            pa.array(series, type=kind, from_pandas=True)
        except failures:
            if kind is not None and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                raise ParameterError(
                    f"Cannot write column {str(chunk.columns[i])!r} to Parquet: earlier rows fixed its type as {kind}, "
                    "but these rows hold other types. Write a .csv file, or convert the column to one type first."
                ) from None
            chunk.isetitem(i, _as_text(series))
    return pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)


class _ParquetChunks:
    """Writes arrow tables of one column layout to a Parquet file whose schema is fixed by the first write.

    A column missing in every row of the first chunks (an object column of booleans or text, mostly missing) has no
    type to infer, so those chunks are held back (at most HOLD_BACK_BYTES) until a chunk with its values types it; a
    column still without values then is written as text. An object column of values of different types is written as
    text (see _arrow_table), in this chunk and every later one.
    """

    def __init__(self, path: str) -> None:
        self.path, self.writer = path, None
        self.held: list = []
        self.held_bytes = 0
        self.types: dict[int, object] = {}  # column index -> type, for the columns untyped in the first chunk
        self.untyped: set[int] = set()

    def add(self, chunk: pd.DataFrame) -> None:
        import pyarrow as pa

        if self.writer is not None:
            self.writer.write_table(_arrow_table(chunk, self.writer.schema))
            return
        table = _arrow_table(chunk)
        if not self.held:
            self.untyped = {i for i, field in enumerate(table.schema) if pa.types.is_null(field.type)}
        for i in list(self.untyped):
            if not pa.types.is_null(table.schema.field(i).type):
                self.types[i] = table.schema.field(i).type
                self.untyped.discard(i)
        self.held.append(table)
        self.held_bytes += table.nbytes
        if not self.untyped or self.held_bytes >= HOLD_BACK_BYTES:
            self._open()

    def close(self, failed: bool = False) -> None:
        """Write what is held and close the file; after a failure, drop it (the file is discarded anyway)."""
        try:
            if self.writer is None and self.held and not failed:
                self._open()
        finally:
            self.held = []
            if self.writer is not None:
                self.writer.close()

    def _open(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self.held[0].schema
        for i in range(len(schema)):
            if pa.types.is_null(schema.field(i).type):
                schema = schema.set(i, schema.field(i).with_type(self.types.get(i, pa.large_string())))
        self.writer = pq.ParquetWriter(self.path, schema)
        held, self.held, self.held_bytes = self.held, [], 0
        for table in held:
            self.writer.write_table(table.cast(schema))


def write_chunks(chunks: Iterable[pd.DataFrame], path: str | os.PathLike) -> tuple[Path, int]:
    """Write consecutive tables with the same columns as one .csv or .parquet file, one chunk in memory at a time
    (Parquet: see _ParquetChunks), atomically (a failure part-way leaves no file); returns the path and the rows written."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ParameterError(f"Cannot write {str(path)!r}: the file name must end in .csv or .parquet.")
    rows = 0

    def write(temp: str) -> None:
        nonlocal rows
        parquet = None if suffix == ".csv" else _ParquetChunks(temp)
        try:
            for i, chunk in enumerate(chunks):
                if parquet is None:
                    chunk.to_csv(temp, index=False, header=i == 0, mode="w" if i == 0 else "a")
                else:
                    parquet.add(chunk)
                rows += len(chunk)
        except BaseException:
            if parquet is not None:
                parquet.close(failed=True)
            raise
        if parquet is not None:
            parquet.close()

    return atomic_write(path, write), rows


def join_chunks(chunks: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Consecutive tables with the same columns as one table with a fresh index (the one chunk itself, if only one)."""
    parts = list(chunks)
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def load_demo_table() -> pd.DataFrame:
    """Palmer Penguins (CC0; 344 rows, categoricals, floats, an integer year, missing values), as the palmerpenguins package ships it."""
    from palmerpenguins import load_penguins

    return load_penguins()


def check_fits_in_memory(n: int, bytes_per_row: float) -> None:
    """A ParameterError, at once, where a table of `n` rows of `bytes_per_row` (SAMPLE_MEMORY_FACTOR times its bytes)
    exceeds the available memory, naming the ways that hold only a chunk; no check where the system does not say."""
    available = available_memory()
    needed = n * bytes_per_row * SAMPLE_MEMORY_FACTOR
    if available is not None and needed > available:
        raise ParameterError(
            f"sample(n={n:,}) needs about {needed / 2**30:,.1f} GiB for one table, but only {available / 2**30:,.1f} "
            f"GiB of memory is available. Process the rows a chunk at a time with sample_chunks(n, chunk_rows=...), "
            f"or write them to a partitioned Parquet dataset: tabdiffusion sample MODEL --rows {n} --out DIR/"
        )
