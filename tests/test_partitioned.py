"""Sampling at scale: the CLI's partitioned Parquet dataset (seeding per partition, keys, resume, workers), Spark's
DataFrame of the same rows, and sample(n) refusing an n that cannot fit in memory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tabdiffusion as td
from tabdiffusion import partitioned, synthesizer
from tabdiffusion.fitted import FittedModel
from tabdiffusion.cli import app
from conftest import FAST, make_mixed_table

runner = CliRunner()
ROWS, PER_FILE, CHUNK = 1000, 400, 150  # three files: 400, 400 and 200 rows, each written in chunks


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny model of a table with an integer key (row_id: 0..n-1) besides the text key customer_id."""
    table = make_mixed_table().assign(row_id=lambda t: np.arange(len(t)))
    synth = td.Synthesizer(seed=0, **{**FAST, "steps": 20}).fit(table, target="label")
    assert synth.schema["row_id"].kind == "id"
    return synth.save(tmp_path_factory.mktemp("model") / "m.tdm")


def _sample(model: Path, out: Path | str, *extra: str) -> object:
    """Run `tabdiffusion sample MODEL --out OUT` with the module's rows, files and chunks (and `extra`)."""
    return runner.invoke(app, ["sample", str(model), "--out", str(out), "--rows", str(ROWS), "--rows-per-file",
                               str(PER_FILE), "--chunk-rows", str(CHUNK), "-q", *extra])


@pytest.fixture(scope="module")
def dataset(model, tmp_path_factory) -> Path:
    """The dataset of seed 7, written once by the CLI into a new folder (a name ending in /)."""
    out = tmp_path_factory.mktemp("runs") / "seed7"
    result = _sample(model, f"{out}/", "--seed", "7")
    assert result.exit_code == 0, result.output
    return out


def test_files_row_counts_manifest_and_unique_keys(model, dataset, tmp_path):
    names = sorted(p.name for p in dataset.iterdir())
    assert names == [partitioned.MANIFEST, "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.ParquetFile(dataset / n).metadata.num_rows for n in names[1:]] == [400, 400, 200]
    manifest = json.loads((dataset / partitioned.MANIFEST).read_text())
    assert manifest["seed"] == 7 and manifest["rows"] == ROWS and manifest["rows_per_file"] == PER_FILE
    assert manifest["model_sha256"] == partitioned.model_sha256(model)
    table = pd.read_parquet(dataset)
    assert len(table) == ROWS and table["row_id"].is_unique and table["customer_id"].is_unique
    # The same columns and dtypes as the single-file writer gives.
    result = runner.invoke(app, ["sample", str(model), "--out", str(tmp_path / "one.parquet"), "--rows", "50", "-q"])
    assert result.exit_code == 0, result.output
    assert table.dtypes.to_dict() == pd.read_parquet(tmp_path / "one.parquet").dtypes.to_dict()


def test_same_seed_same_dataset_and_one_partition_regenerates_alone(model, dataset, tmp_path):
    assert _sample(model, f"{tmp_path / 'again'}/", "--seed", "7").exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again"), pd.read_parquet(dataset))
    assert _sample(model, f"{tmp_path / 'other'}/", "--seed", "8").exit_code == 0
    assert not pd.read_parquet(tmp_path / "other").equals(pd.read_parquet(dataset))
    synth = td.Synthesizer.load(model)
    alone = partitioned.sample_partition(synth, 1, ROWS, PER_FILE, seed=7, chunk_rows=CHUNK)
    pd.testing.assert_frame_equal(alone, pd.read_parquet(dataset / "part-00001.parquet"))


def test_conditions_hold_in_every_file_and_are_part_of_the_run(model, tmp_path):
    out = tmp_path / "ranged"
    result = _sample(model, f"{out}/", "--seed", "2", "--where", "age=30..40", "--where", "city=Oslo,Lima")
    assert result.exit_code == 0 and "rows/s" not in result.output, result.output  # -q: no progress bar
    table = pd.read_parquet(out)
    assert table["age"].between(30, 40).all() and set(table["city"]) <= {"Oslo", "Lima"}
    synth = td.Synthesizer.load(model)
    alone = partitioned.sample_partition(synth, 2, ROWS, PER_FILE, 2, CHUNK, {"age": (30, 40), "city": ["Oslo", "Lima"]})
    pd.testing.assert_frame_equal(alone, pd.read_parquet(out / "part-00002.parquet"))
    result = _sample(model, out, "--resume", "--where", "age=30..41", "--where", "city=Oslo,Lima")
    assert result.exit_code == 1 and "conditions" in result.output, result.output


def test_resume_regenerates_exactly_the_missing_file(model, dataset, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(dataset, run)
    (run / "part-00001.parquet").unlink()
    (run / ".part-00001.parquet.x1y2.tmp").write_bytes(b"half a file")  # what a killed run leaves behind
    before = {n: os.stat(run / n).st_mtime_ns for n in ("part-00000.parquet", "part-00002.parquet")}
    result = runner.invoke(app, ["sample", str(model), "--out", str(run), "--rows", str(ROWS), "--resume"])
    assert result.exit_code == 0, result.output
    assert "kept 2 complete files" in result.output and "rows/s" in result.output  # a progress bar without -q
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in dataset.iterdir())
    assert {n: os.stat(run / n).st_mtime_ns for n in before} == before  # the complete files were not rewritten
    pd.testing.assert_frame_equal(pd.read_parquet(run), pd.read_parquet(dataset))


def test_a_run_never_overwrites_or_mixes_with_another(model, dataset, tmp_path):
    def one_line_error(result, *words):
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and all(w in result.output for w in words), result.output

    one_line_error(_sample(model, dataset, "--seed", "7"), "already holds", "--resume")
    one_line_error(runner.invoke(app, ["sample", str(model), "--out", str(dataset), "--rows", "999", "--resume"]),
                   "Cannot resume", "rows")
    one_line_error(_sample(model, dataset, "--resume", "--seed", "8"), "Cannot resume", "seed")
    one_line_error(runner.invoke(app, ["sample", str(model), "--out", str(dataset), "--rows", str(ROWS),
                                       "--rows-per-file", "500", "--resume"]), "rows per file")
    same = tmp_path / "copy.tdm"  # the same model under another name resumes (here: nothing left to write)
    same.write_bytes(model.read_bytes())
    result = _sample(same, dataset, "--resume")
    assert result.exit_code == 0 and "kept 3 complete files" in result.output, result.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    one_line_error(_sample(model, tmp_path / "busy", "--resume"), "not empty")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    one_line_error(runner.invoke(app, ["sample", str(model), "--out", str(tmp_path / "f.parquet"), "--rows", "9",
                                       "--workers", "2"]), "--workers", "folder")


def test_a_different_model_is_not_resumed(model, dataset, mixed_table, tmp_path):
    other = td.Synthesizer(seed=1, **{**FAST, "steps": 5}).fit(mixed_table).save(tmp_path / "other.tdm")
    run = tmp_path / "run"
    shutil.copytree(dataset, run)
    result = _sample(other, run, "--resume")
    assert result.exit_code == 1 and "model file" in result.output, result.output


def test_two_workers_write_the_same_files_as_one(model, dataset, tmp_path):
    result = _sample(model, f"{tmp_path / 'two'}/", "--seed", "7", "--workers", "2")
    assert result.exit_code == 0, result.output
    for name in ("part-00000.parquet", "part-00001.parquet", "part-00002.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "two" / name), pd.read_parquet(dataset / name))


def _spark_missing() -> str | None:
    """Why the Spark test cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'tabdiffusion[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Spark needs Java, and there is no java on the PATH or JAVA_HOME"
    return None


@pytest.mark.skipif(_spark_missing() is not None, reason=str(_spark_missing()))
def test_spark_generates_the_rows_of_the_cli(model, dataset):
    from pyspark.sql import SparkSession

    from tabdiffusion import spark as td_spark

    session = (SparkSession.builder.master("local[2]").appName("tabdiffusion-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        frame = td_spark.sample(session, model, ROWS, partitions=3, seed=7, chunk_rows=CHUNK)  # 334 rows a partition
        assert frame.columns == list(pd.read_parquet(dataset).columns)
        got = frame.toPandas()
    finally:
        session.stop()
    expected = pd.concat([partitioned.sample_partition(td.Synthesizer.load(model), i, ROWS, 334, 7, CHUNK)
                          for i in range(3)], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_categorical=False)


def test_importing_tabdiffusion_does_not_import_pyspark():
    code = "import sys, tabdiffusion, tabdiffusion.cli, tabdiffusion.partitioned; assert 'pyspark' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def test_sample_refuses_at_once_what_cannot_fit_in_memory(model, monkeypatch):
    from tabdiffusion import tables

    synth = td.Synthesizer.load(model)
    drawn = []
    monkeypatch.setattr(FittedModel, "sample_codes", lambda self, *a, **k: drawn.append(a))
    if tables.available_memory() is not None:  # this machine's real memory
        with pytest.raises(td.ParameterError, match="sample_chunks"):
            synth.sample(10**12)
    monkeypatch.setattr(tables, "available_memory", lambda: 2**30)  # 1 GiB left
    rows = 2**30 // int(synth.encoder_.bytes_per_row()) + 1  # one more row than 1 GiB holds, before the factor
    with pytest.raises(td.ParameterError, match=r"sample_chunks.*--out DIR/") as refused:
        synth.sample(rows)
    assert "\n" not in str(refused.value) and drawn == []  # refused before anything was generated
    monkeypatch.undo()
    monkeypatch.setattr(tables, "available_memory", lambda: None)  # the system does not say: no refusal
    monkeypatch.setattr(synthesizer, "SAMPLE_CHUNK_ROWS", 10)
    assert len(synth.sample(30, seed=0)) == 30
