"""End to end through the command line: fit and sample a small mixed table with missing values."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from tabdiffusion import Synthesizer
from tabdiffusion.cli import app
from tabdiffusion.tables import read_table, write_chunks, write_table
from conftest import make_coded_table, make_mixed_table, make_related_table

runner = CliRunner()


def test_fit_then_sample_through_the_cli(tmp_path):
    table = make_mixed_table()
    table.to_csv(tmp_path / "train.csv", index=False)
    result = runner.invoke(app, ["fit", str(tmp_path / "train.csv"), "--target", "label", "--out", str(tmp_path / "m.tdm"),
                                 "--steps", "150", "--seed", "1", "--quiet"])  # enough steps to learn the 25% missing rate
    assert result.exit_code == 0, result.output
    assert "model written to" in result.output and "not modelled" not in result.output  # no derived column here
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"fake.{suffix}"
        result = runner.invoke(app, ["sample", str(tmp_path / "m.tdm"), "--rows", "120", "--out", str(out), "--seed", "2"])
        assert result.exit_code == 0, result.output
        fake = read_table(out)
        assert list(fake.columns) == list(table.columns) and len(fake) == 120
        assert fake["income"].isna().any() and set(fake["city"].dropna()) <= set(table["city"].dropna())
    assert read_table(tmp_path / "fake.csv").dtypes.to_dict() == read_table(tmp_path / "train.csv").dtypes.to_dict()
    # Same seed, same rows.
    runner.invoke(app, ["sample", str(tmp_path / "m.tdm"), "--rows", "120", "--out", str(tmp_path / "again.csv"), "--seed", "2"])
    pd.testing.assert_frame_equal(read_table(tmp_path / "again.csv"), read_table(tmp_path / "fake.csv"))
    # Written chunk by chunk: the same file as the library's chunks put together, in both formats.
    model = Synthesizer.load(tmp_path / "m.tdm")
    expected = pd.concat(list(model.sample_chunks(120, seed=2, chunk_rows=50)), ignore_index=True)
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"chunked.{suffix}"
        result = runner.invoke(app, ["sample", str(tmp_path / "m.tdm"), "--rows", "120", "--out", str(out), "--seed", "2", "--chunk-rows", "50"])
        assert result.exit_code == 0 and "Wrote 120 rows" in result.output, result.output
        write_table(expected, tmp_path / f"expected.{suffix}")
        pd.testing.assert_frame_equal(read_table(out), read_table(tmp_path / f"expected.{suffix}"))


def test_parquet_chunks_take_a_text_column_that_is_missing_in_the_whole_first_chunk(tmp_path):
    # The file's schema comes from the first chunk; a text column with no value there must not be typed null.
    first = pd.DataFrame({"city": pd.Series([None, None], dtype=object), "income": [1.0, None]})
    second = pd.DataFrame({"city": pd.Series(["Oslo", None], dtype=object), "income": [2.0, 3.0]})
    path, rows = write_chunks(iter([first, second]), tmp_path / "t.parquet")
    back = read_table(path)
    assert rows == 4 and back["city"].tolist()[2] == "Oslo" and back["city"].isna().tolist() == [True, True, False, True]
    assert back["income"].fillna(-1.0).tolist() == [1.0, -1.0, 2.0, 3.0]
    # An object column of booleans missing in the first chunks takes its type from the first chunk with values.
    flags = [pd.DataFrame({"flag": pd.Series([None, None], dtype=object)})] * 2 + [pd.DataFrame({"flag": pd.Series([True, None], dtype=object)})]
    path, rows = write_chunks(iter(flags), tmp_path / "flags.parquet")
    back = read_table(path)["flag"]
    assert rows == 6 and back.tolist()[4] is True and back.isna().sum() == 5


def test_fit_names_the_columns_it_reads_off_a_categorical_column_or_computes_from_others(tmp_path):
    make_coded_table().to_csv(tmp_path / "coded.csv", index=False)
    result = runner.invoke(app, ["fit", str(tmp_path / "coded.csv"), "--out", str(tmp_path / "c.tdm"), "--steps", "5", "-q"])
    assert result.exit_code == 0, result.output
    assert "Read off a categorical column, not modelled: degree_num (from degree)" in result.output
    make_related_table().to_csv(tmp_path / "related.csv", index=False)
    result = runner.invoke(app, ["fit", str(tmp_path / "related.csv"), "--out", str(tmp_path / "r.tdm"), "--steps", "5",
                                 "--compute-columns", "-q"])
    assert result.exit_code == 0, result.output
    assert ("Computed from other numeric columns, not modelled: living = 1 * above + 1 * basement; "
            "salary = 1 * salary_copy; speed = sqrt(1 * vx^2 + 1 * vy^2 + 1 * vz^2)") in result.output


def test_cli_errors_are_one_line_messages(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,x\n2,y\n")
    result = runner.invoke(app, ["fit", str(tmp_path / "t.csv"), "--target", "nope", "--out", str(tmp_path / "m.tdm")])
    assert result.exit_code == 1
    assert "target='nope' is not a column" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["sample", str(tmp_path / "missing.tdm"), "--rows", "5", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "No model file" in result.output
    result = runner.invoke(app, ["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "m.tdm"), "--column-type", "a"])
    assert result.exit_code != 0 and "COLUMN=KIND" in result.output


def test_demo_writes_tables_and_model(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--time-budget", "2"])
    assert result.exit_code == 0, result.output
    real, fake = read_table(tmp_path / "penguins_train.csv"), read_table(tmp_path / "penguins_synthetic.csv")
    assert list(fake.columns) == list(real.columns) and len(fake) == len(real)
    assert (tmp_path / "penguins.tdm").exists() and "tabdiffusion sample" in result.output
    assert "<img" in (tmp_path / "report.html").read_text() and "privacy" in result.output


def test_report_from_a_synthetic_file_and_from_a_model(tmp_path):
    table = make_mixed_table(200)
    train, holdout = table.iloc[:150], table.iloc[150:]
    for name, frame in (("train", train), ("holdout", holdout)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    runner.invoke(app, ["fit", str(tmp_path / "train.csv"), "--target", "label", "--out", str(tmp_path / "m.tdm"), "--steps", "30", "-q"])
    result = runner.invoke(app, ["report", "--real", str(tmp_path / "train.csv"), "--model", str(tmp_path / "m.tdm"),
                                 "--holdout", str(tmp_path / "holdout.csv"), "--target", "label",
                                 "--out", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json"), "-q"])
    assert result.exit_code == 0, result.output
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    # --model samples as many rows as --real by default, and the holdout makes the privacy group run
    assert report["details"]["rows"] == {"real": 150, "synthetic": 150, "holdout": 50}, report["details"]["rows"]
    assert "privacy.dcr_share" in report["scores"] and "fidelity.column_shapes" in report["scores"]
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    result = runner.invoke(app, ["report", "--real", str(tmp_path / "train.csv"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code != 0 and "exactly one of --synthetic (a table) or --model" in result.output


def test_an_unwritable_output_fails_before_the_fit(tmp_path, monkeypatch):
    from tabdiffusion import synthesizer

    (tmp_path / "t.csv").write_text("a,b\n1,x\n2,y\n3,x\n")
    (tmp_path / "file").write_text("")
    fits = []
    monkeypatch.setattr(synthesizer.Synthesizer, "fit", lambda self, *args, **kwargs: fits.append(1))
    result = runner.invoke(app, ["fit", str(tmp_path / "t.csv"), "--out", str(tmp_path / "file" / "m.tdm")])
    assert result.exit_code == 1 and "Cannot write" in result.output and "Traceback" not in result.output
    assert fits == []  # nothing was trained
    result = runner.invoke(app, ["report", "--real", str(tmp_path / "t.csv"), "--synthetic", str(tmp_path / "t.csv"),
                                 "--out", str(tmp_path)])
    assert result.exit_code == 1 and "it is a folder" in result.output


def test_a_failing_chunk_source_leaves_no_file_and_keeps_its_error(tmp_path):
    def chunks():
        yield pd.DataFrame({"flag": pd.Series([None, None], dtype=object)})  # held back: no type yet
        raise RuntimeError("sampler failed")

    with pytest.raises(RuntimeError, match="sampler failed"):
        write_chunks(chunks(), tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


def test_fit_passes_the_memorisation_stop_on(tmp_path):
    make_coded_table().to_csv(tmp_path / "coded.csv", index=False)
    for value, checks in (("0", 0), ("0.5", 5)):
        result = runner.invoke(app, ["fit", str(tmp_path / "coded.csv"), "--out", str(tmp_path / "c.tdm"), "--steps", "5",
                                     "--min-proximity", value, "-q"])
        assert result.exit_code == 0, result.output
        model = Synthesizer.load(tmp_path / "c.tdm")
        assert model.config_.min_proximity == float(value) and len(model.history_.checks) == checks
