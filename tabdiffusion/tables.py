"""Reading and writing tables (CSV, Parquet) with clear errors, atomic writes, and the demo table."""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Iterable

import pandas as pd

from .errors import ParameterError

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


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A DataFrame from a .csv or .parquet file; ISO 8601 text columns of a CSV are read as datetimes."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"No such file: {str(path)!r}. Pass a DataFrame or the path of a CSV or Parquet file.")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ParameterError(f"Cannot read {str(path)!r}: the file name must end in .csv or .parquet.")
    try:
        return _parse_iso_dates(pd.read_csv(path)) if suffix == ".csv" else pd.read_parquet(path)
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


def _temporary_file(path: Path) -> str:
    """An empty temporary file beside `path` (its folder created if missing); a clear error where there can be none."""
    if path.is_dir():
        raise ParameterError(f"Cannot write {str(path)!r}: it is a folder. Pass a file name, e.g. {str(path / 'out')!r} plus its suffix.")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ParameterError(f"Cannot write {str(path)!r}: {str(blocking)!r} is a file, not a folder. Choose another path.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise ParameterError(f"Cannot write {str(path)!r} ({error.strerror or error}). Choose a folder you can write to.") from None
    os.close(fd)
    return temp


def check_writable(path: str | os.PathLike) -> Path:
    """Fail now, with the path and the fix, if `path` cannot be written (a folder, or a place without write access),
    rather than after a fit or sample has done its work; creates missing parent folders, as writing would."""
    path = Path(path)
    os.remove(_temporary_file(path))
    return path


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call write(temp_path) and move the result onto `path` in one rename, so readers never see half a file."""
    path = Path(path)
    temp = _temporary_file(path)
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return path


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame to .csv or .parquet (chosen by suffix), atomically."""
    return write_chunks([df], path)[0]


# Parquet: chunks whose columns include one with no value yet (arrow's null type) are held back, up to this many
# bytes, until a later chunk shows the column's type; after that the column is written as text.
HOLD_BACK_BYTES = 64 * 2**20


class _ParquetChunks:
    """Writes arrow tables of one column layout to a Parquet file whose schema is fixed by the first write.

    A column missing in every row of the first chunks (an object column of booleans or text, mostly missing) has no
    type to infer, so those chunks are held back (at most HOLD_BACK_BYTES) until a chunk with its values types it; a
    column still without values then is written as text.
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
            self.writer.write_table(pa.Table.from_pandas(chunk, schema=self.writer.schema, preserve_index=False))
            return
        table = pa.Table.from_pandas(chunk, preserve_index=False)
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


def load_demo_table() -> pd.DataFrame:
    """Palmer Penguins (CC0; 344 rows, categoricals, floats, an integer year, missing values), as the palmerpenguins package ships it."""
    from palmerpenguins import load_penguins

    return load_penguins()
