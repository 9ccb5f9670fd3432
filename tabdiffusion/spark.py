"""Synthetic rows generated inside Spark executors, as a Spark DataFrame (needs the [spark] extra: pyspark).

`sample(spark, model_path, rows, partitions, seed)` maps a DataFrame of partition indices to rows with mapInPandas:
each Python worker loads the model once, from the model file's bytes that the driver broadcasts, and yields its
partitions' rows chunk by chunk, seeded as partitioned.py seeds them. So the rows are those of `tabdiffusion sample
MODEL --out DIR/ --seed SEED --rows-per-file ceil(rows / partitions)` (on the same kind of device), and a DataFrame
that Spark evaluates again (another action, a lost executor) holds the same rows. pyspark is imported only when this
module is, never by `import tabdiffusion`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .config import check_positive_int
from .errors import ParameterError
from .partitioned import model_sha256, partition_chunks, partition_count
from .synthesizer import Synthesizer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Rows sampled on the driver to read the output's column types from.
SCHEMA_PROBE_ROWS = 64

# The models this Python worker has loaded, by the model file's SHA-256: Spark reuses a Python worker for many tasks,
# which then load the model once (a cache of this process only; the driver never fills it).
_loaded: dict[str, Synthesizer] = {}


def arrow_schema(synth: Synthesizer) -> pa.Schema:
    """The Arrow types of the model's output columns, read off a few sampled rows: categories as their values' type,
    and a column without a value there (or with values of several types) as text."""
    probe = synth.sample(SCHEMA_PROBE_ROWS, seed=0)
    fields = []
    for name in probe.columns:
        try:
            kind = pa.array(probe[name], from_pandas=True).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            kind = pa.large_string()
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_null(kind):
            kind = pa.large_string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _load(model: Any, digest: str, device: str, threads: int) -> Synthesizer:
    """The model of a broadcast file's bytes, loaded once per Python worker (through a temporary file)."""
    if digest not in _loaded:
        fd, path = tempfile.mkstemp(suffix=".tdm")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(model.value)
            synth = Synthesizer.load(path, device=device)
        finally:
            os.remove(path)
        _loaded[digest] = synth
    synth = _loaded[digest]
    synth.threads = threads
    return synth


@dataclass(frozen=True)
class _Generate:
    """The mapInPandas function: each partition index of its input to that partition's rows, chunk by chunk."""

    model: Any  # the broadcast model file's bytes
    digest: str
    rows: int
    rows_per_partition: int
    seed: int
    chunk_rows: int | None
    conditions: Mapping[str, object] | None
    device: str
    threads: int

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        synth = _load(self.model, self.digest, self.device, self.threads)
        for batch in batches:
            for index in batch.iloc[:, 0]:
                for chunk in partition_chunks(synth, int(index), self.rows, self.rows_per_partition, self.seed,
                                              self.chunk_rows, self.conditions):
                    yield _spark_ready(chunk)


def _spark_ready(chunk: pd.DataFrame) -> pd.DataFrame:
    """`chunk` with its category columns as their values, which Spark's Arrow conversion takes as plain columns."""
    categorical = [i for i, dtype in enumerate(chunk.dtypes) if isinstance(dtype, pd.CategoricalDtype)]
    if not categorical:
        return chunk
    chunk = chunk.copy()
    for i in categorical:
        chunk.isetitem(i, chunk.iloc[:, i].astype(chunk.dtypes.iloc[i].categories.dtype))
    return chunk


def sample(spark: "SparkSession", model_path: str | os.PathLike, rows: int, partitions: int, seed: int | None = None,
           *, chunk_rows: int | None = None, conditions: Mapping[str, object] | None = None, device: str = "auto",
           threads: int | None = None) -> "DataFrame":
    """A Spark DataFrame of `rows` synthetic rows of the model file `model_path`, generated in `partitions` Spark
    partitions of ceil(rows / partitions) rows (the last may be shorter; fewer where they fill up sooner).

    Partition i holds the rows of partitioned.sample_partition(synth, i, rows, ceil(rows / partitions), seed), so
    the DataFrame equals the CLI's partitioned dataset for the same seed and rows per file. `seed=None` draws one on
    the driver, once, so that re-evaluations repeat the rows. `chunk_rows` bounds the rows a task holds at a time
    (default SAMPLE_CHUNK_ROWS); `conditions` as for Synthesizer.sample; `threads` are the torch threads per task
    (default spark.task.cpus).
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    rows = check_positive_int("rows", rows)
    partitions = check_positive_int("partitions", partitions)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ParameterError(f"seed must be a non-negative integer or None, got {seed!r}.")
    seed = int(np.random.default_rng().integers(2**63)) if seed is None else int(seed)
    threads = int(spark.conf.get("spark.task.cpus", "1")) if threads is None else check_positive_int("threads", threads)
    digest = model_sha256(model_path)
    synth = Synthesizer.load(model_path, device="cpu")  # the driver reads the columns and checks the conditions
    if conditions:
        synth.sample_chunks(1, seed=0, conditions=conditions)
    schema = arrow_schema(synth)
    with open(model_path, "rb") as file:
        model = spark.sparkContext.broadcast(file.read())
    per_partition = -(-rows // partitions)
    count = partition_count(rows, per_partition)
    generate = _Generate(model, digest, rows, per_partition, seed, chunk_rows,
                         None if conditions is None else dict(conditions), device, threads)
    return spark.range(count, numPartitions=count).mapInPandas(generate, from_arrow_schema(schema, prefer_timestamp_ntz=True))
