"""Streamed fits: tables read in record batches, exact statistics plus a sample, codes in memory-mapped files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import tabdiffusion as td
from tabdiffusion import streaming
from tabdiffusion.diffusion.mixed import MixedDiffusion
from tabdiffusion.errors import ParameterError
from tabdiffusion.nn.mlp import MLPDenoiser
from tabdiffusion.schema import infer_schema
from tabdiffusion.streaming import Reservoir, TableStream, memmap_loss
from tabdiffusion.tables import read_table
from tabdiffusion.training import table_loss
from tabdiffusion.transforms.table import Encoded, TableEncoder


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    """A mixed table: rounded floats with missing values, integers, 64-bit integers, few-valued floats, a text column
    with levels of very different frequency and missing entries, booleans, dates and a class target."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "f": np.round(rng.normal(size=n), 3), "g": rng.exponential(size=n), "i": rng.integers(-50, 1000, n),
        "few": rng.integers(0, 4, n).astype(float),
        "c": rng.choice(list("abcdefg"), n, p=[.3, .3, .2, .1, .05, .04, .01]), "b": rng.random(n) < .3,
        "t": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
        "y": rng.choice(["yes", "no"], n, p=[.7, .3])})
    df.loc[rng.random(n) < .1, "f"] = np.nan
    df.loc[rng.random(n) < .1, "c"] = None
    return df


def _folder(df: pd.DataFrame, path, parts: int = 3):
    """`df` written as `parts` Parquet files in the folder `path`."""
    path.mkdir()
    for k, rows in enumerate(np.array_split(np.arange(len(df)), parts)):
        df.iloc[rows].reset_index(drop=True).to_parquet(path / f"part-{k}.parquet")
    return path


def _state(encoder: TableEncoder) -> str:
    meta, arrays = encoder.state()
    return json.dumps([meta, {k: np.asarray(v).tolist() for k, v in arrays.items()}], sort_keys=True, default=str)


def _streamed(path, *, rows: int, protect_rows: int = 0, target: str | None = "y", column_types=None, work_dir=None,
              derive: bool = True, max_categories: int | None = 100):
    with TableStream(path, rows, work_dir) as stream:
        table = stream.fit(target, None, column_types, max_categories, protect_rows, 0, np.random.default_rng(0),
                           derive, False, False)
        arrays = Encoded(np.array(table.arrays.x_num), np.array(table.arrays.x_cat),
                         None if table.arrays.y is None else np.array(table.arrays.y))
    return table, arrays


@pytest.mark.filterwarnings("ignore:Column .c. has 8 distinct values")
@pytest.mark.parametrize("protect_rows", [0, 5])
def test_a_sample_as_large_as_the_table_gives_the_in_memory_encoder(tmp_path, monkeypatch, protect_rows):
    monkeypatch.setattr(streaming, "BATCH_ROWS", 97)  # several batches per file
    df = _table(700)
    folder = _folder(df, tmp_path / "table")
    table, arrays = _streamed(folder, rows=1000, protect_rows=protect_rows, max_categories=5)
    whole = read_table(folder / "part-0.parquet")  # dtypes as a whole table reads
    assert dict(table.sample.dtypes) == dict(whole.dtypes)
    expected = TableEncoder(infer_schema(df), "y", None, 5, seed=0, protect_rows=protect_rows).fit(df)
    assert _state(table.encoder) == _state(expected)
    assert table.rows == len(df)
    codes = expected.encode(df)
    np.testing.assert_array_equal(arrays.x_num, codes.x_num)
    np.testing.assert_array_equal(arrays.x_cat, codes.x_cat)
    np.testing.assert_array_equal(arrays.y, codes.y)


def test_a_level_the_sample_misses_is_still_a_level_with_its_exact_count(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "BATCH_ROWS", 128)
    rng = np.random.default_rng(1)
    n = 3000
    df = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n), "y": rng.choice(["u", "v"], n)})
    df.loc[[10, 1500, 2999], "c"] = "rare"  # three rows
    df.loc[[20, 800, 1600, 2400, 2990, 2995], "y"] = "w"  # a class of six rows
    df.loc[[5, 2500], "x"] = np.nan  # missing in two rows only
    df.to_parquet(tmp_path / "t.parquet")
    table, _ = _streamed(tmp_path / "t.parquet", rows=40)
    assert len(table.sample) == 40 and "rare" not in set(table.sample["c"]) and "w" not in set(table.sample["y"])
    assert table.sample["x"].notna().all()
    column = table.encoder.categorical_[0]
    assert "rare" in column.levels_
    label = table.encoder.label_
    expected = df["y"].value_counts() / n
    np.testing.assert_allclose(table.encoder.class_frequencies_, [expected[level] for level in label.levels_])
    assert table.encoder.numeric_[0].has_missing_  # from the exact counts, not the sample
    assert table.encoder.numeric_[0].min_ == df["x"].min() and table.encoder.numeric_[0].max_ == df["x"].max()


def test_protection_uses_exact_counts_not_the_sample(tmp_path):
    rng = np.random.default_rng(2)
    n = 2000
    df = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    df.loc[np.arange(7) * 250, "c"] = "seven"  # held by 7 rows: kept
    df.loc[[3, 1003], "c"] = "two"  # held by 2 rows: protected
    df.to_csv(tmp_path / "t.csv", index=False)
    table, _ = _streamed(tmp_path / "t.csv", rows=30, protect_rows=5, target=None)
    assert "seven" not in set(table.sample["c"])
    column = table.encoder.categorical_[0]
    assert "seven" in column.levels_ and "two" not in column.levels_ and column.protected_as_ is not None


def test_a_streamed_fit_samples_the_tables_columns_and_dtypes(tmp_path):
    df = _table(300)
    df["n"] = pd.array(np.where(np.arange(300) % 7 == 0, None, np.arange(300) % 13), dtype="Int64")
    df.to_parquet(tmp_path / "t.parquet")
    syn = td.Synthesizer(seed=0, steps=20, verbose=False, min_proximity=0)
    syn.fit(tmp_path / "t.parquet", target="y", streaming=True, max_memory_rows=100)
    assert syn.streamed_["rows"] == 300 and syn.streamed_["sample_rows"] == 100
    fake = syn.sample(50, seed=0)
    real = read_table(tmp_path / "t.parquet")
    assert list(fake.columns) == list(real.columns)
    assert dict(fake.dtypes) == dict(real.dtypes)
    assert {c.name for c in syn.encoder_.numeric_ if c.has_missing_} == {"f", "n"}
    assert set(fake["c"].dropna()) <= set(real["c"].dropna())


def test_csv_streams_as_read_table_reads_it_codes_and_dates_included(tmp_path):
    rng = np.random.default_rng(3)
    n = 200
    pd.DataFrame({"zip": [f"{v:05d}" for v in rng.integers(0, 3000, n)], "x": rng.normal(size=n),
                  "k": rng.choice(["p", "q", None], n),
                  "day": pd.to_datetime("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
                  "at": pd.to_datetime("2021-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
                  }).to_csv(tmp_path / "t.csv", index=False)
    table, arrays = _streamed(tmp_path / "t.csv", rows=n, target=None)
    real = read_table(tmp_path / "t.csv")
    assert dict(table.sample.dtypes) == dict(real.dtypes)
    assert table.sample["zip"].str.startswith("0").any()
    pd.testing.assert_frame_equal(table.sample, real)
    assert arrays.x_num.shape == (n, 3)


def test_the_work_directory_is_removed_after_the_fit_and_after_an_error(tmp_path):
    _table(200).to_parquet(tmp_path / "t.parquet")
    work = tmp_path / "work"
    work.mkdir()
    seen = []

    def look(step):
        seen.extend(p.name for p in work.rglob("*.npy"))

    td.Synthesizer(seed=0, steps=3, verbose=False, min_proximity=0).fit(
        tmp_path / "t.parquet", streaming=True, work_dir=work, callback=look)
    assert "x_num.npy" in seen and not any(work.iterdir())

    def fail(step):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        td.Synthesizer(seed=0, steps=3, verbose=False, min_proximity=0).fit(
            tmp_path / "t.parquet", streaming=True, work_dir=work, callback=fail)
    assert not any(work.iterdir())


def test_memmap_loss_is_the_table_loss_on_the_same_rows():
    rng = np.random.default_rng(4)
    x_num, x_cat = rng.normal(size=(64, 3)).astype(np.float32), rng.integers(0, 3, (64, 2))
    process = MixedDiffusion(3, [3, 3], 50, torch.device("cpu"))
    model = MLPDenoiser(process.input_width, [16], 0, 8, 0.0, n_numeric=3)
    rows = torch.tensor([3, 7, 20, 41, 63])  # sorted: the order memmap_loss gathers in
    expected = table_loss(process, torch.from_numpy(x_num), torch.from_numpy(x_cat), None)(
        model, rows, torch.Generator().manual_seed(0))
    got = memmap_loss(process, Encoded(x_num, x_cat, None), torch.device("cpu"))(
        model, rows[torch.randperm(5, generator=torch.Generator().manual_seed(1))], torch.Generator().manual_seed(0))
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b)


def test_the_reservoir_is_seeded_uniform_and_in_table_order():
    frame = pd.DataFrame({"row": np.arange(5000)})
    samples = []
    for seed in (0, 0, 1):
        reservoir = Reservoir(300, np.random.default_rng(seed))
        for start in range(0, 5000, 333):
            reservoir.add(frame.iloc[start:start + 333])
        samples.append(reservoir.sample()["row"].to_numpy())
    assert len(samples[0]) == 300 and len(set(samples[0])) == 300
    assert np.all(np.diff(samples[0]) > 0)
    np.testing.assert_array_equal(samples[0], samples[1])
    assert not np.array_equal(samples[0], samples[2])
    assert 0.4 < np.mean(samples[0] < 2500) < 0.6  # both halves of the stream are sampled


def test_large_paths_stream_by_default_and_small_folders_are_read_whole(tmp_path, monkeypatch):
    folder = _folder(_table(60), tmp_path / "table", parts=2)
    assert not streaming.wants_streaming(folder / "part-0.parquet", None)
    assert streaming.wants_streaming(folder, True)
    monkeypatch.setattr(streaming, "STREAMING_BYTES", 10)
    assert streaming.wants_streaming(folder / "part-0.parquet", None)
    assert not streaming.wants_streaming(folder / "part-0.parquet", False)
    with streaming.fit_input(folder, False, None, None) as table:
        assert isinstance(table, pd.DataFrame) and len(table) == 60


@pytest.mark.parametrize("call, fragment", [
    (lambda p: td.Synthesizer().fit(p / "missing.parquet", streaming=True), "No such file or folder"),
    (lambda p: td.Synthesizer().fit(p / "empty", streaming=True), "holds no .parquet files"),
    (lambda p: td.Synthesizer().fit(p / "notes.txt", streaming=True), "must end in .csv or .parquet"),
    (lambda p: td.Synthesizer().fit(p / "broken.parquet", streaming=True), "as Parquet"),
    (lambda p: td.Synthesizer().fit(p / "t.parquet", streaming=True, max_memory_rows=0), "max_memory_rows"),
    (lambda p: td.Synthesizer().fit(p / "t.parquet", streaming=True, work_dir=p / "nowhere"), "work_dir"),
    (lambda p: td.Synthesizer(dp_epsilon=1.0).fit(p / "t.parquet", streaming=True), "dp_epsilon"),
    (lambda p: td.Synthesizer().fit(p / "t.parquet", streaming="yes"), "streaming must be"),
    (lambda p: td.Synthesizer().fit(p / "none.parquet", streaming=True), "has no rows"),
])
def test_bad_paths_and_settings_give_one_line_errors(tmp_path, call, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    _table(30).to_parquet(tmp_path / "t.parquet")
    _table(30).iloc[:0].to_parquet(tmp_path / "none.parquet")
    with pytest.raises((ParameterError, td.SchemaError)) as error:
        call(tmp_path)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_the_cli_fits_a_parquet_folder_in_a_stream(tmp_path):
    from typer.testing import CliRunner

    from tabdiffusion.cli import app

    folder = _folder(_table(240), tmp_path / "table")
    work = tmp_path / "work"
    work.mkdir()
    result = CliRunner().invoke(app, ["fit", str(folder), "--out", str(tmp_path / "m.tdm"), "--target", "y",
                                      "--streaming", "--max-memory-rows", "100", "--work-dir", str(work), "--steps", "3",
                                      "--min-proximity", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    assert list(td.Synthesizer.load(tmp_path / "m.tdm").sample(5, seed=0).columns) == list(_table(1).columns)
    assert not any(work.iterdir())
    bad = CliRunner().invoke(app, ["fit", str(tmp_path / "nowhere"), "--out", str(tmp_path / "n.tdm"), "--streaming"])
    assert bad.exit_code == 1 and "No such file or folder" in bad.output


def test_kinds_the_sample_cannot_show_come_from_the_exact_statistics(tmp_path):
    rng = np.random.default_rng(5)
    n = 1000
    df = pd.DataFrame({"row": rng.permutation(np.arange(1, n + 1)), "x": rng.normal(size=n),
                       "flag": np.where(np.arange(n) == 700, "on", "off")})
    df.to_parquet(tmp_path / "t.parquet")
    table, _ = _streamed(tmp_path / "t.parquet", rows=50, target=None)
    assert set(table.sample["flag"]) == {"off"}  # constant in the sample
    kinds = {c.name: c.kind for c in table.schema.columns}
    assert kinds == {"row": "id", "x": "numeric", "flag": "categorical"}
    assert infer_schema(df)["row"].kind == "id" and infer_schema(table.sample)["row"].kind == "integer"
    assert table.encoder.categorical_[0].levels_ == ["off", "on"]


def test_the_scale_benchmark_writes_its_table_batch_by_batch(tmp_path, monkeypatch):
    from benchmarks import scale_fit

    monkeypatch.setattr(scale_fit, "WRITE_ROWS", 100)
    scale_fit.write_table(tmp_path / "t.parquet", 250, seed=0)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_row_groups == 3
    table = read_table(tmp_path / "t.parquet")
    assert table.shape == (250, 20)
    assert (table["cat_rare"] == "rare").sum() == len(scale_fit.RARE_ROWS)
    assert table[["num3", "num7"]].isna().any().all() and not table["num0"].isna().any()
    assert pd.api.types.is_datetime64_any_dtype(table["date"]) and set(table["label"]) == {"yes", "no"}


def test_a_streamed_fit_interrupted_and_resumed_ends_with_the_model_of_one_that_ran_through(tmp_path):
    class Interrupt(Exception):
        pass

    def interrupt(step):
        if step.step == 5:
            raise Interrupt

    _table(300).to_parquet(tmp_path / "t.parquet")
    settings = dict(seed=0, steps=8, verbose=False, min_proximity=0, calibrate=False, device="cpu")
    streamed = dict(streaming=True, max_memory_rows=100)
    through = td.Synthesizer(**settings).fit(tmp_path / "t.parquet", target="y", **streamed)
    with pytest.raises(Interrupt):
        td.Synthesizer(**settings).fit(tmp_path / "t.parquet", target="y", checkpoint_dir=tmp_path / "ckpt",
                                       checkpoint_every=4, callback=interrupt, **streamed)
    resumed = td.Synthesizer(**settings).fit(tmp_path / "t.parquet", target="y", checkpoint_dir=tmp_path / "ckpt",
                                             checkpoint_every=4, resume=True, **streamed)
    for name, weight in through.model_.state_dict().items():
        assert torch.equal(weight, resumed.model_.state_dict()[name]), name
    assert through.history_.loss_numeric == resumed.history_.loss_numeric
